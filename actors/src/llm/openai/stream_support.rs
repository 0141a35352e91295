//! Which requests a server will stream. llama-cpp-python 0.3.36 streams
//! plain text and a forced tool choice but answers a streamed request with
//! automatic tool choice with an empty stream (fixture 11); OpenAI refuses
//! `stream` for some models in words. Either way the provider sends the
//! request whole instead and remembers it here for requests of that kind.

use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::StatusCode;

use crate::llm::{LlmRequest, ToolChoice};

/// Lowercase words that, in the error answer to a streamed request, say
/// the server will not stream it (OpenAI, for models that cannot stream:
/// "Unsupported value: 'stream' does not support true with this model").
/// Whole words only: "upstream" in a gateway's 502 says nothing of the kind.
const STREAM_REFUSAL_WORDS: &[&str] = &["stream", "streaming", "stream_options"];

/// The kinds of request a server may stream or not. llama-cpp-python
/// streams a forced tool choice and plain text but not an automatic tool
/// choice, so one refusal says nothing about the other kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RequestKind {
    /// Tools with [`ToolChoice::Auto`].
    AutoToolChoice,
    /// A forced tool, or no tools.
    Other,
}

impl RequestKind {
    pub(super) fn of(request: &LlmRequest) -> RequestKind {
        if !request.tools.is_empty() && request.tool_choice == ToolChoice::Auto {
            RequestKind::AutoToolChoice
        } else {
            RequestKind::Other
        }
    }
}

/// Which kinds of request this provider's server refused to stream; set
/// once, never cleared (a server does not learn to stream while it runs).
#[derive(Debug, Default)]
pub(super) struct StreamSupport {
    auto_tool_choice_refused: AtomicBool,
    other_refused: AtomicBool,
}

impl StreamSupport {
    fn flag(&self, kind: RequestKind) -> &AtomicBool {
        match kind {
            RequestKind::AutoToolChoice => &self.auto_tool_choice_refused,
            RequestKind::Other => &self.other_refused,
        }
    }

    pub(super) fn refused(&self, kind: RequestKind) -> bool {
        self.flag(kind).load(Ordering::Relaxed)
    }

    /// Remembers a refusal, saying so in the log the first time.
    pub(super) fn remember_refusal(&self, kind: RequestKind, model: &str, reason: &str) {
        if !self.flag(kind).swap(true, Ordering::Relaxed) {
            tracing::info!(
                provider = "openai",
                model,
                request_kind = ?kind,
                reason,
                "the server does not stream these requests; sending them whole from now on \
                 (a cancelled tick will not stop the server generating their answers)"
            );
        }
    }
}

/// Whether an error answer to a streamed request says the server will not
/// stream it.
pub(super) fn refuses_streaming(status: StatusCode, message: &str) -> bool {
    let code = status.as_u16();
    (400..=599).contains(&code)
        && !matches!(code, 401 | 429)
        && message
            .to_lowercase()
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|word| STREAM_REFUSAL_WORDS.contains(&word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_word_stream_in_an_error_refuses_streaming() {
        let status = |code| StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT);
        let refusal = "Unsupported value: 'stream' does not support true with this model.";
        assert!(refuses_streaming(status(400), refusal));
        assert!(refuses_streaming(
            status(500),
            "Automatic streaming tool choice is not supported"
        ));
        assert!(!refuses_streaming(status(504), "upstream request timeout"));
        assert!(!refuses_streaming(status(429), refusal));
        assert!(!refuses_streaming(status(200), refusal));
    }
}
