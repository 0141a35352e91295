//! [`ManaLogin`] (`auth.kind = "login"`): logging a persona in to the app
//! like a human would — the auth API's `POST /api/v1/auth/login` with the
//! derived password, then `GET /api/v1/spaces` for the persona's personal
//! space as the place to act in (a target file's `[auth]` can name other
//! routes and space type; `catalog::target::LoginRoutes` names them).

use std::time::Duration;

use actors::app_client::{AppLogin, Credentials, LoginError, Session};
use async_trait::async_trait;
use catalog::target::LoginRoutes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The app's own email-and-password login, as a persona's browser would do
/// it. Cheap to clone; clones share one pooled HTTP client.
#[derive(Clone)]
pub struct ManaLogin {
    routes: LoginRoutes,
    http: reqwest::Client,
}

impl std::fmt::Debug for ManaLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManaLogin")
            .field("url", &self.routes.url)
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

/// How often a login the app is too busy for (503) is tried in all.
const BUSY_ATTEMPTS: u32 = 6;
/// The longest wait between two of them, whatever `retry-after` says.
const LONGEST_BUSY_WAIT: Duration = Duration::from_secs(10);

/// The app's error body, `{"error", "code"}`.
#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
}

impl ManaLogin {
    /// A login against the built-in app at `api_url` (its base URL,
    /// without `/api/v1`). Fails only if no HTTP client can be built (no
    /// TLS backend).
    pub fn new(api_url: &str) -> Result<ManaLogin, reqwest::Error> {
        ManaLogin::with_routes(&LoginRoutes::builtin(api_url))
    }

    /// A login through the routes a target file names.
    pub fn with_routes(routes: &LoginRoutes) -> Result<ManaLogin, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(ManaLogin {
            routes: routes.clone(),
            http,
        })
    }

    /// Logs `email` in: the app's own login knows personas by email only.
    pub async fn log_in(&self, email: &str, password: &str) -> Result<Session, LoginError> {
        self.login(Credentials {
            persona_id: email,
            email,
            password,
        })
        .await
    }

    /// Logs in, waiting as the app asks while it is too busy (503: its
    /// password hashing queue is full — a fleet logging in at once meets
    /// that), up to [`BUSY_ATTEMPTS`] times; the tick's timeout bounds it.
    async fn post_login(&self, email: &str, password: &str) -> Result<LoginAnswer, LoginError> {
        let url = format!("{}{}", self.routes.url, self.routes.login_path);
        for _ in 1..BUSY_ATTEMPTS {
            let request = self.http.post(&url).json(&LoginRequest { email, password });
            match self.exchange(&url, email, request).await {
                Err(Busy(wait)) => tokio::time::sleep(wait.min(LONGEST_BUSY_WAIT)).await,
                Ok(answer) => return Ok(answer),
                Err(Failed(error)) => return Err(error),
            }
        }
        let request = self.http.post(&url).json(&LoginRequest { email, password });
        match self.exchange(&url, email, request).await {
            Ok(answer) => Ok(answer),
            Err(Failed(error)) => Err(error),
            Err(Busy(_)) => Err(LoginError::Busy {
                email: email.to_owned(),
                attempts: BUSY_ATTEMPTS,
            }),
        }
    }

    /// Sends `request` and reads a successful answer as `T`; a refusal is
    /// [`LoginError::Refused`] with the app's reason, a 503 how long the app
    /// asked to wait.
    async fn exchange<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        email: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<T, Exchange> {
        let response = request
            .send()
            .await
            .map_err(|error| LoginError::Unreachable {
                url: url.to_owned(),
                message: error.to_string(),
            })?;
        let status = response.status();
        if status == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok())
                .map_or(Duration::from_secs(1), Duration::from_secs);
            return Err(Busy(wait));
        }
        if !status.is_success() {
            // The reason only explains the refusal; an unreadable one still
            // leaves the status to decide by.
            let text = response.text().await.unwrap_or_default();
            let message = match serde_json::from_str::<ErrorAnswer>(&text) {
                Ok(answer) => answer.error,
                Err(_) if text.trim().is_empty() => "no reason given".to_owned(),
                Err(_) => text,
            };
            return Err(Failed(LoginError::Refused {
                email: email.to_owned(),
                status: status.as_u16(),
                message,
            }));
        }
        response
            .json()
            .await
            .map_err(|error| Failed(LoginError::Malformed(format!("{url}: {error}"))))
    }
}

/// How one exchange with the app failed.
enum Exchange {
    /// 503: worth another try after this long.
    Busy(Duration),
    Failed(LoginError),
}

use Exchange::{Busy, Failed};

impl From<LoginError> for Exchange {
    fn from(error: LoginError) -> Exchange {
        Failed(error)
    }
}

#[async_trait]
impl AppLogin for ManaLogin {
    /// Logs in and resolves the personal space (the write target).
    async fn login(&self, who: Credentials<'_>) -> Result<Session, LoginError> {
        let email = who.email;
        let login = self.post_login(email, who.password).await?;
        let url = format!("{}{}", self.routes.url, self.routes.spaces_path);
        let spaces: SpacesAnswer = match self
            .exchange(&url, email, self.http.get(&url).bearer_auth(&login.token))
            .await
        {
            Ok(spaces) => spaces,
            Err(Failed(error)) => return Err(error),
            Err(Busy(_)) => {
                return Err(LoginError::Busy {
                    email: email.to_owned(),
                    attempts: 1,
                });
            }
        };
        let space_id = spaces
            .spaces
            .into_iter()
            .find(|space| space.space_type == self.routes.space_type)
            .map(|space| space.id)
            .ok_or_else(|| LoginError::NoSpace {
                email: email.to_owned(),
                reason: format!(
                    "the app lists no space of type {:?} (auth.space_type)",
                    self.routes.space_type
                ),
            })?;
        Ok(Session {
            user_id: login.user.id,
            token: login.token,
            expires_at: login.expires_at,
            space_id,
        })
    }
}
