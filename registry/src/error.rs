//! What a tool call can fail with. Every variant becomes an `isError: true`
//! tool result with its message, written for the agent that made the call:
//! it says what was wrong and how to do it right.
//!
//! A message quotes at most a short, marked prefix of anything the caller
//! sent ([`quote_value`], [`quote_text`]): an error is read by the agent and
//! stored in plaintext audit rows, so echoing a 1 MB value whole would cost
//! both and leak content the app otherwise encrypts.

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
    #[error("unknown tool {:?}; call tools/list for the available tools", quote_text(.0))]
    UnknownTool(String),
    #[error("invalid input: {}", join(.0))]
    InvalidInput(Vec<FieldError>),
    #[error("{what} {} not found", quote_text(id))]
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

/// At most this many bytes of a caller's value (as JSON) or characters of
/// a caller's text are quoted in an error: enough to recognise it by.
pub const QUOTED_PREFIX: usize = 40;

/// `text` whole when short, else its first [`QUOTED_PREFIX`] characters
/// marked as cut: `aaaa… (cut, 1048576 characters)`.
pub fn quote_text(text: &str) -> String {
    match text.char_indices().nth(QUOTED_PREFIX) {
        None => text.to_owned(),
        Some((end, _)) => format!(
            "{}… (cut, {} characters)",
            &text[..end],
            text.chars().count()
        ),
    }
}

/// `value` as JSON when short, else the first [`QUOTED_PREFIX`] bytes of its
/// JSON marked as cut: `"aaaa… (cut, 1048578 bytes of JSON)`. Serialises
/// into a bounded buffer, so a huge value costs no second copy.
pub fn quote_value(value: &serde_json::Value) -> String {
    let mut prefix = BoundedPrefix {
        kept: Vec::with_capacity(QUOTED_PREFIX),
        total: 0,
    };
    if serde_json::to_writer(&mut prefix, value).is_err() {
        // Unreachable: the writer never fails and a `Value` always
        // serialises; a neutral word is still better than a panic.
        return "the value".to_owned();
    }
    // Cut at a character boundary: the last kept character may be partial.
    let valid = match std::str::from_utf8(&prefix.kept) {
        Ok(text) => text,
        Err(error) => std::str::from_utf8(&prefix.kept[..error.valid_up_to()]).unwrap_or_default(),
    };
    if prefix.total <= QUOTED_PREFIX {
        valid.to_owned()
    } else {
        format!("{valid}… (cut, {} bytes of JSON)", prefix.total)
    }
}

/// An `io::Write` keeping the first [`QUOTED_PREFIX`] bytes and counting
/// the rest.
struct BoundedPrefix {
    kept: Vec<u8>,
    total: usize,
}

impl std::io::Write for BoundedPrefix {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let room = QUOTED_PREFIX.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.total += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_quoted_whole_and_long_ones_cut_and_marked() {
        assert_eq!(quote_value(&serde_json::json!("short")), "\"short\"");
        assert_eq!(quote_text("short"), "short");
        let long = "ü".repeat(1_000_000);
        let quoted = quote_value(&serde_json::json!(long));
        assert!(quoted.len() < 100, "{quoted}");
        assert!(
            quoted.ends_with("… (cut, 2000002 bytes of JSON)"),
            "{quoted}"
        );
        let quoted = quote_text(&long);
        assert_eq!(
            quoted,
            format!("{}… (cut, 1000000 characters)", "ü".repeat(QUOTED_PREFIX))
        );
        let object = serde_json::json!({ "a": "x".repeat(500) });
        assert!(quote_value(&object).starts_with("{\"a\":\"xxx"));
    }
}
