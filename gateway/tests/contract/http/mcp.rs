//! The MCP endpoint over HTTP: sessions belong to their user and their
//! space, malformed requests get a 4xx, the session bound evicts the least
//! recently used, foreign hosts and origins are refused, newer clients are
//! served statelessly, and the official Python client works end to end.

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
async fn sessions_past_the_bound_close_the_least_recently_used() {
    let db = backends().await.remove(0);
    let mut config = test_config();
    config.mcp_max_sessions = 2;
    let app = spawn_app(db, config).await;
    let anna = app.user("anna@example.org").await;
    let first = app.mcp_session(&anna).await;
    let second = app.mcp_session(&anna).await;
    let third = app.mcp_session(&anna).await;
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    assert_eq!(
        app.mcp(&anna.token, &anna.space_id, Some(&first), &list)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    for session in [&second, &third] {
        assert_eq!(
            app.mcp(&anna.token, &anna.space_id, Some(session), &list)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    assert_eq!(app.state.sessions.len(), 2);
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
