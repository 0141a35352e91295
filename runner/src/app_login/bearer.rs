//! [`BearerLogin`] (`auth.kind = "bearer"`): each persona's own token, from
//! the environment or a secrets file, sent as `Authorization: Bearer`. No
//! request is made to log in; a token the server refuses fails the tick
//! (and `persona run` at start), naming the setting.

use actors::app_client::{AppLogin, Credentials, LoginError, Session};
use async_trait::async_trait;
use catalog::target::SecretSource;
use chrono::{DateTime, Utc};

use super::secrets::{Secrets, SecretsError};

pub struct BearerLogin {
    tokens: Secrets,
}

impl BearerLogin {
    pub fn new(source: &SecretSource) -> Result<BearerLogin, SecretsError> {
        Ok(BearerLogin {
            tokens: Secrets::new(source)?,
        })
    }
}

#[async_trait]
impl AppLogin for BearerLogin {
    async fn login(&self, who: Credentials<'_>) -> Result<Session, LoginError> {
        Ok(Session {
            user_id: who.persona_id.to_owned(),
            token: self.tokens.get(who, "token")?,
            // Its lifetime is the issuer's business; a refused token fails
            // the session and gets one fresh read of the source.
            expires_at: DateTime::<Utc>::MAX_UTC,
            space_id: String::new(),
        })
    }
}
