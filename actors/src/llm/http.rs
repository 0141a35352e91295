//! What the hosted providers share: the retry loop, failures, error chains, quoting, scrubbing.

use std::future::Future;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;

use super::retry::{RetryPolicy, parse_retry_after};
use super::{LlmError, LlmResponse};

/// Error and log messages quote at most this much of a response body.
const MAX_QUOTED_BODY: usize = 300;

/// What one attempt came to, when it was not a response.
pub(crate) enum Failure {
    Retry {
        kind: RetryKind,
        retry_after: Option<Duration>,
        /// What went wrong, for the log and for the final error.
        detail: String,
    },
    Fatal(LlmError),
}

/// The kinds of failure another attempt may cure.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RetryKind {
    RateLimited,
    Unavailable(u16),
    Timeout,
    Transport,
    /// A success status with a body that does not read as a response: in
    /// practice a body cut short on the way, which the next attempt cures.
    Unreadable,
}

impl RetryKind {
    /// The HTTP status for the log; 0 when there was no answer.
    pub(crate) fn status(self) -> u16 {
        match self {
            RetryKind::RateLimited => 429,
            RetryKind::Unavailable(status) => status,
            RetryKind::Timeout | RetryKind::Transport => 0,
            RetryKind::Unreadable => 200,
        }
    }

    /// The error reported once the attempts are used up.
    pub(crate) fn into_error(
        self,
        attempts: u32,
        retry_after: Option<Duration>,
        detail: String,
    ) -> LlmError {
        match self {
            RetryKind::RateLimited => LlmError::RateLimited {
                attempts,
                retry_after,
            },
            RetryKind::Unavailable(status) => LlmError::Unavailable {
                status,
                attempts,
                message: detail,
            },
            RetryKind::Timeout => LlmError::Timeout { attempts },
            RetryKind::Transport => {
                LlmError::Transport(format!("{detail} (after {attempts} attempts)"))
            }
            RetryKind::Unreadable => {
                LlmError::Malformed(format!("{detail} (after {attempts} attempts)"))
            }
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or `policy` runs out of
/// attempts, sleeping between attempts as the policy (and a server's
/// `retry-after`) says. `provider` names the provider in the log.
pub(crate) async fn send_with_retries<F, Fut>(
    provider: &'static str,
    policy: &RetryPolicy,
    mut attempt: F,
) -> Result<LlmResponse, LlmError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<LlmResponse, Failure>>,
{
    let max_attempts = policy.max_attempts.max(1);
    let mut number = 1;
    loop {
        match attempt().await {
            Ok(response) => return Ok(response),
            Err(Failure::Fatal(error)) => return Err(error),
            Err(Failure::Retry {
                kind,
                retry_after,
                detail,
            }) => {
                if number >= max_attempts {
                    return Err(kind.into_error(number, retry_after, detail));
                }
                let delay = policy.delay(number, retry_after);
                tracing::warn!(
                    provider,
                    status = kind.status(),
                    attempt = number,
                    max_attempts,
                    delay_ms = delay.as_millis() as u64,
                    detail = %detail,
                    "LLM request failed; retrying"
                );
                tokio::time::sleep(delay).await;
                number += 1;
            }
        }
    }
}

/// A success answer whose body did not read as a response: retried, and
/// reported as [`LlmError::Malformed`] once the attempts are used up.
pub(crate) fn unreadable(error: LlmError) -> Failure {
    match error {
        LlmError::Malformed(detail) => Failure::Retry {
            kind: RetryKind::Unreadable,
            retry_after: None,
            detail,
        },
        other => Failure::Fatal(other),
    }
}

/// An answer as it came back, before the provider reads it.
pub(crate) struct Answer {
    pub status: StatusCode,
    /// The `retry-after` header, when it parsed.
    pub retry_after: Option<Duration>,
    pub body: String,
}

/// Sends `request` and reads the whole answer. A failure to get one is
/// classified by [`transport_failure`], with `key` scrubbed from it.
pub(crate) async fn exchange(
    request: reqwest::RequestBuilder,
    key: Option<&str>,
) -> Result<Answer, Failure> {
    let response = request
        .send()
        .await
        .map_err(|error| transport_failure(&error, key))?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_retry_after);
    let body = response
        .text()
        .await
        .map_err(|error| transport_failure(&error, key))?;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// Sorts a failure to get an answer into "try again" or "give up now".
/// Timeouts, refused connections (a local server still loading its model)
/// and broken bodies are worth another attempt.
pub(crate) fn transport_failure(error: &reqwest::Error, key: Option<&str>) -> Failure {
    let detail = scrub(&error_chain(error), key);
    if error.is_timeout() {
        Failure::Retry {
            kind: RetryKind::Timeout,
            retry_after: None,
            detail,
        }
    } else if error.is_connect() || error.is_request() || error.is_body() {
        Failure::Retry {
            kind: RetryKind::Transport,
            retry_after: None,
            detail,
        }
    } else {
        Failure::Fatal(LlmError::Transport(detail))
    }
}

/// The HTTP client both providers use.
pub(crate) fn client() -> Result<reqwest::Client, LlmError> {
    reqwest::Client::builder()
        .build()
        .map_err(|error| LlmError::Transport(format!("cannot set up the HTTP client: {error}")))
}

/// Removes the key from text that came from elsewhere (a server may quote
/// part of a wrong key back; a proxy may echo the whole header).
pub(crate) fn scrub(text: &str, key: Option<&str>) -> String {
    match key {
        Some(key) if !key.is_empty() => text.replace(key, "[redacted]"),
        _ => text.to_owned(),
    }
}

/// At most [`MAX_QUOTED_BODY`] characters of a body, for messages.
pub(crate) fn quote(body: &str) -> String {
    let body = body.trim();
    match body.char_indices().nth(MAX_QUOTED_BODY) {
        Some((cut, _)) => format!("{}…", &body[..cut]),
        None => body.to_owned(),
    }
}

/// A reqwest error with its causes, which carry the useful part
/// ("connection refused", "operation timed out").
pub(crate) fn error_chain(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// What an error status means once the provider has ruled out a spend
/// limit: 401 is fatal, 429 and every 5xx (529 is Anthropic's "overloaded")
/// are retried, any other status is a bad request.
pub(crate) fn classify_status(
    status: StatusCode,
    retry_after: Option<Duration>,
    message: String,
) -> Failure {
    match status.as_u16() {
        401 => Failure::Fatal(LlmError::Unauthorized(message)),
        429 => Failure::Retry {
            kind: RetryKind::RateLimited,
            retry_after,
            detail: message,
        },
        code @ (500..=599) => Failure::Retry {
            kind: RetryKind::Unavailable(code),
            retry_after,
            detail: message,
        },
        code => Failure::Fatal(LlmError::BadRequest {
            status: code,
            message,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_cuts_long_bodies_on_a_character_boundary() {
        let long = "é".repeat(MAX_QUOTED_BODY + 10);
        let quoted = quote(&format!("  {long}  "));
        assert_eq!(quoted.chars().count(), MAX_QUOTED_BODY + 1);
        assert!(quoted.ends_with('…'));
        assert_eq!(quote("  short \n"), "short");
    }

    #[test]
    fn scrub_removes_the_key_and_leaves_text_without_one() {
        assert_eq!(
            scrub("key sk-1 and sk-1", Some("sk-1")),
            "key [redacted] and [redacted]"
        );
        assert_eq!(scrub("nothing", None), "nothing");
        assert_eq!(scrub("nothing", Some("")), "nothing");
    }

    #[test]
    fn exhausted_retries_name_the_attempts() {
        assert_eq!(
            RetryKind::Transport.into_error(3, None, "refused".into()),
            LlmError::Transport("refused (after 3 attempts)".into())
        );
        assert_eq!(
            RetryKind::Unavailable(529).into_error(2, None, String::new()),
            LlmError::Unavailable {
                status: 529,
                attempts: 2,
                message: String::new()
            }
        );
        assert_eq!(RetryKind::RateLimited.status(), 429);
        assert_eq!(RetryKind::Timeout.status(), 0);
    }
}
