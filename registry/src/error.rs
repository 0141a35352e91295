//! What a tool call can fail with. Every variant becomes an `isError: true`
//! tool result with its message, written for the agent that made the call:
//! it says what was wrong and how to do it right.

use std::fmt;

use crate::crypto::CryptoError;
use crate::store::{AppStoreError, KeyError};

/// One bad field of a tool's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path in the arguments (`title`, `subtasks[2]`), or empty
    /// when the arguments as a whole are wrong.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolError {
    #[error("unknown tool {0:?}; call tools/list for the available tools")]
    UnknownTool(String),
    #[error("invalid input: {}", join(.0))]
    InvalidInput(Vec<FieldError>),
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Denied(String),
    #[error(
        "rate limit: at most {limit} calls of {tool} per {window_secs} s; try again in {retry_after_secs} s"
    )]
    RateLimited {
        tool: String,
        limit: u32,
        window_secs: u64,
        retry_after_secs: u64,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("a stored value could not be decrypted: {0}")]
    Crypto(#[from] CryptoError),
    #[error("the app could not complete the call: {0}")]
    Internal(String),
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl ToolError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ToolError {
        ToolError::InvalidInput(vec![FieldError::new(field, message)])
    }
}

impl From<AppStoreError> for ToolError {
    fn from(error: AppStoreError) -> ToolError {
        match error {
            AppStoreError::NotFound(what) => ToolError::NotFound {
                what: "record",
                id: what,
            },
            AppStoreError::Conflict(message) => ToolError::Conflict(message),
            AppStoreError::Unavailable(message) => ToolError::Internal(message),
        }
    }
}
