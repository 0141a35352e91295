//! `/api/v1/auth/*`, `/api/v1/spaces` and the vault key route.
//!
//! Neither route tells which emails have accounts. Login answers an unknown
//! email and a wrong password with the same 401, after the same argon2 work.
//! Register answers a new and a taken email with the same 202 and body,
//! after the same argon2 hash (a taken email creates nothing; its owner's
//! password still works, the caller's does not).
//!
//! Both are bounded: their argon2 work goes through `AppState::passwords`
//! (503 with `retry-after` when every slot is taken), and login checks the
//! throttle (`super::throttle`: 429 with `retry-after` for an account or a
//! client address with too many failures) before doing any work.
//! Emails and passwords are checked by `crate::credentials` (400 naming the
//! field); emails are kept lower-cased.

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
use super::throttle::ClientAddress;
use crate::accounts::{self, AccountError};
use crate::app::AppState;
use crate::credentials::{CredentialError, Email, MAX_EMAIL_LEN, MAX_PASSWORD_LEN};
use crate::http::{ApiError, ApiJson};
use crate::store::{Role, StoreError, User};

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

/// `POST /api/v1/auth/register`: 202 `{"status": "accepted", "email"}`
/// whether the email was free (the account now exists) or taken (nothing
/// changed).
pub async fn register(
    State(state): State<Arc<AppState>>,
    ApiJson(credentials): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let email =
        Email::parse(&credentials.email).map_err(|problem| field_error("email", problem))?;
    crate::credentials::check_new_password(&credentials.password)
        .map_err(|problem| field_error("password", problem))?;
    // IMPORTANT: hashed before anything else, for a taken email too, so the
    // answer takes the same time either way.
    let password_hash = state.passwords.hash(credentials.password).await?;
    match accounts::register_hashed(
        &state.store,
        &state.keyring,
        email.as_str(),
        password_hash,
        Role::User,
    )
    .await
    {
        Ok(_) => {}
        // The same answer as a new email: the caller learns nothing.
        Err(AccountError::Store(StoreError::Conflict(_))) => {}
        Err(other) => return Err(other.into()),
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "status": "accepted", "email": email.as_str() })),
    ))
}

pub async fn login(
    State(state): State<Arc<AppState>>,
    ClientAddress(address): ClientAddress,
    ApiJson(credentials): ApiJson<Credentials>,
) -> Result<Json<LoginResponse>, ApiError> {
    let email = credentials.email.trim().to_lowercase();
    // No account can have such an email or password: refused without work
    // (and without a throttle key of unbounded size).
    if email.chars().count() > MAX_EMAIL_LEN
        || credentials.password.chars().count() > MAX_PASSWORD_LEN
    {
        return Err(refused_login());
    }
    state
        .login_throttle
        .check(&email, address, tokio::time::Instant::now())
        .map_err(|retry_after| {
            metrics::counter!(crate::metrics::LOGINS_TOTAL, "outcome" => "throttled").increment(1);
            ApiError::TooManyAttempts { retry_after }
        })?;
    let user = state.store.user_by_email(&email).await?;
    // An unknown email still costs one argon2 verification.
    let stored_hash = user.as_ref().map_or_else(
        || state.dummy_password_hash.clone(),
        |user| user.password_hash.clone(),
    );
    let verified = state
        .passwords
        .verify(credentials.password, stored_hash)
        .await?;
    let Some(user) = user.filter(|_| verified) else {
        state
            .login_throttle
            .failed(&email, address, tokio::time::Instant::now());
        metrics::counter!(crate::metrics::LOGINS_TOTAL, "outcome" => "refused").increment(1);
        return Err(refused_login());
    };
    state.login_throttle.succeeded(&email);
    metrics::counter!(crate::metrics::LOGINS_TOTAL, "outcome" => "ok").increment(1);
    let (token, expires_at) = state.jwt.issue(&user).map_err(ApiError::internal)?;
    Ok(Json(LoginResponse {
        token,
        expires_at,
        user: UserView::from(&user),
    }))
}

fn refused_login() -> ApiError {
    ApiError::Unauthorized("invalid email or password".into())
}

/// A 400 naming the field: `email: must contain exactly one @`.
pub(crate) fn field_error(field: &str, problem: CredentialError) -> ApiError {
    ApiError::BadRequest(format!("{field}: {problem}"))
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
