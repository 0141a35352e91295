//! Accepting connections for an axum server.

use axum::serve::{Listener, ListenerExt as _};
use tokio::net::TcpListener;

/// `listener` with Nagle's algorithm off on every accepted connection.
///
/// IMPORTANT: axum leaves Nagle on. A streamed response (an MCP answer is
/// SSE: headers, then an event) is two small writes; on a kept-alive
/// connection the second one waits for the ACK of the first, which the
/// client delays by up to 40 ms. Every tool call paid that.
pub fn without_nagle(listener: TcpListener) -> impl Listener<Addr = std::net::SocketAddr> {
    listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "could not set TCP_NODELAY on an accepted connection");
        }
    })
}
