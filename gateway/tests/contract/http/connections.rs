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

/// At the connection limit, the oldest connection with no request in flight
/// makes room: with a header timeout of an hour, nothing else would free a
/// slot, yet `/health` answers through a flood of silent and half-sent
/// sockets, while a request in flight (an open SSE stream of an MCP
/// session would be one) keeps its connection.
#[tokio::test]
async fn at_the_limit_idle_connections_make_room_and_busy_ones_stay() {
    let db = backends().await.remove(0);
    let mut config = test_config();
    config.connections = ConnectionLimits {
        max_connections: 20,
        header_read_timeout: Duration::from_secs(3600),
        body_read_timeout: Duration::from_secs(3600),
    };
    let app = spawn_app(db, config).await;
    let address = app.url.trim_start_matches("http://").to_owned();

    // Each request on a connection of its own, as a new client's would be.
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let health = || fresh.get(format!("{}/health", app.url)).send();
    // A request in flight: its body has not finished arriving.
    let mut busy = TcpStream::connect(&address).await.unwrap();
    busy.write_all(
        b"POST /api/v1/auth/login HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"email\":",
    )
    .await
    .unwrap();
    // Let the server take it in before the flood arrives.
    let ready = tokio::time::timeout(PATIENCE, health())
        .await
        .expect("/health answers")
        .unwrap();
    assert_eq!(ready.status(), 200);

    let mut flood = Vec::new();
    for index in 0..120 {
        let mut socket = TcpStream::connect(&address).await.unwrap();
        if index % 2 == 0 {
            socket
                .write_all(b"GET /health HTTP/1.1\r\nhost: loc")
                .await
                .unwrap();
        }
        flood.push(socket);
    }
    for round in 0..3 {
        let answer = tokio::time::timeout(PATIENCE, health())
            .await
            .unwrap_or_else(|_| panic!("/health round {round} waited for a header timeout"))
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let shed = app
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(shed.contains("gateway_connections_shed_total"), "{shed}");

    // The request in flight was never shed: it still gets its answer.
    busy.write_all(&[b' '; 91]).await.unwrap();
    let mut answer = [0u8; 12];
    tokio::time::timeout(PATIENCE, busy.read_exact(&mut answer))
        .await
        .expect("the busy connection answers")
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 "), "{answer:?}");
    drop(flood);
    app.stop().await;
}
