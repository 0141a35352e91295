//! What the hosted providers share: the retry loop, the reading of error
//! answers (which failures are worth another attempt, which mean the request
//! itself is wrong or too long), error chains, quoting and scrubbing.
//!
//! The providers read their own error shapes into an [`ErrorReport`]; the
//! decisions made from it live here, so both providers decide alike. Phrases
//! recognised in third-party error bodies are kept in named tables, each
//! entry with the server that says it.

use std::future::Future;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::LlmError;
use super::retry::{RetryPolicy, parse_retry_after};

/// Error and log messages quote at most this much of a server's message or
/// body: enough for the first few of a pydantic validation error list (the
/// telling one in llama-cpp-python's answer to a `content: null` message is
/// the third, some 400 characters in), little enough for a tick row.
const MAX_QUOTED_BODY: usize = 1000;

/// A key shorter than this is never scrubbed: replacing every occurrence of
/// a short string (a test key `x`, a placeholder `none`) would redact
/// ordinary words, and a real key is much longer.
const MIN_SCRUBBED_KEY_CHARS: usize = 8;

/// Lowercase phrases in an error message saying that the prompt and the
/// requested output do not fit the model's context window.
const CONTEXT_OVERFLOW_PHRASES: &[&str] = &[
    // llama-cpp-python: llama_cpp's own "Requested tokens (N) exceed context
    // window of M", when the server does not rewrite it in OpenAI's words.
    "exceed context window",
    // vLLM: "This model's maximum context length is N tokens…"; OpenAI and
    // llama-cpp-python's rewrite say the same.
    "maximum context length",
    // Anthropic: "prompt is too long: 210000 tokens > 200000 maximum".
    "prompt is too long",
];

/// Error `type` or `code` values that say the same.
const CONTEXT_OVERFLOW_CODES: &[&str] = &[
    // OpenAI, and llama-cpp-python's rewrite of its own message.
    "context_length_exceeded",
    // llama.cpp's llama-server.
    "exceed_context_size_error",
];

/// Lowercase phrases that make a 5xx a bad request: the server crashed on
/// input it should have refused, and the same bytes will crash it again.
const INVALID_REQUEST_5XX_PHRASES: &[&str] = &[
    // llama-cpp-python: pydantic's "N validation errors: …" for a request
    // body it cannot read, answered with HTTP 500 (fixture 03).
    "validation error",
];

/// What one attempt came to, when it was not a response.
pub(crate) enum Failure {
    Retry {
        kind: RetryKind,
        retry_after: Option<Duration>,
        /// What went wrong, for the log and for the final error: the
        /// server's message, quoted and scrubbed, when there is one.
        detail: String,
    },
    Fatal(LlmError),
}

/// The kinds of failure another attempt may cure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// What to make of a server error that repeats word for word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeats {
    /// Keep retrying: the provider's 5xx messages are generic (Anthropic's
    /// `api_error` "Internal server error" is the same text every time and
    /// documented as worth a retry).
    Retry,
    /// Stop at the second identical 5xx for the identical bytes: a local
    /// server's 500 is usually an exception the same request raises again,
    /// and three more attempts only delay the report.
    GiveUp,
}

/// Runs `attempt` (given the attempt's number, from 1) until it succeeds,
/// fails for good, or `policy` runs out of attempts, sleeping between
/// attempts as the policy (and a server's `retry-after`) says. `provider`
/// names the provider in the log.
pub(crate) async fn send_with_retries<T, F, Fut>(
    provider: &'static str,
    policy: &RetryPolicy,
    repeats: Repeats,
    mut attempt: F,
) -> Result<T, LlmError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let max_attempts = policy.max_attempts.max(1);
    let mut number = 1;
    // The last server error that may repeat deterministically.
    let mut previous: Option<(u16, String)> = None;
    loop {
        match attempt(number).await {
            Ok(response) => return Ok(response),
            Err(Failure::Fatal(error)) => return Err(error),
            Err(Failure::Retry {
                kind,
                retry_after,
                detail,
            }) => {
                let repeatable = match kind {
                    RetryKind::Unavailable(status)
                        if repeats == Repeats::GiveUp && !is_transient_status(status) =>
                    {
                        Some((status, detail.clone()))
                    }
                    _ => None,
                };
                if let Some(failure) = &repeatable
                    && previous.as_ref() == Some(failure)
                {
                    return Err(LlmError::BadRequest {
                        status: failure.0,
                        message: format!("the server failed the same way twice: {detail}"),
                    });
                }
                previous = repeatable;
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
                // A retry is a request like any other: it waits for its slot.
                super::rate_gate::before_retry().await?;
                number += 1;
            }
        }
    }
}

/// Statuses that say only that the server, or a gateway before it, is busy
/// or down for now; they repeat word for word while it is, so a repeat says
/// nothing about the request.
fn is_transient_status(status: u16) -> bool {
    matches!(status, 502..=504 | 529)
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
    let retry_after = retry_after(response.headers());
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

/// The `retry-after` header, when present and readable.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_retry_after)
}

/// Sorts a failure to get an answer into "try again" or "give up now".
/// Timeouts, refused connections (a local server still loading its model)
/// and broken bodies are worth another attempt. A connection that could not
/// be made counts as a transport failure even when it timed out: the server
/// never saw the request.
pub(crate) fn transport_failure(error: &reqwest::Error, key: Option<&str>) -> Failure {
    let detail = scrub(&error_chain(error), key);
    if error.is_timeout() && !error.is_connect() {
        Failure::Retry {
            kind: RetryKind::Timeout,
            retry_after: None,
            detail,
        }
    } else if error.is_connect() || error.is_request() || error.is_body() || error.is_timeout() {
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

/// The parts of an error answer that decide what it means, read by each
/// provider from its own error shape.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ErrorReport<'a> {
    /// The server's message, whole: not yet quoted or scrubbed.
    pub message: &'a str,
    /// The error's `type`.
    pub kind: Option<&'a str>,
    /// The error's `code`, when it is text.
    pub code: Option<&'a str>,
}

impl ErrorReport<'_> {
    /// Whether the error says the conversation does not fit the context.
    pub(crate) fn is_context_overflow(&self) -> bool {
        let message = self.message.to_lowercase();
        CONTEXT_OVERFLOW_PHRASES
            .iter()
            .any(|phrase| message.contains(phrase))
            || [self.kind, self.code]
                .into_iter()
                .flatten()
                .any(|value| CONTEXT_OVERFLOW_CODES.contains(&value))
    }

    /// Whether a 5xx says the request itself could not be read.
    fn is_invalid_request(&self) -> bool {
        let message = self.message.to_lowercase();
        INVALID_REQUEST_5XX_PHRASES
            .iter()
            .any(|phrase| message.contains(phrase))
    }
}

/// What an error status means once the provider has ruled out a spend
/// limit: a 400 that says the context is exceeded is a
/// [`LlmError::ContextOverflow`]; 401 is fatal; 429 and every 5xx (529 is
/// Anthropic's "overloaded") are retried, except a 5xx whose message is a
/// validation error, which is a bad request; any other status is a bad
/// request. The message in the error is the server's, scrubbed of `key`
/// and quoted.
pub(crate) fn classify_status(
    status: StatusCode,
    retry_after: Option<Duration>,
    report: &ErrorReport<'_>,
    key: Option<&str>,
) -> Failure {
    // Scrubbed before quoting: a cut could leave part of the key behind.
    let message = quote(&scrub(report.message, key));
    match status.as_u16() {
        400 if report.is_context_overflow() => {
            Failure::Fatal(LlmError::ContextOverflow { message })
        }
        401 => Failure::Fatal(LlmError::Unauthorized(message)),
        429 => Failure::Retry {
            kind: RetryKind::RateLimited,
            retry_after,
            detail: message,
        },
        code @ (500..=599) if report.is_invalid_request() => Failure::Fatal(LlmError::BadRequest {
            status: code,
            message,
        }),
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

/// Removes the key from text that came from elsewhere (a server may quote
/// part of a wrong key back; a proxy may echo the whole header). Only an
/// exact occurrence of a key of at least [`MIN_SCRUBBED_KEY_CHARS`]
/// characters that stands alone (no letter, digit, `_` or `-` right before
/// or after it) is replaced, so a short key or one inside a longer token
/// leaves the text as it was.
pub(crate) fn scrub(text: &str, key: Option<&str>) -> String {
    let Some(key) = key.filter(|key| key.chars().count() >= MIN_SCRUBBED_KEY_CHARS) else {
        return text.to_owned();
    };
    let mut scrubbed = String::with_capacity(text.len());
    // `copied` is how far `text` has been copied; `from` where to search on.
    let mut copied = 0;
    let mut from = 0;
    while let Some(offset) = text[from..].find(key) {
        let start = from + offset;
        let end = start + key.len();
        let alone = !text[..start].chars().next_back().is_some_and(is_key_char)
            && !text[end..].chars().next().is_some_and(is_key_char);
        if alone {
            scrubbed.push_str(&text[copied..start]);
            scrubbed.push_str("[redacted]");
            copied = end;
            from = end;
        } else {
            // On past this occurrence's first character, which the key
            // starts with, so `from` stays on a character boundary.
            from = start + key.chars().next().map_or(1, char::len_utf8);
        }
    }
    scrubbed.push_str(&text[copied..]);
    scrubbed
}

/// The characters a key is made of, by which a key inside a longer token
/// is told apart from the key itself.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
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
    fn scrub_removes_a_key_that_stands_alone() {
        let key = Some("sk-abcdefgh12");
        assert_eq!(
            scrub("Bearer sk-abcdefgh12. and sk-abcdefgh12", key),
            "Bearer [redacted]. and [redacted]"
        );
        assert_eq!(scrub("\"sk-abcdefgh12\"", key), "\"[redacted]\"");
        assert_eq!(scrub("nothing", None), "nothing");
    }

    #[test]
    fn scrub_leaves_short_keys_and_keys_inside_longer_tokens() {
        // A one-letter key would redact every x.
        assert_eq!(scrub("x marks the x-spot", Some("x")), "x marks the x-spot");
        assert_eq!(scrub("nothing", Some("")), "nothing");
        assert_eq!(scrub("sk-1234 sk-1234", Some("sk-1234")), "sk-1234 sk-1234");
        let key = Some("sk-abcdefgh12");
        for longer in [
            "sk-abcdefgh123",
            "xsk-abcdefgh12",
            "_sk-abcdefgh12",
            "sk-abcdefgh12-a",
        ] {
            assert_eq!(scrub(longer, key), longer);
        }
        // An occurrence inside a longer token does not hide a later one.
        assert_eq!(
            scrub("sk-abcdefgh123 sk-abcdefgh12", key),
            "sk-abcdefgh123 [redacted]"
        );
        // Multi-byte neighbours are not key characters.
        assert_eq!(scrub("«sk-abcdefgh12»", key), "«[redacted]»");
    }

    #[test]
    fn exhausted_retries_name_the_attempts_and_the_message() {
        assert_eq!(
            RetryKind::Transport.into_error(3, None, "refused".into()),
            LlmError::Transport("refused (after 3 attempts)".into())
        );
        assert_eq!(
            RetryKind::Unavailable(529).into_error(2, None, "Overloaded".into()),
            LlmError::Unavailable {
                status: 529,
                attempts: 2,
                message: "Overloaded".into(),
            }
        );
        assert_eq!(RetryKind::RateLimited.status(), 429);
        assert_eq!(RetryKind::Timeout.status(), 0);
    }

    fn report(message: &str) -> ErrorReport<'_> {
        ErrorReport {
            message,
            kind: None,
            code: None,
        }
    }

    #[test]
    fn context_overflow_is_recognised_in_every_server_s_words() {
        let messages = [
            "Requested tokens (8429) exceed context window of 8192",
            "This model's maximum context length is 32768 tokens. However, you requested 40000",
            "prompt is too long: 210000 tokens > 200000 maximum",
        ];
        for message in messages {
            assert!(report(message).is_context_overflow(), "{message}");
        }
        let llama_cpp = ErrorReport {
            message: "the request exceeds the available context size",
            kind: Some("exceed_context_size_error"),
            code: None,
        };
        let openai = ErrorReport {
            message: "too long",
            kind: Some("invalid_request_error"),
            code: Some("context_length_exceeded"),
        };
        assert!(llama_cpp.is_context_overflow() && openai.is_context_overflow());
        assert!(!report("max_tokens: 999999 > 64000").is_context_overflow());
    }

    #[test]
    fn a_validation_error_in_a_500_is_a_bad_request_and_an_overflow_needs_a_400() {
        let status = |code| StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT);
        let validation = report("7 validation errors:\n  {'type': 'literal_error'}");
        assert!(matches!(
            classify_status(status(500), None, &validation, None),
            Failure::Fatal(LlmError::BadRequest { status: 500, .. })
        ));
        let overflow = report("Requested tokens (9000) exceed context window of 8192");
        assert!(matches!(
            classify_status(status(400), None, &overflow, None),
            Failure::Fatal(LlmError::ContextOverflow { .. })
        ));
        assert!(matches!(
            classify_status(status(500), None, &overflow, None),
            Failure::Retry {
                kind: RetryKind::Unavailable(500),
                ..
            }
        ));
    }

    /// On the paused clock: the waits are virtual, so minutes pass in no
    /// real time and are measured exactly.
    #[tokio::test(start_paused = true)]
    async fn a_retry_waits_the_servers_retry_after_up_to_the_policys_cap() {
        // No backoff of its own (the jitter is at most 1 ms): the waits are
        // the server's.
        let policy = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::ZERO,
            max_delay: Duration::from_secs(120),
        };
        let asked = [Duration::from_secs(30), Duration::from_secs(600)];
        let mut attempts = Vec::new();
        let answer = send_with_retries("test", &policy, Repeats::Retry, |number: u32| {
            attempts.push(tokio::time::Instant::now());
            let retry_after = asked.get(number as usize - 1).copied();
            async move {
                match retry_after {
                    Some(wait) => Err(Failure::Retry {
                        kind: RetryKind::RateLimited,
                        retry_after: Some(wait),
                        detail: "slow down".to_owned(),
                    }),
                    None => Ok(number),
                }
            }
        })
        .await;
        assert_eq!(answer, Ok(3));
        let gaps: Vec<Duration> = attempts.windows(2).map(|pair| pair[1] - pair[0]).collect();
        // 30 s as asked; ten minutes capped at the policy's two. Jitter and
        // Tokio's millisecond timers may add up to 2 ms.
        for (gap, expected) in gaps.iter().zip([30, 120]) {
            let expected = Duration::from_secs(expected);
            assert!(
                *gap >= expected && *gap <= expected + Duration::from_millis(2),
                "waited {gap:?}, expected {expected:?} ({gaps:?})"
            );
        }
        assert_eq!(gaps.len(), 2);
    }

    #[tokio::test]
    async fn an_identical_500_is_not_retried_a_third_time_but_a_503_is() {
        // No waiting between attempts.
        let policy = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::ZERO,
            max_delay: Duration::ZERO,
        };
        let failing = |status: u16| {
            move |_number: u32| async move {
                Err::<(), _>(Failure::Retry {
                    kind: RetryKind::Unavailable(status),
                    retry_after: None,
                    detail: "llama runner process has terminated".to_owned(),
                })
            }
        };
        let mut calls = 0;
        let counted = |number: u32| {
            calls = number;
            failing(500)(number)
        };
        let error = send_with_retries("test", &policy, Repeats::GiveUp, counted).await;
        assert_eq!(
            error,
            Err(LlmError::BadRequest {
                status: 500,
                message: "the server failed the same way twice: \
                          llama runner process has terminated"
                    .into(),
            })
        );
        assert_eq!(calls, 2);

        let transient = send_with_retries("test", &policy, Repeats::GiveUp, failing(503)).await;
        assert!(matches!(
            transient,
            Err(LlmError::Unavailable {
                status: 503,
                attempts: 5,
                ..
            })
        ));
        let generic = send_with_retries("test", &policy, Repeats::Retry, failing(500)).await;
        assert!(matches!(
            generic,
            Err(LlmError::Unavailable { attempts: 5, .. })
        ));
    }
}
