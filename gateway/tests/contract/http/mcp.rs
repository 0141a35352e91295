//! The MCP endpoint over HTTP: sessions belong to their user and their
//! space, malformed requests get a 4xx (a body over the limit 413 however it
//! is sent, a body that is not JSON-RPC a JSON-RPC error), one user's
//! sessions never evict another's and the global bound refuses, idle
//! sessions expire, tool errors quote no more than a prefix of a value,
//! foreign hosts and origins are refused, newer clients are served
//! statelessly, and the official Python client works end to end.

use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::{TestApp, backends, error_body, initialize, spawn_app, test_config};

fn delete(app: &TestApp, token: &str, space: &str, session: &str) -> reqwest::RequestBuilder {
    app.http
        .delete(format!("{}/mcp", app.url))
        .bearer_auth(token)
        .header(catalog::SPACE_HEADER, space)
        .header("mcp-session-id", session)
}

fn open_stream(app: &TestApp, token: &str, space: &str, session: &str) -> reqwest::RequestBuilder {
    app.http
        .get(format!("{}/mcp", app.url))
        .bearer_auth(token)
        .header(catalog::SPACE_HEADER, space)
        .header("accept", "text/event-stream")
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-11-25")
}

#[tokio::test]
async fn a_session_belongs_to_the_user_who_opened_it() {
    let db = backends().await.remove(0);
    let app = spawn_app(db, test_config()).await;
    let anna = app.user("anna@example.org").await;
    let ben = app.user("ben@example.org").await;
    let session = app.mcp_session(&anna).await;
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });

    let ok = app
        .mcp(&anna.token, &anna.space_id, Some(&session), &list)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("todo.create"));

    // Ben, with his own valid token and space, on Anna's session: 403 everywhere.
    let post = app
        .mcp(&ben.token, &ben.space_id, Some(&session), &list)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 403);
    error_body(post).await;
    assert_eq!(
        open_stream(&app, &ben.token, &ben.space_id, &session)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        delete(&app, &ben.token, &ben.space_id, &session)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );

    // An unknown session: 404 everywhere.
    let unknown = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        app.mcp(&anna.token, &anna.space_id, Some(unknown), &list)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        open_stream(&app, &anna.token, &anna.space_id, unknown)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        delete(&app, &anna.token, &anna.space_id, unknown)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Anna closes her session; it is gone afterwards.
    assert_eq!(
        delete(&app, &anna.token, &anna.space_id, &session)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.mcp(&anna.token, &anna.space_id, Some(&session), &list)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    app.stop().await;
}

#[tokio::test]
async fn the_space_header_must_name_a_space_of_the_caller() {
    let db = backends().await.remove(0);
    let app = spawn_app(db, test_config()).await;
    let anna = app.user("anna@example.org").await;
    let ben = app.user("ben@example.org").await;
    let foreign = app
        .mcp(&anna.token, &ben.space_id, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let missing = app
        .http
        .post(format!("{}/mcp", app.url))
        .bearer_auth(&anna.token)
        .header("accept", "application/json, text/event-stream")
        .json(&initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);
    assert!(
        error_body(missing).await["error"]
            .as_str()
            .unwrap()
            .contains("X-Mana-Space")
    );
    let anonymous = app
        .http
        .post(format!("{}/mcp", app.url))
        .json(&initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let forged = app
        .mcp("not.a.jwt", &anna.space_id, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_a_4xx_never_a_5xx() {
    let db = backends().await.remove(0);
    let mut config = test_config();
    config.max_body_bytes = 64 * 1024;
    let app = spawn_app(db, config).await;
    let anna = app.user("anna@example.org").await;
    let base = || {
        app.http
            .post(format!("{}/mcp", app.url))
            .bearer_auth(&anna.token)
            .header(catalog::SPACE_HEADER, &anna.space_id)
    };
    let cases = [
        (
            "not json",
            base()
                .header("accept", "application/json, text/event-stream")
                .header("content-type", "application/json")
                .body("{nope"),
        ),
        (
            "not json-rpc",
            base()
                .header("accept", "application/json, text/event-stream")
                .json(&json!({ "hello": "world" })),
        ),
        (
            "wrong content type",
            base()
                .header("accept", "application/json, text/event-stream")
                .header("content-type", "text/plain")
                .body("{}"),
        ),
        (
            "wrong accept",
            base().header("accept", "text/html").json(&initialize()),
        ),
        (
            "oversized",
            base()
                .header("accept", "application/json, text/event-stream")
                .header("content-type", "application/json")
                .body("x".repeat(200 * 1024)),
        ),
    ];
    for (case, request) in cases {
        let status = request.send().await.unwrap().status();
        assert!(status.is_client_error(), "{case}: {status}");
    }
    app.stop().await;
}

#[tokio::test]
async fn one_user_past_its_session_bound_evicts_only_its_own_sessions() {
    let db = backends().await.remove(0);
    let mut config = test_config();
    config.mcp_max_sessions_per_user = 3;
    config.mcp_max_sessions = 5;
    let app = spawn_app(db, config).await;
    let anna = app.user("anna@example.org").await;
    let ben = app.user("ben@example.org").await;
    let bens = app.mcp_session(&ben).await;
    let mut annas = Vec::new();
    for _ in 0..20 {
        annas.push(app.mcp_session(&anna).await);
    }
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    let status = |user: &crate::helpers::TestUser, session: String| {
        let request = app.mcp(&user.token, &user.space_id, Some(&session), &list);
        async move { request.send().await.unwrap().status() }
    };
    // Ben's session survived twenty of Anna's.
    assert_eq!(status(&ben, bens.clone()).await, 200);
    // Anna keeps her three most recent; her oldest went.
    assert_eq!(status(&anna, annas[0].clone()).await, 404);
    for session in &annas[17..] {
        assert_eq!(status(&anna, session.clone()).await, 200);
    }
    assert_eq!(app.state.sessions.len(), 4);

    // The global bound refuses a new session, clearly, and closes nobody's.
    let carla = app.user("carla@example.org").await;
    app.mcp_session(&carla).await;
    let refused = app
        .mcp(&carla.token, &carla.space_id, None, &initialize())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(error_body(refused).await["code"], "too_many_sessions");
    assert_eq!(status(&ben, bens).await, 200);
    assert_eq!(app.state.sessions.len(), 5);
    app.stop().await;
}

#[tokio::test]
async fn idle_sessions_expire_and_the_gauge_follows() {
    let db = backends().await.remove(0);
    let mut config = test_config();
    config.mcp_session_idle = std::time::Duration::from_millis(200);
    let app = spawn_app(db, config).await;
    let anna = app.user("anna@example.org").await;
    let session = app.mcp_session(&anna).await;
    assert_eq!(app.state.sessions.len(), 1);
    // Waits on the condition (a /metrics read prunes), never a fixed sleep.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let metrics = app
            .get("/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(metrics.contains("gateway_mcp_sessions"), "{metrics}");
        if app.state.sessions.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the idle session was never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Expired here means closed in rmcp too: the session is gone.
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    let gone = app
        .mcp(&anna.token, &anna.space_id, Some(&session), &list)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    assert!(
        app.state
            .sessions
            .manager()
            .sessions
            .read()
            .await
            .is_empty()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_413_like_a_sized_one() {
    let db = backends().await.remove(0);
    let mut config = test_config();
    config.max_body_bytes = 64 * 1024;
    let app = spawn_app(db, config).await;
    let anna = app.user("anna@example.org").await;
    let oversized = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"pad":"{}"}}}}"#,
        "x".repeat(100 * 1024)
    );
    let sized = app
        .http
        .post(format!("{}/mcp", app.url))
        .bearer_auth(&anna.token)
        .header(catalog::SPACE_HEADER, &anna.space_id)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(oversized.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(sized.status(), 413);
    let head = format!(
        "POST /mcp HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {}\r\n\
         {}: {}\r\naccept: application/json, text/event-stream\r\n\
         content-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        anna.token,
        catalog::SPACE_HEADER,
        anna.space_id
    );
    let answer = raw_exchange(&app, head, oversized.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(r#""code":"too_large""#), "{answer}");
    app.stop().await;
}

/// Sends `head` and then `body` chunked over a raw connection (reqwest
/// cannot send a chunked body without its `stream` feature); the answer as
/// text, read until the server closes (bounded).
async fn raw_exchange(app: &TestApp, head: String, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let address = app.url.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(address).await.unwrap();
    socket.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8 * 1024) {
        let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
        // The server may answer and close before the whole body is sent.
        if socket.write_all(&framed).await.is_err() {
            break;
        }
    }
    let _ = socket.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        socket.read_to_end(&mut answer),
    )
    .await
    .expect("the server answers and closes")
    .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_body_that_is_not_json_rpc_gets_a_json_rpc_error() {
    let db = backends().await.remove(0);
    let app = spawn_app(db, test_config()).await;
    let anna = app.user("anna@example.org").await;
    let post = |body: &'static str| {
        app.http
            .post(format!("{}/mcp", app.url))
            .bearer_auth(&anna.token)
            .header(catalog::SPACE_HEADER, &anna.space_id)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .body(body)
    };
    for (body, code) in [
        ("{nope", -32700),
        ("", -32700),
        (r#"{"hello":"world"}"#, -32600),
    ] {
        let response = post(body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["jsonrpc"], "2.0", "{answer}");
        assert_eq!(answer["id"], Value::Null, "{answer}");
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_tool_error_quotes_only_a_short_marked_prefix_of_a_huge_value() {
    let db = backends().await.remove(0);
    let app = spawn_app(db, test_config()).await;
    let anna = app.user("anna@example.org").await;
    let session = app.mcp_session(&anna).await;
    let huge = "geheim".repeat(200_000);
    let call = json!({ "jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": { "name": "todo.create", "arguments": { "title": huge } } });
    let response = app
        .mcp(&anna.token, &anna.space_id, Some(&session), &call)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(
        body.contains(r#""isError":true"#),
        "{}",
        &body[..body.len().min(500)]
    );
    assert!(body.contains("title"), "{body}");
    assert!(body.contains("(cut, "), "{body}");
    assert!(body.len() < 2_000, "the error echoed {} bytes", body.len());
    app.stop().await;
}

/// Makes the official MCP Python SDK importable, installing it from the
/// package registry if needed; `false` (loudly) when that is impossible.
fn official_python_client() -> bool {
    let importable = || {
        Command::new("python3")
            .args(["-c", "import mcp, httpx2"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if importable() {
        return true;
    }
    let _ = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "mcp>=2"])
        .status();
    if importable() {
        return true;
    }
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!(
            "CI=true but the official MCP Python client (pip package `mcp`) cannot be installed"
        );
    }
    eprintln!(
        "\n*** SKIPPED: the official MCP Python client (pip install \"mcp>=2\") is not available ***\n"
    );
    false
}

#[tokio::test]
async fn the_official_python_client_creates_and_lists_todos() {
    if !official_python_client() {
        return;
    }
    for db in backends().await {
        let app = spawn_app(db, test_config()).await;
        let anna = app.user("anna@example.org").await;
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/contract/http/official_client.py"
        );
        let url = format!("{}/mcp", app.url);
        let (token, space) = (anna.token.clone(), anna.space_id.clone());
        let output = tokio::task::spawn_blocking(move || {
            Command::new("python3")
                .args([script, &url, &token, &space])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "{}: python client failed: {stderr}",
            app.db.label
        );
        assert!(!stderr.contains("failed"), "{stderr}");
        let seen: Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(seen["protocolVersion"], "2025-11-25");
        assert_eq!(seen["tools"].as_array().unwrap().len(), 20);
        assert_eq!(seen["created"]["isError"], false);
        assert_eq!(
            seen["listed"]["structured"]["tasks"][0]["title"],
            "Einkaufen (Python-Client)"
        );
        assert_eq!(seen["invalid"]["isError"], true);
        assert!(seen["invalid"]["text"].as_str().unwrap().contains("title"));

        // The title the client wrote is ciphertext in the database.
        let id = seen["created"]["structured"]["id"].as_str().unwrap();
        let raw = app
            .db
            .store
            .record(&anna.space_id, "tasks", id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            raw.data["title"].as_str().unwrap().starts_with("enc:1:"),
            "{}",
            app.db.label
        );
        let metrics = app
            .get("/metrics")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(metrics.contains("gateway_tool_call_seconds"), "{metrics}");
        app.stop().await;
    }
}

#[tokio::test]
async fn foreign_hosts_and_origins_are_refused() {
    let db = backends().await.remove(0);
    let mut config = test_config();
    config.allowed_origins = vec!["https://app.example.org:443".into()];
    let app = spawn_app(db, config).await;
    let anna = app.user("anna@example.org").await;
    let rebinding = app
        .mcp(&anna.token, &anna.space_id, None, &initialize())
        .header("host", "evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        rebinding.status(),
        403,
        "DNS rebinding: a foreign Host is refused"
    );
    let foreign_origin = app
        .mcp(&anna.token, &anna.space_id, None, &initialize())
        .header("origin", "https://evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign_origin.status(), 403);
    let allowed = app
        .mcp(&anna.token, &anna.space_id, None, &initialize())
        .header("origin", "https://app.example.org")
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn clients_on_2026_07_28_are_served_statelessly() {
    let db = backends().await.remove(0);
    let app = spawn_app(db, test_config()).await;
    let anna = app.user("anna@example.org").await;
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "test", "version": "1" }
    });
    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "todo.create", "arguments": { "title": "Ohne Sitzung" }, "_meta": meta } });
    let response = app
        .mcp(&anna.token, &anna.space_id, None, &call)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "todo.create")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("mcp-session-id").is_none(),
        "no session on 2026-07-28"
    );
    let body = response.text().await.unwrap();
    assert!(
        body.contains(r#""isError":false"#) && body.contains("Ohne Sitzung"),
        "{body}"
    );
    // The guard still applies: another user's space is refused.
    let ben = app.user("ben@example.org").await;
    let foreign = app
        .mcp(&anna.token, &ben.space_id, None, &call)
        .header("mcp-protocol-version", "2026-07-28")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    assert_eq!(app.state.sessions.len(), 0);
    app.stop().await;
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let db = backends().await.remove(0);
    let app = spawn_app(db, test_config()).await;
    let anna = app.user("anna@example.org").await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let authorization = format!("{scheme} {}", anna.token);
        let spaces = app
            .get("/api/v1/spaces")
            .header("authorization", &authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(spaces.status(), 200, "{scheme}");
        let opened = app
            .http
            .post(format!("{}/mcp", app.url))
            .header("authorization", &authorization)
            .header(catalog::SPACE_HEADER, &anna.space_id)
            .header("accept", "application/json, text/event-stream")
            .json(&initialize())
            .send()
            .await
            .unwrap();
        assert_eq!(opened.status(), 200, "{scheme}");
    }
    let other = app
        .get("/api/v1/spaces")
        .header("authorization", format!("Basic {}", anna.token))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401);
    app.stop().await;
}
