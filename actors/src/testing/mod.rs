//! Faithful fakes of the hosted LLM APIs, for tests only: each is a real
//! HTTP server bound to `127.0.0.1:0` (loopback only, the port known before
//! it serves) that records every request and answers from a queue of canned
//! responses, error responses included. It refuses what the real API would
//! refuse (missing headers, a `tool_use` without its `tool_result`, a `tool`
//! message answering no call) with the real API's error shapes, so a
//! provider bug shows up as the error it would get in production.
//!
//! Built only with the `test-support` feature. To drive a whole tick, start
//! a [`FakeServer`], point the provider at [`FakeServer::base_url`], queue
//! one answer per model turn with [`FakeServer::push_reply`] or
//! [`FakeServer::push_error`], and read what was sent with
//! [`FakeServer::request_bodies`].
//!
//! The OpenAI dialect streams like llama-cpp-python 0.3.36 does (the
//! captures in `actors/tests/fixtures/llama-cpp-python-0.3.36/`): a queued
//! completion answers a `stream: true` request as the event stream that
//! server would send for it ([`openai_event_stream`]), and
//! [`FakeServer::refuse_streamed_auto_tool_choice`] makes it answer a
//! streamed request with automatic tool choice as that server does, with an
//! empty stream. Captured streams can be served byte for byte with
//! [`Canned::event_stream`].

mod fake_anthropic;
mod fake_openai;
mod model;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use catalog::TokenUsage;
use futures::StreamExt as _;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use serde_json::Value;
use tokio::sync::oneshot;

pub use fake_anthropic::{anthropic_error, anthropic_message, anthropic_reply, anthropic_text};
pub use fake_openai::{
    openai_completion, openai_error, openai_event_stream, openai_reply, openai_text,
};
pub use model::{
    FakeModel, Fault, InvalidRequest, IssuedToolUse, ModelOptions, ModelStats, parse_request,
};

use crate::llm::Block;
use crate::llm::retry::RetryPolicy;

/// Retries fast enough for tests: five attempts, milliseconds apart.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
    }
}

/// Polls `condition` every 10 ms until it holds, failing after `limit`: the
/// one wait of every test suite, never a fixed sleep.
///
/// The deadline is on tokio's clock, so under a paused clock `limit` is
/// virtual time and the wait cannot spin for ever.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Which hosted API a [`FakeServer`] speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Anthropic Messages: `POST /v1/messages`, `x-api-key`,
    /// `anthropic-version`.
    Anthropic,
    /// OpenAI Chat Completions: `POST /v1/chat/completions` (the base URL
    /// ends in `/v1`).
    OpenAi,
}

/// The content type of a server-sent event stream, as llama-cpp-python's
/// sse-starlette sends it.
const EVENT_STREAM: &str = "text/event-stream; charset=utf-8";

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Canned {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// Never answer (the client's timeout has to fire).
    hang: bool,
    /// Send the body, then hold the response open without ending it: a
    /// server still generating. Only the client going away ends it.
    stall: bool,
}

impl Canned {
    /// A JSON body with `content-type: application/json`.
    pub fn json(status: u16, body: Value) -> Canned {
        Canned {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
            hang: false,
            stall: false,
        }
    }

    /// A body sent as is, under whatever content type is given.
    pub fn raw(status: u16, content_type: &str, body: &str) -> Canned {
        Canned {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
            hang: false,
            stall: false,
        }
    }

    /// A 200 server-sent event stream whose body is `events` byte for byte:
    /// a captured stream, or one built with [`openai_event_stream`]. An
    /// empty `events` is llama-cpp-python's answer to a request it cannot
    /// stream.
    pub fn event_stream(events: &str) -> Canned {
        Canned::raw(200, EVENT_STREAM, events)
    }

    /// Like [`Canned::event_stream`], but the stream stays open after
    /// `events` as if the model were still generating; it ends only when
    /// the client goes away, which [`FakeServer::streams_abandoned`]
    /// counts.
    pub fn stalled_event_stream(events: &str) -> Canned {
        Canned {
            stall: true,
            ..Canned::event_stream(events)
        }
    }

    /// An answer that never comes.
    pub fn hang() -> Canned {
        Canned {
            status: 200,
            headers: Vec::new(),
            body: String::new(),
            hang: true,
            stall: false,
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// The `content-type` given, if any.
    fn content_type(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.as_str())
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds `retry-after` in seconds (fractions kept, `0` for zero).
    pub fn retry_after(self, after: Duration) -> Canned {
        self.header("retry-after", &after.as_secs_f64().to_string())
    }
}

/// A request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Recorded {
    /// A header's value, if present and readable as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<Value, serde_json::Error> {
        serde_json::from_str(&self.body)
    }

    /// Whether the body asks for a streamed answer (`"stream": true`).
    pub fn is_streamed(&self) -> bool {
        self.json()
            .is_ok_and(|body| body["stream"].as_bool() == Some(true))
    }
}

/// Answers requests as they come, instead of from a queue: a model that
/// plays along ([`FakeModel`]).
#[async_trait::async_trait]
pub trait Respond: Send + Sync {
    async fn respond(&self, request: &Recorded) -> Canned;
}

struct Shared {
    dialect: Dialect,
    queue: Mutex<VecDeque<Canned>>,
    responder: Option<Arc<dyn Respond>>,
    /// Whether to keep every request (a long benchmark would grow without
    /// bound).
    record: bool,
    received: Mutex<Vec<Recorded>>,
    /// Fixed answers to `GET` requests by path, served every time, before
    /// the dialect's checks.
    gets: Mutex<HashMap<String, Canned>>,
    /// Answer streamed requests with automatic tool choice with an empty
    /// stream, as llama-cpp-python does.
    refuse_auto_streaming: AtomicBool,
    /// Stalled streams the client went away from.
    streams_abandoned: AtomicUsize,
}

impl Shared {
    fn new(dialect: Dialect, script: Vec<Canned>, responder: Option<Arc<dyn Respond>>) -> Shared {
        Shared {
            dialect,
            queue: Mutex::new(script.into()),
            record: responder.is_none(),
            responder,
            received: Mutex::new(Vec::new()),
            gets: Mutex::new(HashMap::new()),
            refuse_auto_streaming: AtomicBool::new(false),
            streams_abandoned: AtomicUsize::new(0),
        }
    }
}

/// Locks a mutex, carrying on past a test thread that panicked holding it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fake LLM API on a loopback port. It stops accepting connections when
/// dropped.
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// Dropping it shuts the server down.
    _shutdown: oneshot::Sender<()>,
}

impl std::fmt::Debug for FakeServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeServer")
            .field("dialect", &self.shared.dialect)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeServer {
    /// Binds `127.0.0.1:0`, then serves `script` in order, one canned answer
    /// per request that passes the API's own checks. Once the script runs
    /// out, every request gets a 500 in the dialect's error shape. Must be
    /// called inside a Tokio runtime.
    pub async fn start(dialect: Dialect, script: Vec<Canned>) -> io::Result<FakeServer> {
        FakeServer::serve(Shared::new(dialect, script, None)).await
    }

    /// Binds `127.0.0.1:0` and answers every request that passes the API's
    /// own checks with `responder`, in the Anthropic dialect. Requests are
    /// not recorded: the responder keeps what it needs.
    pub async fn start_model(responder: Arc<dyn Respond>) -> io::Result<FakeServer> {
        FakeServer::serve(Shared::new(Dialect::Anthropic, Vec::new(), Some(responder))).await
    }

    async fn serve(shared: Shared) -> io::Result<FakeServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(shared);
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&shared));
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    // An error only means the server was dropped.
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "fake LLM server stopped");
            }
        });
        Ok(FakeServer {
            addr,
            shared,
            _shutdown: shutdown,
        })
    }

    pub fn dialect(&self) -> Dialect {
        self.shared.dialect
    }

    /// The loopback address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the provider should be given as its base URL.
    pub fn base_url(&self) -> String {
        match self.shared.dialect {
            Dialect::Anthropic => format!("http://{}", self.addr),
            Dialect::OpenAi => format!("http://{}/v1", self.addr),
        }
    }

    /// Queues an answer after those already queued.
    pub fn push(&self, canned: Canned) {
        lock(&self.shared.queue).push_back(canned);
    }

    /// Queues a successful model turn made of `blocks` (text and tool
    /// uses, in order) with `usage`, in this server's dialect: see
    /// [`anthropic_reply`] and [`openai_reply`].
    pub fn push_reply(&self, blocks: &[Block], usage: TokenUsage) {
        self.push(match self.shared.dialect {
            Dialect::Anthropic => anthropic_reply(blocks, usage),
            Dialect::OpenAi => openai_reply(blocks, usage),
        });
    }

    /// Queues an error answer in this server's dialect: `kind` is the error
    /// type (`rate_limit_error`, `overloaded_error`, `insufficient_quota`…),
    /// and `retry_after`, when given, goes out as the `retry-after` header.
    pub fn push_error(
        &self,
        status: u16,
        kind: &str,
        message: &str,
        retry_after: Option<Duration>,
    ) {
        let canned = match self.shared.dialect {
            Dialect::Anthropic => anthropic_error(status, kind, message),
            Dialect::OpenAi => openai_error(status, kind, message),
        };
        self.push(match retry_after {
            Some(after) => canned.retry_after(after),
            None => canned,
        });
    }

    /// Answers every `GET path` with `canned` from now on (llama.cpp's
    /// `/props`, vLLM's `/v1/models`); other `GET`s get the dialect's 404.
    pub fn on_get(&self, path: &str, canned: Canned) {
        lock(&self.shared.gets).insert(path.to_owned(), canned);
    }

    /// From now on, answers a streamed request with tools and
    /// `tool_choice: "auto"` as llama-cpp-python 0.3.36 does: HTTP 200 and
    /// an empty event stream (fixture 11), leaving the queue as it is.
    pub fn refuse_streamed_auto_tool_choice(&self) {
        self.shared
            .refuse_auto_streaming
            .store(true, Ordering::Relaxed);
    }

    /// How many stalled streams ([`Canned::stalled_event_stream`]) ended
    /// because the client went away.
    pub fn streams_abandoned(&self) -> usize {
        self.shared.streams_abandoned.load(Ordering::Relaxed)
    }

    /// How many queued answers have not been served yet.
    pub fn pending(&self) -> usize {
        lock(&self.shared.queue).len()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.received).clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.shared.received).len()
    }

    /// The bodies of every request received so far, in order, as JSON; a
    /// body that is not JSON comes back as a JSON string holding it.
    pub fn request_bodies(&self) -> Vec<Value> {
        lock(&self.shared.received)
            .iter()
            .map(|request| {
                request
                    .json()
                    .unwrap_or_else(|_| Value::String(request.body.clone()))
            })
            .collect()
    }

    /// The one request the server got.
    ///
    /// # Panics
    ///
    /// Unless exactly one request was received: this is an assertion.
    pub fn only_request(&self) -> Recorded {
        let mut requests = self.requests();
        assert_eq!(requests.len(), 1, "expected exactly one request");
        requests.remove(0)
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method,
        path: uri.path().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    if shared.record {
        lock(&shared.received).push(recorded.clone());
    }
    if recorded.method == Method::GET {
        let fixed = lock(&shared.gets).get(&recorded.path).cloned();
        if let Some(canned) = fixed {
            return respond(canned, &shared);
        }
    }
    let refusal = match shared.dialect {
        Dialect::Anthropic => fake_anthropic::refusal(&recorded),
        Dialect::OpenAi => fake_openai::refusal(&recorded),
    };
    if let Some(refusal) = refusal {
        return respond(refusal, &shared);
    }
    if shared.dialect == Dialect::OpenAi
        && shared.refuse_auto_streaming.load(Ordering::Relaxed)
        && fake_openai::is_streamed_auto_tool_choice(&recorded)
    {
        return respond(Canned::event_stream(""), &shared);
    }
    if let Some(responder) = &shared.responder {
        let canned = responder.respond(&recorded).await;
        return respond(as_requested(&shared, &recorded, canned), &shared);
    }
    let next = lock(&shared.queue).pop_front();
    match next {
        Some(canned) if canned.hang => std::future::pending::<Response>().await,
        Some(canned) => respond(as_requested(&shared, &recorded, canned), &shared),
        None => {
            let message = "fake server: the test's script has no response left";
            let canned = match shared.dialect {
                Dialect::Anthropic => anthropic_error(500, "api_error", message),
                Dialect::OpenAi => openai_error(500, "server_error", message),
            };
            respond(canned, &shared)
        }
    }
}

/// A queued completion as the request asked for it: as an event stream
/// when it asked for one (OpenAI dialect only; the Anthropic provider never
/// streams). Errors, streams and bodies that are not a completion go out as
/// they are, as a real server sends an error before any stream begins.
fn as_requested(shared: &Shared, request: &Recorded, canned: Canned) -> Canned {
    if shared.dialect != Dialect::OpenAi
        || canned.status != 200
        || !request.is_streamed()
        || !canned
            .content_type()
            .is_some_and(|kind| kind.starts_with("application/json"))
    {
        return canned;
    }
    match serde_json::from_str::<Value>(&canned.body) {
        Ok(completion) if fake_openai::is_completion(&completion) => {
            let mut streamed = Canned::event_stream(&openai_event_stream(&completion));
            // Headers the test added (retry-after, …) travel along.
            streamed.headers.extend(
                canned
                    .headers
                    .into_iter()
                    .filter(|(name, _)| !name.eq_ignore_ascii_case("content-type")),
            );
            streamed
        }
        _ => canned,
    }
}

/// Counts a stalled stream that ended, which only the client going away
/// does.
struct Abandoned(Arc<Shared>);

impl Drop for Abandoned {
    fn drop(&mut self) {
        self.0.streams_abandoned.fetch_add(1, Ordering::Relaxed);
    }
}

/// A canned answer as an HTTP response; a status or header that HTTP cannot
/// carry becomes a 500 saying so, so a broken script fails loudly.
fn respond(canned: Canned, shared: &Arc<Shared>) -> Response {
    let broken = |what: String| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("fake server: the test's canned response has {what}"),
        )
            .into_response()
    };
    let Ok(status) = StatusCode::from_u16(canned.status) else {
        return broken(format!("an invalid status {}", canned.status));
    };
    let mut response = if canned.stall {
        let abandoned = Abandoned(Arc::clone(shared));
        let events =
            futures::stream::once(async move { Ok::<_, Infallible>(Bytes::from(canned.body)) })
                .chain(futures::stream::pending())
                // The stream owns the counter, so dropping the stream (hyper
                // does when the connection closes) counts it.
                .map(move |chunk| {
                    let _owned = &abandoned;
                    chunk
                });
        (status, Body::from_stream(events)).into_response()
    } else {
        (status, canned.body).into_response()
    };
    for (name, value) in &canned.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            return broken(format!("an invalid header {name:?}: {value:?}"));
        };
        response.headers_mut().insert(name, value);
    }
    response
}
