//! The OpenAI-compatible Chat Completions provider, aimed at local and
//! self-hosted servers (llama-cpp-python, llama.cpp's `llama-server`, vLLM,
//! Ollama's `/v1`) as much as at OpenAI: translating a conversation to
//! `POST {base}/chat/completions`, reading the answer back whatever dialect
//! of tool calls the server speaks, and deciding which failures are worth
//! another attempt.
//!
//! Requests are streamed (`stream: true`) so that dropping one (a timeout,
//! a cancelled tick) stops the server's generation: a local server works on
//! one request at a time, and an abandoned whole answer keeps it busy for
//! minutes while the next request queues behind it (fixture 07: 164 s). A
//! server that will not stream a request is sent it whole instead, and the
//! provider remembers that for requests of the same kind; a whole request
//! that times out is then not retried, for the same reason.
//!
//! Server quirks handled here (API notes §4.7, and the captures of
//! llama-cpp-python 0.3.36 in `tests/fixtures/`): a tool choice is always
//! sent with tools, because llama-cpp-python drops the tools from the
//! prompt without one (fixture 01); an assistant message with tool calls
//! carries `content: ""`, because it refuses null (fixture 03);
//! `function.arguments` comes as a JSON string or as an object, sometimes
//! not as JSON at all (see `arguments`); tool calls may come without an id.
//! None of that fails the turn: the model sees its own mistake in the tool
//! result instead.

mod arguments;
mod context_window;
mod request;
mod response;
mod stream;
mod stream_support;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde_json::json;
use tokio::sync::OnceCell;

use self::context_window::Discovery;
use self::request::request_body;
use self::response::{ApiError, RawCompletion, assemble, parse_completion};
use self::stream::{StreamEnd, read_stream};
use self::stream_support::{RequestKind, StreamSupport, refuses_streaming};
use super::http::{self, ErrorReport, Failure, Repeats, RetryKind, quote};
use super::retry::RetryPolicy;
use super::{Llm, LlmError, LlmRequest, LlmResponse};

/// How long one request may take, connection to last byte: the documented
/// default of `PERSONA_LLM_TIMEOUT_SECS`. A local model on modest hardware
/// can need minutes for the prompt of a long tool loop; raise it for one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// An OpenAI-compatible Chat Completions server behind the [`Llm`] trait.
pub struct OpenAiLlm {
    client: reqwest::Client,
    /// Kept only to build the header and to scrub it from messages.
    api_key: Option<String>,
    /// `Bearer <key>` marked sensitive, so reqwest and http redact it in
    /// their own Debug output.
    authorization: Option<HeaderValue>,
    model: String,
    /// The base URL without a trailing slash, for the discovery routes.
    base: String,
    endpoint: String,
    retry: RetryPolicy,
    timeout: Duration,
    /// Numbers the ids made up for tool calls that came without one; unique
    /// for this provider's life, so ids never repeat within a conversation.
    generated_ids: AtomicU64,
    /// A context window set by configuration; wins over the server's word.
    context_window: Option<u32>,
    /// What the server said about its context window, asked once. A server
    /// that could not be reached leaves it empty, to be asked again.
    discovered_window: OnceCell<Option<u32>>,
    streaming: StreamSupport,
    /// The base URL's host is this machine or a private network, decided
    /// once here rather than on every answer.
    local: bool,
}

impl fmt::Debug for OpenAiLlm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiLlm")
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("model", &self.model)
            .field("endpoint", &self.endpoint)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("context_window", &self.context_window)
            .finish()
    }
}

impl OpenAiLlm {
    /// A provider for `model` at `base_url`, the part before
    /// `/chat/completions` (e.g. `http://127.0.0.1:11434/v1` for Ollama).
    /// Without a key (or with an empty one) no `Authorization` header is
    /// sent, which is what local servers expect.
    pub fn new(
        api_key: Option<String>,
        model: String,
        base_url: String,
        retry: RetryPolicy,
    ) -> Result<Self, LlmError> {
        let api_key = api_key.filter(|key| !key.trim().is_empty());
        let authorization = match &api_key {
            Some(key) => {
                let mut value = HeaderValue::from_str(&format!("Bearer {key}")).map_err(|_| {
                    LlmError::Unauthorized(
                        "the API key contains characters not allowed in an HTTP header \
                         (a stray newline or quote?)"
                            .to_owned(),
                    )
                })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        let base = base_url.trim().trim_end_matches('/').to_owned();
        let endpoint = format!("{base}/chat/completions");
        reqwest::Url::parse(&endpoint).map_err(|error| {
            LlmError::Transport(format!(
                "the OpenAI-compatible base URL {base:?} is not a valid URL ({error}); \
                 expected something like \"http://127.0.0.1:11434/v1\""
            ))
        })?;
        let local = on_private_network(&base);
        Ok(OpenAiLlm {
            client: http::client()?,
            api_key,
            authorization,
            model,
            base,
            endpoint,
            retry,
            timeout: DEFAULT_TIMEOUT,
            generated_ids: AtomicU64::new(0),
            context_window: None,
            discovered_window: OnceCell::new(),
            streaming: StreamSupport::default(),
            local,
        })
    }

    /// Sets the per-request timeout (default [`DEFAULT_TIMEOUT`]). A
    /// streamed request that takes longer counts as a failed attempt and is
    /// retried; a whole one fails with [`LlmError::Timeout`] at once.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the model's context window in tokens; `None` (the default)
    /// leaves it to what the server says, if anything.
    pub fn with_context_window(mut self, tokens: Option<u32>) -> Self {
        self.context_window = tokens;
        self
    }

    fn post(&self, body: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .post(&self.endpoint)
            .header(CONTENT_TYPE, "application/json")
            .timeout(self.timeout)
            .body(body.to_owned());
        if let Some(authorization) = &self.authorization {
            request = request.header(AUTHORIZATION, authorization.clone());
        }
        request
    }

    /// One streamed exchange, classified.
    async fn attempt_streamed(&self, body: &str) -> Result<Streamed, Failure> {
        let key = self.api_key.as_deref();
        let response = self
            .post(body)
            .send()
            .await
            .map_err(|error| http::transport_failure(&error, key))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = http::retry_after(response.headers());
            let body = response
                .text()
                .await
                .map_err(|error| http::transport_failure(&error, key))?;
            let error = ApiError::parse(&body);
            let message = error.message_or(status, &body);
            if refuses_streaming(status, &message) {
                return Ok(Streamed::Refused {
                    explicit: true,
                    reason: quote(&self.scrub(&message)),
                });
            }
            return Err(self.classify(status, retry_after, &error, &message));
        }
        let is_event_stream = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/event-stream"));
        if !is_event_stream {
            // The server ignored `stream` and answered whole.
            let body = response
                .text()
                .await
                .map_err(|error| http::transport_failure(&error, key))?;
            return self
                .parse_response(&body)
                .map(Streamed::Response)
                .map_err(http::unreadable);
        }
        match read_stream(response, key).await? {
            StreamEnd::Completion(raw) => Ok(Streamed::Response(self.assemble(raw))),
            StreamEnd::Empty => Ok(Streamed::Refused {
                explicit: false,
                reason: "the event stream ended before its first event".to_owned(),
            }),
            StreamEnd::Error(data) => {
                let error = ApiError::parse(&data);
                let message = error.message_or(StatusCode::OK, &data);
                let overflow = ErrorReport {
                    message: &message,
                    kind: error.kind.as_deref(),
                    code: error.code.as_deref(),
                }
                .is_context_overflow();
                // The status is long sent; the error's own code stands in
                // for it when it is one (vLLM, llama.cpp), else a 400 for a
                // context overflow and a server error for anything else.
                let status = error
                    .status
                    .and_then(|code| StatusCode::from_u16(code).ok())
                    .filter(|status| status.is_client_error() || status.is_server_error())
                    .unwrap_or(if overflow {
                        StatusCode::BAD_REQUEST
                    } else {
                        StatusCode::INTERNAL_SERVER_ERROR
                    });
                Err(self.classify(status, None, &error, &message))
            }
        }
    }

    /// One whole (not streamed) exchange, classified; `number` is the
    /// attempt's number.
    async fn attempt_whole(&self, body: &str, number: u32) -> Result<LlmResponse, Failure> {
        let answer = match http::exchange(self.post(body), self.api_key.as_deref()).await {
            Ok(answer) => answer,
            Err(Failure::Retry {
                kind: RetryKind::Timeout,
                detail,
                ..
            }) => {
                // IMPORTANT: no retry. The server cannot notice that we gave
                // up on a whole answer; it is probably still generating it,
                // and a retry would only queue behind it.
                tracing::warn!(
                    provider = "openai",
                    timeout_s = self.timeout.as_secs_f64(),
                    attempt = number,
                    detail = %detail,
                    "LLM request sent whole timed out; not retried: the server is probably \
                     still generating the abandoned answer, and a retry would queue behind it"
                );
                return Err(Failure::Fatal(LlmError::Timeout { attempts: number }));
            }
            Err(other) => return Err(other),
        };
        if answer.status.is_success() {
            return self.parse_response(&answer.body).map_err(http::unreadable);
        }
        let error = ApiError::parse(&answer.body);
        let message = error.message_or(answer.status, &answer.body);
        Err(self.classify(answer.status, answer.retry_after, &error, &message))
    }

    /// Sends `body` whole, with retries.
    async fn send_whole(&self, body: &str) -> Result<LlmResponse, LlmError> {
        http::send_with_retries("openai", &self.retry, Repeats::GiveUp, |number| {
            self.attempt_whole(body, number)
        })
        .await
    }

    /// Sorts a non-success answer into "try again" or "give up now".
    fn classify(
        &self,
        status: StatusCode,
        retry_after: Option<Duration>,
        error: &ApiError,
        message: &str,
    ) -> Failure {
        // OpenAI answers an exhausted balance with a 429 too; waiting will
        // not fix it.
        if error.is_quota_exhausted() {
            return Failure::Fatal(LlmError::SpendLimit(quote(&self.scrub(message))));
        }
        let report = ErrorReport {
            message,
            kind: error.kind.as_deref(),
            code: error.code.as_deref(),
        };
        http::classify_status(status, retry_after, &report, self.api_key.as_deref())
    }

    /// Removes the key from text that came from elsewhere (OpenAI quotes
    /// part of a wrong key back; a proxy may echo the whole header).
    fn scrub(&self, text: &str) -> String {
        http::scrub(text, self.api_key.as_deref())
    }

    /// A whole answer's body as our response.
    fn parse_response(&self, body: &str) -> Result<LlmResponse, LlmError> {
        match parse_completion(body) {
            Ok(raw) => Ok(self.assemble(raw)),
            Err(LlmError::Malformed(detail)) => Err(LlmError::Malformed(self.scrub(&detail))),
            Err(other) => Err(other),
        }
    }

    /// A completion as our response, naming the calls that came without an
    /// id `call_<n>`.
    fn assemble(&self, raw: RawCompletion) -> LlmResponse {
        assemble(raw, || {
            format!(
                "call_{}",
                self.generated_ids.fetch_add(1, Ordering::Relaxed) + 1
            )
        })
    }
}

#[async_trait]
impl Llm for OpenAiLlm {
    fn provider(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn runs_locally(&self) -> bool {
        self.local
    }

    async fn context_window(&self) -> Option<u32> {
        if self.context_window.is_some() {
            return self.context_window;
        }
        let discovery = Discovery {
            client: &self.client,
            base: &self.base,
            model: &self.model,
            authorization: self.authorization.as_ref(),
        };
        self.discovered_window
            .get_or_try_init(|| discovery.context_window())
            .await
            .ok()
            .copied()
            .flatten()
    }

    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse, LlmError> {
        // Serialised once, so every retry sends the same bytes (and servers
        // with prefix caching see the same prefix).
        let mut body = request_body(&self.model, request);
        let whole = body.to_string();
        let kind = RequestKind::of(request);
        if self.streaming.refused(kind) {
            return self.send_whole(&whole).await;
        }
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let streamed = body.to_string();
        let outcome = http::send_with_retries("openai", &self.retry, Repeats::GiveUp, |_| {
            self.attempt_streamed(&streamed)
        })
        .await?;
        let (explicit, reason) = match outcome {
            Streamed::Response(response) => return Ok(response),
            Streamed::Refused { explicit, reason } => (explicit, reason),
        };
        tracing::debug!(
            provider = "openai",
            reason = %reason,
            "the server did not stream the request; sending it whole"
        );
        let answer = self.send_whole(&whole).await;
        // An empty stream only says the request failed before its first
        // event; the whole request says why. Only when it succeeds was the
        // streaming to blame.
        if explicit || answer.is_ok() {
            self.streaming.remember_refusal(kind, &self.model, &reason);
        }
        answer
    }
}

/// What a streamed attempt came to.
enum Streamed {
    Response(LlmResponse),
    /// The server would not stream this request. `explicit` when it said
    /// so in an error; else the stream was empty.
    Refused {
        explicit: bool,
        reason: String,
    },
}

/// Whether `base_url`'s host is this machine or a private network (where an
/// OpenAI-compatible server is someone's own llama.cpp, vLLM or Ollama).
fn on_private_network(base_url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(base_url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback() || ip.is_unique_local(),
        Err(_) => host == "localhost" || host.ends_with(".local"),
    }
}
