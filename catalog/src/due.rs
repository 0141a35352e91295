//! When a persona should tick: a pure function of its cadence, when it was last
//! active, whether it is paused, and the current time (all UTC).
//!
//! - `hourly`: never ran, or last active at least 1 h ago;
//! - `daily`: never ran, or at least 24 h ago;
//! - `weekdays`: as `daily`, and today (UTC) is Monday to Friday;
//! - a paused persona is never due.
//!
//! The store's due query implements the same rules in SQL; the contract tests
//! compare the two.

use std::cmp::Ordering;

use chrono::{DateTime, Datelike, TimeDelta, Utc, Weekday};

use crate::spec::Cadence;

/// The shortest time between two ticks of a persona with this cadence.
pub fn min_interval(cadence: Cadence) -> TimeDelta {
    match cadence {
        Cadence::Hourly => TimeDelta::hours(1),
        Cadence::Daily | Cadence::Weekdays => TimeDelta::hours(24),
    }
}

/// Whether the cadence allows a tick on the weekday of `now`.
pub fn runs_on(cadence: Cadence, now: DateTime<Utc>) -> bool {
    match cadence {
        Cadence::Hourly | Cadence::Daily => true,
        Cadence::Weekdays => !matches!(now.weekday(), Weekday::Sat | Weekday::Sun),
    }
}

pub fn is_due(
    cadence: Cadence,
    last_active_at: Option<DateTime<Utc>>,
    paused: bool,
    now: DateTime<Utc>,
) -> bool {
    if paused || !runs_on(cadence, now) {
        return false;
    }
    match last_active_at {
        None => true,
        Some(last) => now - last >= min_interval(cadence),
    }
}

/// The order due personas are served in: never-run first, then the one that
/// has waited longest.
pub fn due_order(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => a.cmp(&b),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// Friday 2026-11-20, 12:00 UTC.
    fn friday_noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, 12, 0, 0).unwrap()
    }

    #[test]
    fn never_ran_is_due_for_every_cadence() {
        for cadence in Cadence::ALL {
            assert!(is_due(cadence, None, false, friday_noon()), "{cadence}");
        }
    }

    #[test]
    fn paused_is_never_due() {
        for cadence in Cadence::ALL {
            assert!(!is_due(cadence, None, true, friday_noon()), "{cadence}");
            let long_ago = friday_noon() - TimeDelta::days(30);
            assert!(
                !is_due(cadence, Some(long_ago), true, friday_noon()),
                "{cadence}"
            );
        }
    }

    #[test]
    fn hourly_is_due_from_exactly_one_hour() {
        let now = friday_noon();
        let just_under = now - TimeDelta::hours(1) + TimeDelta::milliseconds(1);
        assert!(!is_due(Cadence::Hourly, Some(just_under), false, now));
        assert!(is_due(
            Cadence::Hourly,
            Some(now - TimeDelta::hours(1)),
            false,
            now
        ));
    }

    #[test]
    fn daily_is_due_from_exactly_24_hours() {
        let now = friday_noon();
        let just_under = now - TimeDelta::hours(24) + TimeDelta::milliseconds(1);
        assert!(!is_due(Cadence::Daily, Some(just_under), false, now));
        assert!(is_due(
            Cadence::Daily,
            Some(now - TimeDelta::hours(24)),
            false,
            now
        ));
    }

    #[test]
    fn weekdays_stops_at_friday_to_saturday_midnight() {
        let last = friday_noon() - TimeDelta::days(2);
        let friday_last_moment = Utc.with_ymd_and_hms(2026, 11, 20, 23, 59, 59).unwrap();
        let saturday_midnight = Utc.with_ymd_and_hms(2026, 11, 21, 0, 0, 0).unwrap();
        let sunday = Utc.with_ymd_and_hms(2026, 11, 22, 15, 0, 0).unwrap();
        let monday_midnight = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        assert!(is_due(
            Cadence::Weekdays,
            Some(last),
            false,
            friday_last_moment
        ));
        assert!(!is_due(
            Cadence::Weekdays,
            Some(last),
            false,
            saturday_midnight
        ));
        assert!(!is_due(Cadence::Weekdays, None, false, sunday));
        assert!(is_due(
            Cadence::Weekdays,
            Some(last),
            false,
            monday_midnight
        ));
        // Daily ignores the weekday.
        assert!(is_due(Cadence::Daily, Some(last), false, saturday_midnight));
    }

    #[test]
    fn weekdays_still_needs_24_hours() {
        let now = friday_noon();
        assert!(!is_due(
            Cadence::Weekdays,
            Some(now - TimeDelta::hours(23)),
            false,
            now
        ));
        assert!(is_due(
            Cadence::Weekdays,
            Some(now - TimeDelta::hours(24)),
            false,
            now
        ));
    }

    #[test]
    fn never_run_comes_first_then_oldest() {
        let now = friday_noon();
        let mut lasts = vec![
            Some(now - TimeDelta::hours(2)),
            None,
            Some(now - TimeDelta::hours(5)),
        ];
        lasts.sort_by(|a, b| due_order(*a, *b));
        assert_eq!(
            lasts,
            vec![
                None,
                Some(now - TimeDelta::hours(5)),
                Some(now - TimeDelta::hours(2))
            ]
        );
    }
}
