//! A bounded, seeded fuzz of the request paths an outsider reaches: the MCP
//! endpoint (initialize, tools/list, tools/call with each kind of argument)
//! and the JSON API (register, login, the admin and internal personas
//! routes). Valid requests are mutated — a value swapped for another type,
//! a huge or control-character string, deep nesting, a dropped or added
//! key, a truncated or corrupted body — and every answer must be a client
//! error or a success, never a 5xx, with the server healthy at the end.
//!
//! `FUZZ_ROUNDS` raises the number of mutations (default 400, a few seconds);
//! `FUZZ_SEED` replays a run.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, SERVICE_KEY, TestApp, spawn_app, sqlite, test_config,
};

/// Where a mutated request goes and how it is sent.
#[derive(Clone, Copy)]
enum Target {
    Mcp,
    Api(&'static str, Auth),
}

#[derive(Clone, Copy)]
enum Auth {
    None,
    Admin,
    Service,
}

/// A value that breaks assumptions.
fn hostile(rng: &mut StdRng) -> Value {
    match rng.random_range(0..12) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(1e308),
        4 => json!(""),
        5 => json!("x".repeat(rng.random_range(1_000..20_000))),
        6 => json!("a\u{0000}b\u{001b}[31m\u{202e}"),
        7 => json!("🙂".repeat(50)),
        8 => {
            let mut nested = json!(0);
            for _ in 0..rng.random_range(10..300) {
                nested = json!([nested]);
            }
            nested
        }
        9 => Value::Object(
            (0..rng.random_range(1..300))
                .map(|i| (format!("k{i}"), json!(i)))
                .collect(),
        ),
        10 => json!([1, "zwei", null, {"drei": 3}]),
        _ => json!(u64::MAX),
    }
}

/// `value` with one node somewhere replaced, removed or added.
fn mutate(value: &mut Value, rng: &mut StdRng) {
    match value {
        Value::Object(map) if !map.is_empty() && rng.random_bool(0.7) => {
            let index = rng.random_range(0..map.len());
            let key = map.keys().nth(index).cloned().unwrap_or_default();
            match rng.random_range(0..4) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    map.insert(format!("{key}_extra"), hostile(rng));
                }
                _ => {
                    if let Some(child) = map.get_mut(&key) {
                        if rng.random_bool(0.5) {
                            mutate(child, rng);
                        } else {
                            *child = hostile(rng);
                        }
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() && rng.random_bool(0.7) => {
            let index = rng.random_range(0..items.len());
            mutate(&mut items[index], rng);
        }
        other => *other = hostile(rng),
    }
}

/// The body as bytes, sometimes broken below the JSON level.
fn body_bytes(value: &Value, rng: &mut StdRng) -> Vec<u8> {
    let mut bytes = value.to_string().into_bytes();
    match rng.random_range(0..10) {
        0 if !bytes.is_empty() => {
            let cut = rng.random_range(0..bytes.len());
            bytes.truncate(cut);
        }
        1 if !bytes.is_empty() => {
            let at = rng.random_range(0..bytes.len());
            bytes[at] = rng.random();
        }
        2 => bytes = vec![0xff, 0xfe, b'{', 0x80],
        _ => {}
    }
    bytes
}

/// The valid requests the mutations start from.
fn seeds() -> Vec<(Target, Value)> {
    let call = |name: &str, arguments: Value| {
        json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call",
                "params": { "name": name, "arguments": arguments } })
    };
    vec![
        (Target::Mcp, crate::helpers::initialize()),
        (
            Target::Mcp,
            json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" }),
        ),
        (
            Target::Mcp,
            json!({ "jsonrpc": "2.0", "id": 3, "method": "ping" }),
        ),
        (
            Target::Mcp,
            call(
                "todo.create",
                json!({ "title": "Milch", "priority": "high" }),
            ),
        ),
        (Target::Mcp, call("todo.list", json!({ "status": "open" }))),
        (
            Target::Mcp,
            call(
                "notes.create",
                json!({ "title": "Idee", "content": "Text" }),
            ),
        ),
        (
            Target::Mcp,
            call(
                "calendar.create",
                json!({ "title": "Termin", "start": "2026-12-01T10:00:00Z" }),
            ),
        ),
        (Target::Mcp, call("mood.log", json!({ "mood": 3 }))),
        (
            Target::Api("/api/v1/auth/login", Auth::None),
            json!({ "email": "fuzz@mana.test", "password": "password-123" }),
        ),
        (
            Target::Api("/api/v1/auth/register", Auth::None),
            json!({ "email": "neu@mana.test", "password": "password-123" }),
        ),
        (
            Target::Api("/api/v1/personas/admin", Auth::Admin),
            json!({ "persona": {
                "email": "p@mana.test", "name": "P", "archetype": "solo-dev",
                "systemPrompt": "Du bist P.", "moduleMix": { "todo": 1.0 }, "tickCadence": "daily" },
                "password": "derived-password-1" }),
        ),
        (
            Target::Api("/api/v1/personas/admin/spaces", Auth::Admin),
            json!({ "name": "Familie", "type": "family", "members": ["a@mana.test", "b@mana.test"] }),
        ),
        (
            Target::Api(
                "/api/v1/personas/internal/fuzz@mana.test/lease",
                Auth::Service,
            ),
            json!({ "owner": "r1", "seconds": 30 }),
        ),
        (
            Target::Api(
                "/api/v1/personas/internal/fuzz@mana.test/actions",
                Auth::Service,
            ),
            json!({ "actions": [{ "tickId": "t1", "actionIdx": 0, "toolName": "todo.list",
                "inputHash": "0123456789abcdef", "result": "ok", "latencyMs": 3,
                "createdAt": "2026-11-30T10:00:00Z" }] }),
        ),
    ]
}

#[tokio::test]
async fn mutated_requests_never_get_a_server_error() {
    let rounds: usize = std::env::var("FUZZ_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse().ok())
        .unwrap_or(400);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(4711);
    let app: TestApp = spawn_app(sqlite().await, test_config()).await;
    let user = app.user("fuzz@mana.test").await;
    let session = app.mcp_session(&user).await;
    let admin = app.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let seeds = seeds();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut failures = Vec::new();
    for round in 0..rounds {
        let (target, seed_body) = &seeds[rng.random_range(0..seeds.len())];
        let mut body = seed_body.clone();
        for _ in 0..rng.random_range(1..4) {
            mutate(&mut body, &mut rng);
        }
        let bytes = body_bytes(&body, &mut rng);
        let request = match target {
            Target::Mcp => app
                .http
                .post(format!("{}/mcp", app.url))
                .bearer_auth(&user.token)
                .header(catalog::SPACE_HEADER, &user.space_id)
                .header("accept", "application/json, text/event-stream")
                .header("mcp-session-id", &session)
                .header("mcp-protocol-version", "2025-11-25"),
            Target::Api(path, auth) => {
                let request = app.http.post(format!("{}{path}", app.url));
                match auth {
                    Auth::None => request,
                    Auth::Admin => request.bearer_auth(&admin),
                    Auth::Service => {
                        request.header(catalog::internal_api::SERVICE_KEY_HEADER, SERVICE_KEY)
                    }
                }
            }
        };
        let response = request
            .header("content-type", "application/json")
            .body(bytes.clone())
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_server_error() {
            let sent = String::from_utf8_lossy(&bytes);
            failures.push(format!(
                "round {round} (FUZZ_SEED={seed}): {status} for {}: {text:.300}",
                sent.chars().take(300).collect::<String>()
            ));
        }
    }
    let health = app.get("/health").send().await.unwrap();
    assert_eq!(health.status(), 200, "the server is still healthy");
    assert!(
        failures.is_empty(),
        "{} server errors:\n{}",
        failures.len(),
        failures.join("\n")
    );
    app.stop().await;
}
