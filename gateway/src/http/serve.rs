//! Serving an axum router on a TCP listener with connection limits: the one
//! serving function of every server in the workspace (the gateway, the
//! runner's control API, the benchmarks' peers).
//!
//! `axum::serve` bounds nothing: a client that connects and never sends a
//! byte, or sends half a request head, or keeps an idle connection open,
//! holds a socket and a task for ever, and 20,000 of them exhaust the file
//! descriptors. Here every connection is served by hyper's HTTP/1 builder
//! with a timer, so:
//!
//! - **`max_connections`**: a semaphore permit is taken *before* each
//!   `accept` (as mini-redis does), so past the limit new connections wait in
//!   the kernel's backlog instead of costing memory. At the limit, the
//!   oldest connection with no request in flight (a silent client, one stuck
//!   in a request head, an idle kept-alive one) is closed to make room
//!   ([`OpenConnections::shed_oldest_idle`]): a flood of sockets that never
//!   finish a request cannot keep an honest client waiting for the header
//!   timeout. A connection answering a request (a streamed response
//!   included) is never shed; when every one is busy, new ones wait;
//! - **`header_read_timeout`**: a request head must arrive within it,
//!   counted from when the server starts waiting for one: on a new
//!   connection (silent and slow-header clients) and between requests on a
//!   kept-alive one (hyper's HTTP/1 arms the same timer there), so it is also
//!   the idle keep-alive timeout; the connection is closed at the deadline;
//! - **`body_read_timeout`**: a request body that sends no bytes for this
//!   long fails (tower-http's `RequestBodyTimeout`), so a stalled upload
//!   does not hold its slot either.
//!
//! HTTP/1 only, deliberately: the workspace builds hyper without HTTP/2, and
//! hyper-util's `auto` builder first reads the HTTP/2 preface with no timeout
//! at all, so a silent client would never be closed.
//!
//! Nagle's algorithm is off on every connection. IMPORTANT: a streamed
//! response (an MCP answer is SSE: headers, then an event) is two small
//! writes; on a kept-alive connection the second one waits for the ACK of
//! the first, which the client delays by up to 40 ms.
//!
//! Each request carries `axum::extract::ConnectInfo<SocketAddr>` (the peer).

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutBody};

/// How many connections a server holds and how long it waits for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// At most this many connections are served at once; more wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
    /// A request head (first request or next one on a kept-alive connection)
    /// must arrive within this; else the connection is closed.
    pub header_read_timeout: Duration,
    /// A request body silent this long fails the request.
    pub body_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    /// Well under the usual 20,000-descriptor limit, a few tens of MB of
    /// idle connections at most, and timeouts no honest client meets on a
    /// loopback or LAN path (hyper's own default header timeout is 30 s).
    fn default() -> Self {
        ConnectionLimits {
            max_connections: 2048,
            header_read_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` resolves;
/// then stops accepting and waits for the open connections to finish their
/// requests (idle ones close at once).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let open = Arc::new(OpenConnections::default());
    let graceful = GracefulShutdown::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                // Full: make room by closing an idle connection, whose task
                // then gives its slot back; if all are busy, wait for one.
                open.shed_oldest_idle();
                let slot = tokio::select! {
                    slot = slots.clone().acquire_owned() => slot,
                    () = &mut shutdown => break,
                };
                // The semaphore is never closed, so this is always a permit.
                let Ok(slot) = slot else { break };
                slot
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    wait_after_accept_error(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY on an accepted connection");
        }
        let (id, in_flight, close) = open.add();
        let counting = in_flight.clone();
        let service = ServiceBuilder::new()
            .layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout))
            .map_request(move |request: http::Request<TimeoutBody<Incoming>>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                counting.fetch_add(1, Ordering::SeqCst);
                request
            })
            .map_response(move |response: axum::response::Response| {
                // In flight until hyper has written the whole body (a
                // streamed one too) and dropped it.
                let guard = InFlight(in_flight.clone());
                response.map(|body| {
                    axum::body::Body::new(CountedBody {
                        body,
                        _guard: guard,
                    })
                })
            })
            .service(router.clone());
        let connection = graceful
            .watch(http1.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        let open = open.clone();
        tokio::spawn(async move {
            tokio::select! {
                ended = connection => {
                    if let Err(error) = ended {
                        tracing::trace!(%error, %peer, "connection ended with an error");
                    }
                }
                () = close.cancelled() => {
                    metrics::counter!(crate::metrics::CONNECTIONS_SHED_TOTAL).increment(1);
                }
            }
            open.remove(id);
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The open connections in the order they were accepted: whether each has a
/// request in flight, and how to close it.
#[derive(Default)]
struct OpenConnections {
    next_id: AtomicU64,
    open: Mutex<VecDeque<OpenConnection>>,
}

struct OpenConnection {
    id: u64,
    /// Requests received whose response body is not yet written.
    in_flight: Arc<AtomicUsize>,
    close: CancellationToken,
}

impl OpenConnections {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<OpenConnection>> {
        // Each change is one push, removal or cancel: a poisoned list is whole.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new connection: its id, its in-flight count and the
    /// token that closes it.
    fn add(&self) -> (u64, Arc<AtomicUsize>, CancellationToken) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let in_flight = Arc::new(AtomicUsize::new(0));
        let close = CancellationToken::new();
        self.lock().push_back(OpenConnection {
            id,
            in_flight: in_flight.clone(),
            close: close.clone(),
        });
        (id, in_flight, close)
    }

    fn remove(&self, id: u64) {
        let mut open = self.lock();
        if let Some(index) = open.iter().position(|connection| connection.id == id) {
            open.remove(index);
        }
    }

    /// Closes the oldest connection with no request in flight; `false` when
    /// every connection is busy.
    fn shed_oldest_idle(&self) -> bool {
        let mut open = self.lock();
        let idle = open.iter().position(|connection| {
            connection.in_flight.load(Ordering::SeqCst) == 0 && !connection.close.is_cancelled()
        });
        match idle.and_then(|index| open.remove(index)) {
            Some(connection) => {
                connection.close.cancel();
                true
            }
            None => false,
        }
    }
}

/// Counts a request as finished when dropped.
struct InFlight(Arc<AtomicUsize>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its request in flight until it is dropped.
struct CountedBody {
    body: axum::body::Body,
    _guard: InFlight,
}

impl http_body::Body for CountedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// After a failed `accept`: a failure of that one connection (reset before
/// it was accepted) is skipped at once; anything else (out of descriptors)
/// waits a second, as axum does, so the loop does not spin.
async fn wait_after_accept_error(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
