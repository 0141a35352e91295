//! `persona gateway` + `persona seed` + `persona cleanup` as real processes:
//! a fresh gateway is seeded twice (the second run changes nothing), a
//! seeded persona logs in with its derived password, its todo written over
//! MCP is ciphertext in the database, and cleanup removes every persona.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

struct RunningGateway {
    child: Child,
    url: String,
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

fn persona(dir: &std::path::Path) -> Command {
    crate::helpers::persona_command(dir)
}

fn start_gateway(dir: &std::path::Path) -> RunningGateway {
    let mut child = persona(dir)
        .args([
            "gateway",
            "--addr",
            "127.0.0.1:0",
            "--db",
            "sqlite://persona.db",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("gateway listening on ") {
                let _ = sender.send(url.to_owned());
            }
        }
    });
    let url = receiver
        .recv_timeout(Duration::from_secs(60))
        .expect("the gateway printed its address");
    RunningGateway { child, url }
}

fn run(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
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
    let mut gateway = start_gateway(dir.path());
    let first = run(persona(dir.path()).args(["seed", "--api", &gateway.url]));
    assert!(
        first.contains(
            "10 personas: 10 created, 0 updated, 0 unchanged; 3 shared spaces, 3 changed"
        ),
        "{first}"
    );
    let second = run(persona(dir.path()).args(["seed", "--api", &gateway.url]));
    assert!(second.contains("nothing changed"), "{second}");

    // A seeded persona logs in with its derived password.
    let email = "anna.keller@mana.test";
    let password = catalog::derive_password(&catalog::SeedSecret::dev_fallback(), email);
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{}/api/v1/auth/login", gateway.url))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().expect("login succeeded").to_owned();
    let spaces: Value = http
        .get(format!("{}/api/v1/spaces", gateway.url))
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
            .post(format!("{}/mcp", gateway.url))
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

    let cleaned = run(persona(dir.path()).args(["cleanup", "--api", &gateway.url]));
    assert!(
        cleaned.contains("10 personas deleted, 0 failed"),
        "{cleaned}"
    );

    // SIGTERM ends the gateway cleanly.
    let pid = gateway.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = gateway.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[test]
fn production_refuses_missing_secrets_and_the_dev_fallback() {
    let dir = tempfile::tempdir().unwrap();
    let output = persona(dir.path())
        .args(["gateway", "--addr", "127.0.0.1:0"])
        .env("PERSONA_ENV", "production")
        .env("PERSONA_SEED_SECRET", catalog::DEV_FALLBACK_SEED_SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("PERSONA_SEED_SECRET"), "{stderr}");
    let output = persona(dir.path())
        .args(["gateway", "--addr", "127.0.0.1:0"])
        .env("PERSONA_ENV", "production")
        .env("PERSONA_SEED_SECRET", "a-real-secret")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stderr).contains("MANA_SERVICE_KEY must be set"));
}
