//! The gateway's connections under abuse, over raw loopback sockets: silent
//! clients, clients stuck in the middle of a request head and idle
//! kept-alive connections are closed by the server, more of them than the
//! connection limit only wait, and `/health` still answers. Every wait is
//! for a condition (the server closed the socket), bounded by a timeout.

use std::time::Duration;

use gateway::http::ConnectionLimits;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{backends, spawn_app, test_config};

/// Far above what the closes below need (a few header timeouts); only a
/// server that never closes reaches it.
const PATIENCE: Duration = Duration::from_secs(30);

/// Reads until the server closes `socket` (EOF or reset); false if it is
/// still open after `PATIENCE`.
async fn closed_by_server(socket: &mut TcpStream) -> bool {
    let mut buffer = [0u8; 1024];
    let read_until_closed = async {
        loop {
            match socket.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(PATIENCE, read_until_closed)
        .await
        .is_ok()
}

#[tokio::test]
async fn silent_slow_and_idle_clients_are_closed_and_health_still_answers() {
    let db = backends().await.remove(0);
    let mut config = test_config();
    config.connections = ConnectionLimits {
        max_connections: 50,
        header_read_timeout: Duration::from_millis(300),
        body_read_timeout: Duration::from_millis(300),
    };
    let app = spawn_app(db, config).await;
    let address = app.url.trim_start_matches("http://").to_owned();

    let mut silent = Vec::new();
    for _ in 0..200 {
        silent.push(TcpStream::connect(&address).await.unwrap());
    }
    let mut partial = Vec::new();
    for _ in 0..20 {
        let mut socket = TcpStream::connect(&address).await.unwrap();
        socket
            .write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\nx-slow: ")
            .await
            .unwrap();
        partial.push(socket);
    }

    // 220 abusive sockets against a limit of 50: a normal request waits for
    // a free slot and is served.
    let health = tokio::time::timeout(PATIENCE, app.get("/health").send())
        .await
        .expect("/health answers while the server is flooded")
        .unwrap();
    assert_eq!(health.status(), 200);

    for (kind, sockets) in [("silent", &mut silent), ("partial-header", &mut partial)] {
        for (index, socket) in sockets.iter_mut().enumerate() {
            assert!(
                closed_by_server(socket).await,
                "{kind} socket {index} was never closed"
            );
        }
    }

    // A kept-alive connection that goes quiet after its answer is closed too.
    let mut idle = TcpStream::connect(&address).await.unwrap();
    idle.write_all(b"GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    assert!(
        closed_by_server(&mut idle).await,
        "the idle keep-alive connection was never closed"
    );

    app.stop().await;
}
