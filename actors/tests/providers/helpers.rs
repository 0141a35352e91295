//! What the providers suite's tests share beyond the fake servers of
//! `actors::testing` and the captures of `fixture`: polling a condition
//! until a deadline ([`eventually`]), never a fixed sleep.

use std::time::Duration;

/// Polls `condition` every 5 ms until it holds, failing after `limit`.
///
/// The deadline is on Tokio's clock, so under a paused clock `limit` is
/// virtual time and the wait cannot spin for ever.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
