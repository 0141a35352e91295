//! Extractors that guard routes: `AuthUser` (a valid JWT of a user that
//! still exists), `AdminUser` (the same with role admin) and `ServiceKey`
//! (the internal `X-Service-Key`, compared in constant time).
//! [`authenticate`] is the one token check, also used by the MCP guard.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use catalog::internal_api::SERVICE_KEY_HEADER;
use subtle::ConstantTimeEq;

use super::Claims;
use crate::app::AppState;
use crate::http::ApiError;

/// The caller of a JWT-protected route.
#[derive(Debug, Clone)]
pub struct AuthUser(pub Claims);

impl FromRequestParts<Arc<AppState>> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        let token = bearer_token(parts)?;
        Ok(AuthUser(authenticate(state, token).await?))
    }
}

/// The claims of `token` if it verifies and its user still exists: a
/// deleted user's tokens are refused at once (see `live_users`), and its
/// remembered tokens and cached master key are dropped on the spot.
pub(crate) async fn authenticate(state: &AppState, token: &str) -> Result<Claims, ApiError> {
    let claims = state
        .jwt
        .verify(token)
        .map_err(|error| ApiError::Unauthorized(error.to_string()))?;
    if !state.live_users.is_live(&state.store, &claims.sub).await? {
        state.forget_user(&claims.sub);
        return Err(ApiError::Unauthorized(
            "this token's account no longer exists".into(),
        ));
    }
    Ok(claims)
}

pub(crate) fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError::Unauthorized("missing Authorization: Bearer <token> header".into())
        })?;
    header
        .to_str()
        .ok()
        // The scheme is case-insensitive (RFC 9110 §11.1): `bearer`, `BEARER`.
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .map(str::trim)
        .filter(|token| !token.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
        })
}

/// The caller of an admin route: a valid JWT whose role is admin.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Claims);

impl FromRequestParts<Arc<AppState>> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let AuthUser(claims) = AuthUser::from_request_parts(parts, state).await?;
        if claims.role != "admin" {
            return Err(ApiError::Forbidden(
                "this route needs an admin account".into(),
            ));
        }
        Ok(AdminUser(claims))
    }
}

/// A request carrying the right `X-Service-Key`.
#[derive(Debug, Clone, Copy)]
pub struct ServiceKey;

impl FromRequestParts<Arc<AppState>> for ServiceKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let given = parts
            .headers
            .get(SERVICE_KEY_HEADER)
            .ok_or_else(|| ApiError::Unauthorized("missing X-Service-Key header".into()))?;
        let expected = state.config.service_key.as_bytes();
        // IMPORTANT: constant-time, so response timing does not reveal how
        // much of a guessed key was right.
        if expected.is_empty() || !bool::from(given.as_bytes().ct_eq(expected)) {
            return Err(ApiError::Unauthorized("wrong X-Service-Key".into()));
        }
        Ok(ServiceKey)
    }
}
