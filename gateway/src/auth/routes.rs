//! `/api/v1/auth/*`, `/api/v1/spaces` and the vault key route.
//!
//! Login answers an unknown email and a wrong password with the same 401,
//! after the same argon2 work, so neither the message nor the timing tells
//! which emails have accounts.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use registry::store::{KeyError, MasterKeys};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::AuthUser;
use crate::accounts;
use crate::app::AppState;
use crate::http::{ApiError, ApiJson};
use crate::password::verify_password;
use crate::store::{Role, User};

/// Passwords shorter than this are refused at registration.
pub const MIN_PASSWORD_LEN: usize = 8;

#[derive(Debug, Deserialize)]
pub struct Credentials {
    email: String,
    password: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    id: String,
    email: String,
    kind: String,
}

impl From<&User> for UserView {
    fn from(user: &User) -> UserView {
        UserView {
            id: user.id.clone(),
            email: user.email.clone(),
            kind: user.kind.to_string(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginResponse {
    token: String,
    expires_at: DateTime<Utc>,
    user: UserView,
}

pub async fn register(
    State(state): State<Arc<AppState>>,
    ApiJson(credentials): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let email = credentials.email.trim();
    if !looks_like_email(email) {
        return Err(ApiError::BadRequest(format!(
            "{email:?} is not an email address"
        )));
    }
    if credentials.password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::BadRequest(format!(
            "the password must have at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let user = accounts::register(
        &state.store,
        &state.keyring,
        email,
        &credentials.password,
        Role::User,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "user": UserView::from(&user) })),
    ))
}

pub async fn login(
    State(state): State<Arc<AppState>>,
    ApiJson(credentials): ApiJson<Credentials>,
) -> Result<Json<LoginResponse>, ApiError> {
    let user = state.store.user_by_email(&credentials.email).await?;
    // An unknown email still costs one argon2 verification.
    let stored_hash = user.as_ref().map_or_else(
        || state.dummy_password_hash.clone(),
        |user| user.password_hash.clone(),
    );
    let verified = verify_password(credentials.password, stored_hash)
        .await
        .map_err(ApiError::internal)?;
    let Some(user) = user.filter(|_| verified) else {
        metrics::counter!(crate::metrics::LOGINS_TOTAL, "outcome" => "refused").increment(1);
        return Err(ApiError::Unauthorized("invalid email or password".into()));
    };
    metrics::counter!(crate::metrics::LOGINS_TOTAL, "outcome" => "ok").increment(1);
    let (token, expires_at) = state.jwt.issue(&user).map_err(ApiError::internal)?;
    Ok(Json(LoginResponse {
        token,
        expires_at,
        user: UserView::from(&user),
    }))
}

pub async fn jwks(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(state.jwt.jwks())
}

pub async fn spaces(
    State(state): State<Arc<AppState>>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Value>, ApiError> {
    let spaces = state.store.spaces_of(&claims.sub).await?;
    let spaces: Vec<Value> = spaces
        .into_iter()
        .map(|space| json!({ "id": space.id, "name": space.name, "type": space.space_type.as_str() }))
        .collect();
    Ok(Json(json!({ "spaces": spaces })))
}

pub async fn vault_key(
    State(state): State<Arc<AppState>>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Value>, ApiError> {
    match state.vault.master_key(&claims.sub).await {
        Ok(key) => Ok(Json(json!({ "masterKey": STANDARD.encode(key.bytes()) }))),
        Err(KeyError::ZeroKnowledgeUser) => Ok(Json(json!({ "zeroKnowledge": true }))),
        Err(KeyError::NoKey(_)) => Err(ApiError::NotFound("this account has no master key".into())),
        Err(error) => Err(ApiError::internal(error)),
    }
}

fn looks_like_email(email: &str) -> bool {
    email.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !email.contains(char::is_whitespace)
    })
}
