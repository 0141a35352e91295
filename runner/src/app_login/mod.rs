//! How personas log in to the app under test, one implementation of
//! `actors::app_client::AppLogin` per `auth.kind` of the target file: the
//! app's own routes with the derived password ([`ManaLogin`]), a bearer
//! token per persona ([`BearerLogin`]), an OAuth 2.0 grant against the
//! target's token endpoint ([`OAuth2Login`]), or nothing ([`NoLogin`]).
//! The runtime only sees the trait; a new way to authenticate is a new
//! implementation here, not a branch in the runtime.

mod bearer;
mod mana;
mod oauth2;
mod secrets;

use std::sync::Arc;

use actors::app_client::{AppLogin, Credentials, LoginError, Session};
use async_trait::async_trait;
use catalog::target::{Auth, McpServer, Target};
use chrono::{DateTime, Utc};

pub use bearer::BearerLogin;
pub use mana::ManaLogin;
pub use oauth2::OAuth2Login;
pub use secrets::SecretsError;

/// A target without auth (`auth.kind = "none"`): no login, no token, no
/// space; the MCP server takes the persona's requests as they come.
#[derive(Debug, Clone, Copy)]
pub struct NoLogin;

#[async_trait]
impl AppLogin for NoLogin {
    async fn login(&self, who: Credentials<'_>) -> Result<Session, LoginError> {
        Ok(Session {
            user_id: who.persona_id.to_owned(),
            token: String::new(),
            // Nothing expires: the session is never renewed for its age.
            expires_at: DateTime::<Utc>::MAX_UTC,
            space_id: String::new(),
        })
    }
}

/// Why no login could be built for a target.
#[derive(Debug, thiserror::Error)]
pub enum LoginSetupError {
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Secrets(#[from] SecretsError),
    #[error("auth.kind = \"oauth2\" without auth.token_url needs mcp.url to discover it")]
    NoResource,
}

/// How personas of `target` log in. A secrets file is read here, once.
pub fn for_target(target: &Target) -> Result<Arc<dyn AppLogin>, LoginSetupError> {
    Ok(match &target.auth {
        Auth::Login(routes) => Arc::new(ManaLogin::with_routes(routes)?),
        Auth::None => Arc::new(NoLogin),
        Auth::Bearer(source) => Arc::new(BearerLogin::new(source)?),
        Auth::OAuth2(settings) => {
            let resource = match &target.mcp {
                McpServer::Http { url, .. } => url.clone(),
                McpServer::Stdio { .. } => return Err(LoginSetupError::NoResource),
            };
            Arc::new(OAuth2Login::new(settings, resource)?)
        }
    })
}
