//! Where a tick's rows go: the `Sink` trait, written to by the persistence
//! actor. The runner provides one over the gateway's store (direct SQL);
//! [`crate::internal_api::InternalApi`] writes through the app's internal API.
//!
//! Writes must be idempotent (deterministic row ids, `ON CONFLICT DO
//! NOTHING`): the persistence actor re-sends a batch whose outcome it did
//! not learn.

use async_trait::async_trait;
use catalog::{ActionRow, FeedbackRow};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// Worth retrying: the sink is down or overloaded.
    #[error("the sink is unavailable: {0}")]
    Unavailable(String),
    /// Retrying cannot help (an unknown persona, a rejected row).
    #[error("the sink rejected the batch: {0}")]
    Rejected(String),
}

#[async_trait]
pub trait Sink: Send + Sync + 'static {
    async fn write_actions(&self, persona_id: &str, rows: &[ActionRow]) -> Result<(), SinkError>;
    async fn write_feedback(&self, persona_id: &str, rows: &[FeedbackRow])
    -> Result<(), SinkError>;
}
