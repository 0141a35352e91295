//! Where a tick's rows go: the `Sink` trait, written to by the persistence
//! actor. The runner provides one over the gateway's store (direct SQL);
//! [`HttpSink`] writes through the app's internal API with the service key.
//!
//! Writes must be idempotent (deterministic row ids, `ON CONFLICT DO
//! NOTHING`): the persistence actor re-sends a batch whose outcome it did
//! not learn.

use std::time::Duration;

use async_trait::async_trait;
use catalog::{ActionRow, FeedbackRow};
use serde_json::{Value, json};

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

/// The app's internal personas API (`X-Service-Key`).
pub struct HttpSink {
    api_url: String,
    service_key: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for HttpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSink")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl HttpSink {
    pub fn new(api_url: &str, service_key: String) -> Result<HttpSink, SinkError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|error| SinkError::Unavailable(error.to_string()))?;
        Ok(HttpSink {
            api_url: api_url.trim_end_matches('/').to_owned(),
            service_key,
            http,
        })
    }

    async fn post(&self, persona_id: &str, kind: &str, body: Value) -> Result<(), SinkError> {
        let url = format!(
            "{}/api/v1/personas/internal/{persona_id}/{kind}",
            self.api_url
        );
        let response = self
            .http
            .post(&url)
            .header("x-service-key", &self.service_key)
            .json(&body)
            .send()
            .await
            .map_err(|error| SinkError::Unavailable(error.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let message = response.text().await.unwrap_or_default();
        if status.as_u16() == 401 || status.as_u16() == 403 {
            // A wrong key is an operator's fix away; keep the rows queued
            // rather than dropping them as rejected.
            return Err(SinkError::Unavailable(format!(
                "HTTP {status}: the app refused the service key; check MANA_SERVICE_KEY ({message})"
            )));
        }
        if status.is_server_error() || status.as_u16() == 429 {
            Err(SinkError::Unavailable(format!("HTTP {status}: {message}")))
        } else {
            Err(SinkError::Rejected(format!("HTTP {status}: {message}")))
        }
    }
}

#[async_trait]
impl Sink for HttpSink {
    async fn write_actions(&self, persona_id: &str, rows: &[ActionRow]) -> Result<(), SinkError> {
        self.post(persona_id, "actions", json!({ "actions": rows }))
            .await
    }

    async fn write_feedback(
        &self,
        persona_id: &str,
        rows: &[FeedbackRow],
    ) -> Result<(), SinkError> {
        self.post(persona_id, "feedback", json!({ "feedback": rows }))
            .await
    }
}
