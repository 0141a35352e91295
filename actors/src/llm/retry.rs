//! When and how long to wait before retrying an LLM request: exponential
//! backoff with full jitter, capped, and a server's `retry-after` honoured
//! when it asks for longer.

use std::time::Duration;

use rand::Rng as _;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt counts from 1).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let exponential = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let ceiling = exponential.min(self.max_delay);
        // Full jitter spreads a herd of personas that failed together.
        let jittered =
            Duration::from_millis(rand::rng().random_range(0..=ceiling.as_millis().max(1) as u64));
        match retry_after {
            Some(asked) => asked.min(self.max_delay).max(jittered),
            None => jittered,
        }
    }
}

/// Parses a `retry-after` header: seconds, or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (date.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_capped_and_honour_retry_after() {
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        };
        for _ in 0..50 {
            assert!(policy.delay(1, None) <= Duration::from_millis(100));
            assert!(policy.delay(10, None) <= Duration::from_secs(1));
            assert!(
                policy.delay(1, Some(Duration::from_millis(700))) >= Duration::from_millis(700)
            );
            assert_eq!(
                policy.delay(1, Some(Duration::from_secs(90))),
                Duration::from_secs(1)
            );
        }
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("soon"), None);
        let later = (chrono::Utc::now() + chrono::TimeDelta::seconds(30)).to_rfc2822();
        assert!(parse_retry_after(&later).is_some_and(|d| d > Duration::from_secs(25)));
    }
}
