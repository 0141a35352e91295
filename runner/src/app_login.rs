//! [`ManaLogin`]: logging a persona in to the app like a human would — the
//! auth API's `POST /api/v1/auth/login` with the derived password, then
//! `GET /api/v1/spaces` for the persona's personal space as the place to act
//! in.
//!
//! This is the one place that knows these routes; the runtime only sees
//! `actors::app_client::AppLogin`. An app that authenticates differently gets
//! another implementation of that trait, not a branch here.

use std::time::Duration;

use actors::app_client::{AppLogin, LoginError, Session};
use async_trait::async_trait;
use catalog::SpaceType;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The app's own email-and-password login, as a persona's browser would do
/// it. Cheap to clone; clones share one pooled HTTP client.
#[derive(Clone)]
pub struct ManaLogin {
    api_url: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for ManaLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManaLogin")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct LoginRequest<'a> {
    email: &'a str,
    password: &'a str,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LoginAnswer {
    token: String,
    expires_at: DateTime<Utc>,
    user: LoginUser,
}

#[derive(Deserialize)]
struct LoginUser {
    id: String,
}

#[derive(Deserialize)]
struct SpacesAnswer {
    spaces: Vec<SpaceEntry>,
}

#[derive(Deserialize)]
struct SpaceEntry {
    id: String,
    #[serde(rename = "type")]
    space_type: String,
}

/// The app's error body, `{"error", "code"}`.
#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

impl ManaLogin {
    /// A login against the app at `api_url` (its base URL, without
    /// `/api/v1`). Fails only if no HTTP client can be built (no TLS backend).
    pub fn new(api_url: &str) -> Result<ManaLogin, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(ManaLogin {
            api_url: api_url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    /// Sends `request` and reads a successful answer as `T`; a refusal is
    /// [`LoginError::Refused`] with the app's reason.
    async fn exchange<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        email: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, LoginError> {
        let response = request
            .send()
            .await
            .map_err(|error| LoginError::Unreachable {
                url: url.to_owned(),
                message: error.to_string(),
            })?;
        let status = response.status();
        if !status.is_success() {
            // The reason only explains the refusal; an unreadable one still
            // leaves the status to decide by.
            let text = response.text().await.unwrap_or_default();
            let message = match serde_json::from_str::<ErrorAnswer>(&text) {
                Ok(answer) => answer.error,
                Err(_) if text.trim().is_empty() => "no reason given".to_owned(),
                Err(_) => text,
            };
            return Err(LoginError::Refused {
                email: email.to_owned(),
                status: status.as_u16(),
                message,
            });
        }
        response
            .json()
            .await
            .map_err(|error| LoginError::Malformed(format!("{url}: {error}")))
    }
}

#[async_trait]
impl AppLogin for ManaLogin {
    /// Logs in and resolves the personal space (the write target).
    async fn login(&self, email: &str, password: &str) -> Result<Session, LoginError> {
        let url = format!("{}/api/v1/auth/login", self.api_url);
        let login: LoginAnswer = self
            .exchange(
                &url,
                email,
                self.http.post(&url).json(&LoginRequest { email, password }),
            )
            .await?;
        let url = format!("{}/api/v1/spaces", self.api_url);
        let spaces: SpacesAnswer = self
            .exchange(&url, email, self.http.get(&url).bearer_auth(&login.token))
            .await?;
        let space_id = spaces
            .spaces
            .into_iter()
            .find(|space| space.space_type == SpaceType::Personal.as_str())
            .map(|space| space.id)
            .ok_or_else(|| LoginError::NoSpace {
                email: email.to_owned(),
                reason: "the app lists no personal space, and every account gets one at signup"
                    .to_owned(),
            })?;
        Ok(Session {
            user_id: login.user.id,
            token: login.token,
            expires_at: login.expires_at,
            space_id,
        })
    }
}
