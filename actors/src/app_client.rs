//! The app's login as the runtime sees it: [`AppLogin`], the [`Session`] it
//! yields and the [`LoginError`] it can fail with.
//!
//! `actors` knows no routes. How a persona logs in (which endpoints, which
//! space it picks) belongs to whoever builds the runtime: the runner's
//! `runner::app_login::ManaLogin` logs in like a human through the app's auth
//! API with the derived password. An app that authenticates differently gets
//! its own implementation rather than a branch in the runtime.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// How the runtime logs a persona in. Every persona actor shares one (it is
/// `RuntimeEnv::app`), and the runtime calls it whenever a persona needs a
/// fresh session, so an implementation holds no per-persona state.
///
/// Object-safe (`Arc<dyn AppLogin>`), so the runtime is not generic over the
/// kind of login.
#[async_trait]
pub trait AppLogin: Send + Sync + 'static {
    /// Logs the persona in (with its derived password, its own token, or
    /// an OAuth grant, as the implementation does) and picks the space it
    /// acts in. A refusal is an error, never a session that fails later.
    async fn login(&self, who: Credentials<'_>) -> Result<Session, LoginError>;
}

/// Who logs in: the persona's catalog id and email, and its derived
/// password (used only by a login through the app's own routes).
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    pub persona_id: &'a str,
    pub email: &'a str,
    pub password: &'a str,
}

impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("persona_id", &self.persona_id)
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

/// A logged-in persona: the bearer token its MCP requests carry and the
/// space they act in.
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

/// Why a login gave no [`Session`].
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The app answered, and said no (a wrong password, an unknown user).
    #[error("the app refused the login of {email} (HTTP {status}): {message}")]
    Refused {
        email: String,
        status: u16,
        message: String,
    },
    /// The app was too busy to check the password (HTTP 503, its password
    /// hashing queue full), also after waiting as it asked.
    #[error("the app was too busy to log {email} in (HTTP 503) after {attempts} attempts")]
    Busy { email: String, attempts: u32 },
    /// The login went through, but there is no space the persona may act in.
    #[error("{email} has no space to act in: {reason}")]
    NoSpace { email: String, reason: String },
    #[error("the app at {url} could not be reached: {message}")]
    Unreachable { url: String, message: String },
    #[error("the app answered something unreadable: {0}")]
    Malformed(String),
    /// The persona's secret (token, client secret, refresh token) is not
    /// where the target file says.
    #[error("no {what} for persona {persona}: {setting} — {reason}")]
    MissingSecret {
        persona: String,
        what: &'static str,
        /// The target file's setting, as an operator fixes it.
        setting: String,
        reason: String,
    },
    /// The token endpoint could not be found from the MCP server's metadata.
    #[error("finding the OAuth token endpoint failed: {0} (or set auth.token_url)")]
    Discovery(String),
}
