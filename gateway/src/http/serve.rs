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
//!   the kernel's backlog instead of costing memory; they are served as soon
//!   as a slot frees;
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

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
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
    let graceful = GracefulShutdown::new();
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        // The semaphore is never closed, so this is always a permit.
        let Ok(slot) = slot else { break };
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
        let service = ServiceBuilder::new()
            .layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout))
            .map_request(move |request: http::Request<TimeoutBody<Incoming>>| {
                let mut request = request.map(axum::body::Body::new);
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            })
            .service(router.clone());
        let connection = graceful
            .watch(http1.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service)));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::trace!(%error, %peer, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
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
