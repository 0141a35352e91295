//! A persona's failure backoff: after a failed tick, the schedule waits 1,
//! then 2, 4, … minutes before trying it again, at most its cadence's
//! period; a tick that is not `failed` resets it. A persona whose tick
//! fails the same way every time (a wrong password, a dead endpoint) then
//! costs one attempt per backoff, not one per schedule pass. An operator's
//! "tick now" is not held back. The next attempt is stored as the persona's
//! next due time when its lease is given back, so every replica waits it
//! out. The time of the next attempt also travels with
//! the last tick's summary ([`TickSummary::next_attempt_at`]), so an idle
//! persona's state stays as small as before.
//!
//! [`TickSummary::next_attempt_at`]: super::TickSummary::next_attempt_at

use catalog::{Cadence, TickStatus};
use chrono::{DateTime, TimeDelta, Utc};

/// After a tick that ended at `finished` with `status`, following `failures`
/// failed ones in a row: the new count, and when the schedule may try again
/// (`None`: at once).
pub fn after_tick(
    failures: u32,
    status: TickStatus,
    cadence: Cadence,
    finished: DateTime<Utc>,
) -> (u32, Option<DateTime<Utc>>) {
    if status != TickStatus::Failed {
        return (0, None);
    }
    let failures = failures.saturating_add(1);
    let minutes = 1i64 << (failures - 1).min(20);
    let wait = TimeDelta::minutes(minutes).min(period(cadence));
    (failures, Some(finished + wait))
}

/// How often a persona of this cadence ticks at most.
fn period(cadence: Cadence) -> TimeDelta {
    match cadence {
        Cadence::Hourly => TimeDelta::hours(1),
        Cadence::Daily | Cadence::Weekdays => TimeDelta::days(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_double_the_wait_up_to_the_cadence_and_a_success_resets_it() {
        let start = "2026-11-30T10:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let mut failures = 0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let (count, next) = after_tick(failures, TickStatus::Failed, Cadence::Hourly, start);
            failures = count;
            waits.push((next.unwrap() - start).num_minutes());
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(
            after_tick(failures, TickStatus::Incomplete, Cadence::Hourly, start),
            (0, None)
        );
        let (_, next) = after_tick(u32::MAX, TickStatus::Failed, Cadence::Daily, start);
        assert_eq!(
            next,
            Some(start + TimeDelta::days(1)),
            "capped, no overflow"
        );
    }
}
