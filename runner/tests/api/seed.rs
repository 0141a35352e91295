//! `persona gateway` + `persona seed` + `persona cleanup` as real processes:
//! a fresh gateway is seeded twice (the second run changes nothing), a
//! seeded persona logs in with its derived password, its todo written over
//! MCP is ciphertext in the database, and cleanup removes every persona.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{Process, exit_status, persona_command, run_ok, send_signal};

/// `persona gateway` in `dir` on its own SQLite file; returns the process
/// and the URL it serves on.
fn start_gateway(dir: &std::path::Path) -> (Process, String) {
    Process::start(
        persona_command(dir)
            .args([
                "gateway",
                "--addr",
                "127.0.0.1:0",
                "--db",
                "sqlite://persona.db",
            ])
            .stderr(Stdio::null()),
        "gateway listening on ",
    )
    .expect("the gateway printed its address")
}

/// The JSON-RPC response inside an SSE or JSON body.
fn rpc_result(body: &str) -> Value {
    body.lines()
        .filter_map(|line| line.strip_prefix("data: ").or(Some(line)))
        .filter_map(|data| serde_json::from_str::<Value>(data).ok())
        .find(|value| value.get("result").is_some() || value.get("error").is_some())
        .unwrap_or_else(|| panic!("no JSON-RPC response in {body}"))
}

#[tokio::test]
async fn a_fresh_gateway_is_seeded_twice_and_serves_a_persona_over_mcp() {
    let dir = tempfile::tempdir().unwrap();
    let (mut gateway, url) = start_gateway(dir.path());
    let first = run_ok(persona_command(dir.path()).args(["seed", "--api", &url]));
    assert!(
        first.contains(
            "10 personas: 10 created, 0 updated, 0 unchanged; 3 shared spaces, 3 changed"
        ),
        "{first}"
    );
    let second = run_ok(persona_command(dir.path()).args(["seed", "--api", &url]));
    assert!(second.contains("nothing changed"), "{second}");

    // A seeded persona logs in with its derived password.
    let email = "anna.keller@mana.test";
    let password = catalog::derive_password(&catalog::SeedSecret::dev_fallback(), email);
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("login succeeded").to_owned();
    let spaces: Value = http
        .get(format!("{url}/api/v1/spaces"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let types: Vec<&str> = spaces["spaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        vec!["personal", "family"],
        "seed created the family space"
    );
    let space = spaces["spaces"][0]["id"].as_str().unwrap().to_owned();

    let mcp = |session: Option<&str>, body: Value| {
        let mut request = http
            .post(format!("{url}/mcp"))
            .bearer_auth(&token)
            .header(catalog::SPACE_HEADER, &space)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request.send()
    };
    let init = mcp(None, json!({ "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "seed-test", "version": "1" } } })).await.unwrap();
    let session = init.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let _ = init.text().await;
    mcp(
        Some(&session),
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    )
    .await
    .unwrap();
    let call = mcp(Some(&session), json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": { "name": "todo.create", "arguments": { "title": "Geschenk für Mia" } } })).await.unwrap();
    let result = rpc_result(&call.text().await.unwrap());
    assert_eq!(result["result"]["isError"], false, "{result}");
    let todo_id = result["result"]["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let store = gateway::Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("persona.db").display()
    ))
    .await
    .unwrap();
    let raw = store
        .record(&space, "tasks", &todo_id)
        .await
        .unwrap()
        .unwrap();
    assert!(
        raw.data["title"].as_str().unwrap().starts_with("enc:1:"),
        "{:?}",
        raw.data
    );
    store.close().await;

    let cleaned = run_ok(persona_command(dir.path()).args(["cleanup", "--api", &url]));
    assert!(
        cleaned.contains("10 personas deleted, 0 failed"),
        "{cleaned}"
    );

    // SIGTERM ends the gateway cleanly.
    send_signal(gateway.id(), "TERM");
    let status = exit_status(
        &mut gateway.child,
        Duration::from_secs(60),
        "the gateway to exit after SIGTERM",
    )
    .await;
    assert!(status.success(), "{status}");
}

#[test]
fn production_refuses_missing_secrets_and_the_dev_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let output = persona_command(dir.path())
        .args(["gateway", "--addr", "127.0.0.1:0"])
        .env("PERSONA_ENV", "production")
        .env("PERSONA_SEED_SECRET", catalog::DEV_FALLBACK_SEED_SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PERSONA_SEED_SECRET"), "{stderr}");
    let output = persona_command(dir.path())
        .args(["gateway", "--addr", "127.0.0.1:0"])
        .env("PERSONA_ENV", "production")
        .env("PERSONA_SEED_SECRET", "a-real-secret")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("MANA_SERVICE_KEY must be set"));
}
