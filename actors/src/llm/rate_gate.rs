//! Retries inside a provider take a rate slot too: whoever rate-limits a
//! request (the tick's LLM, through the dispatcher) runs the provider's
//! `complete` under [`RateGate::scope`], and the provider's retry loop asks
//! [`before_retry`] before each attempt after the first. A request sent
//! outside any scope (a test, a one-off) retries unlimited by this, as
//! before.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use super::LlmError;

/// Grants the next request its slot, waiting as long as the limit says.
#[async_trait]
pub trait RateGate: Send + Sync {
    async fn slot(&self) -> Result<(), LlmError>;
}

tokio::task_local! {
    static GATE: Arc<dyn RateGate>;
}

/// Runs `request` (a provider's `complete`) with `gate` for its retries.
pub async fn scope<F: Future>(gate: Arc<dyn RateGate>, request: F) -> F::Output {
    GATE.scope(gate, request).await
}

/// Waits for the slot of a retry; at once outside any [`scope`].
pub(crate) async fn before_retry() -> Result<(), LlmError> {
    match GATE.try_with(Arc::clone) {
        Ok(gate) => gate.slot().await,
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    struct Counting(AtomicU32);

    #[async_trait]
    impl RateGate for Counting {
        async fn slot(&self) -> Result<(), LlmError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_retry_asks_the_gate_of_its_scope_and_none_outside() {
        before_retry().await.unwrap();
        let gate = Arc::new(Counting(AtomicU32::new(0)));
        scope(gate.clone(), async {
            before_retry().await.unwrap();
            before_retry().await.unwrap();
        })
        .await;
        assert_eq!(gate.0.load(Ordering::SeqCst), 2);
    }
}
