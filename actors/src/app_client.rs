//! Logging in to the app like a human would: the auth API's login, then the
//! persona's personal space as the place to act in.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

/// A logged-in persona.
#[derive(Clone)]
pub struct Session {
    pub user_id: String,
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub space_id: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .field("space_id", &self.space_id)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether the token is still good for at least `margin`.
    pub fn valid_for(&self, margin: Duration, now: DateTime<Utc>) -> bool {
        chrono::TimeDelta::from_std(margin).is_ok_and(|margin| self.expires_at - margin > now)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("the app refused the login of {email} (HTTP {status}): {message}")]
    Refused {
        email: String,
        status: u16,
        message: String,
    },
    #[error("{email} has no personal space; every account gets one at signup")]
    NoPersonalSpace { email: String },
    #[error("the app at {url} could not be reached: {message}")]
    Unreachable { url: String, message: String },
    #[error("the app answered something unreadable: {0}")]
    Malformed(String),
}

#[derive(Clone)]
pub struct AppClient {
    api_url: String,
    http: reqwest::Client,
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

impl AppClient {
    pub fn new(api_url: &str) -> Result<AppClient, LoginError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|error| LoginError::Malformed(error.to_string()))?;
        Ok(AppClient {
            api_url: api_url.trim_end_matches('/').to_owned(),
            http,
        })
    }

    pub fn api_url(&self) -> &str {
        &self.api_url
    }

    /// Logs in and resolves the personal space (the write target).
    pub async fn login(&self, email: &str, password: &str) -> Result<Session, LoginError> {
        let url = format!("{}/api/v1/auth/login", self.api_url);
        let unreachable = |error: reqwest::Error| LoginError::Unreachable {
            url: url.clone(),
            message: error.to_string(),
        };
        let response = self
            .http
            .post(&url)
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        if !status.is_success() {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            return Err(LoginError::Refused {
                email: email.to_owned(),
                status: status.as_u16(),
                message: body["error"]
                    .as_str()
                    .unwrap_or("no reason given")
                    .to_owned(),
            });
        }
        let login: LoginAnswer = response
            .json()
            .await
            .map_err(|error| LoginError::Malformed(error.to_string()))?;
        let spaces: SpacesAnswer = self
            .http
            .get(format!("{}/api/v1/spaces", self.api_url))
            .bearer_auth(&login.token)
            .send()
            .await
            .map_err(|error| LoginError::Unreachable {
                url: self.api_url.clone(),
                message: error.to_string(),
            })?
            .json()
            .await
            .map_err(|error| LoginError::Malformed(error.to_string()))?;
        let space_id = spaces
            .spaces
            .into_iter()
            .find(|space| space.space_type == "personal")
            .map(|space| space.id)
            .ok_or_else(|| LoginError::NoPersonalSpace {
                email: email.to_owned(),
            })?;
        Ok(Session {
            user_id: login.user.id,
            token: login.token,
            expires_at: login.expires_at,
            space_id,
        })
    }
}
