//! `ApiError`: every failure an HTTP route can return, with one place that
//! turns it into a status code and a `{"error": "...", "code": "..."}` body
//! (with `retry-after` on a 429 or 503).

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    /// Too many failed logins for this account or from this address.
    #[error("too many failed logins; try again in {} s", retry_after_secs(*.retry_after))]
    TooManyAttempts { retry_after: Duration },
    /// The server is at a bound it keeps (password checks at once).
    #[error("{message}; try again in {} s", retry_after_secs(*.retry_after))]
    Busy {
        message: &'static str,
        retry_after: Duration,
    },
    #[error("the server failed; the error was logged")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn internal(error: impl Into<anyhow::Error>) -> ApiError {
        ApiError::Internal(error.into())
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::TooManyAttempts { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts")
            }
            ApiError::Busy { .. } => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::TooManyAttempts { retry_after } | ApiError::Busy { retry_after, .. } => {
                Some(*retry_after)
            }
            _ => None,
        }
    }
}

/// Whole seconds, rounded up and at least 1, as `retry-after` carries them.
fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

impl From<crate::password::PasswordError> for ApiError {
    fn from(error: crate::password::PasswordError) -> ApiError {
        match error {
            crate::password::PasswordError::Busy => ApiError::Busy {
                message: "too many password checks at once",
                retry_after: Duration::from_secs(1),
            },
            other => ApiError::internal(other),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        match error {
            StoreError::NotFound { .. } => ApiError::NotFound(error.to_string()),
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::NotPersona { .. } => ApiError::Conflict(error.to_string()),
            StoreError::BatchTooLarge { .. } => ApiError::TooLarge(error.to_string()),
            StoreError::InvalidRow { .. } => ApiError::BadRequest(error.to_string()),
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::accounts::AccountError> for ApiError {
    fn from(error: crate::accounts::AccountError) -> ApiError {
        match error {
            crate::accounts::AccountError::Store(error) => error.into(),
            other => ApiError::internal(other),
        }
    }
}

/// Every error answer: what went wrong, and a stable code to branch on.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub code: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = ?cause, "request failed");
        }
        let body = ErrorBody {
            error: self.to_string(),
            code: code.to_owned(),
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(wait) = self.retry_after() {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs(wait)),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
