//! Accepting connections for an axum server.

use axum::serve::{ListenerExt as _, TapIo};
use tokio::net::{TcpListener, TcpStream};

/// `listener` with Nagle's algorithm off on every accepted connection.
///
/// IMPORTANT: axum leaves Nagle on. A streamed response (an MCP answer is
/// SSE: headers, then an event) is two small writes; on a kept-alive
/// connection the second one waits for the ACK of the first, which the
/// client delays by up to 40 ms. Every tool call paid that.
///
/// A nameable type, so a server can take the peer's address
/// (`into_make_service_with_connect_info::<SocketAddr>`).
pub fn without_nagle(listener: TcpListener) -> TapIo<TcpListener, fn(&mut TcpStream)> {
    listener.tap_io(set_nodelay)
}

fn set_nodelay(stream: &mut TcpStream) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "could not set TCP_NODELAY on an accepted connection");
    }
}
