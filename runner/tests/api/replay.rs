//! `persona replay`: a tick recorded against the built-in app, replayed by
//! the binary against the same app (every call the same) and against a
//! build whose `todo.complete` was changed (a test-only registry variant
//! asking for a new required field): exactly that call is reported, and the
//! exit code says an outcome changed.

use std::sync::Mutex;

use actors::llm::{Block, Llm, LlmError, LlmRequest, LlmResponse, Role, StopReason};
use actors::tick::{TickRecorder, TickSettings, run_tick};
use async_trait::async_trait;
use catalog::{NewTick, SeedSecret, TickFinish, derive_password};
use runner::app_login::ManaLogin;
use serde_json::{Value, json};

use crate::helpers::{Gateway, gateway_with_personas, keyring, persona_command, profile};

/// A stand-in model that plans a day from what the app answers: it creates
/// a task, completes the task it was given back, lists the tasks, ends the
/// day and rates the module.
#[derive(Default)]
struct TaskDay {
    turn: Mutex<u32>,
}

fn last_tool_result(request: &LlmRequest) -> Value {
    request
        .messages
        .iter()
        .rev()
        .filter(|message| message.role == Role::User)
        .flat_map(|message| message.content.iter())
        .find_map(|block| match block {
            Block::ToolResult { content, .. } => serde_json::from_str(content).ok(),
            _ => None,
        })
        .unwrap_or(Value::Null)
}

fn call(id: &str, name: &str, input: Value) -> Result<LlmResponse, LlmError> {
    Ok(LlmResponse {
        content: vec![Block::ToolUse {
            id: id.into(),
            name: name.into(),
            input,
        }],
        stop_reason: StopReason::ToolUse,
        usage: Default::default(),
    })
}

#[async_trait]
impl Llm for TaskDay {
    fn provider(&self) -> &'static str {
        "task-day"
    }
    fn model(&self) -> &str {
        "task-day"
    }
    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse, LlmError> {
        let turn = {
            let mut turn = self.turn.lock().unwrap();
            *turn += 1;
            *turn
        };
        match turn {
            1 => call(
                "toolu_1",
                "todo_create",
                json!({ "title": "Wocheneinkauf planen", "dueDate": "2026-12-02" }),
            ),
            2 => {
                let id = last_tool_result(request)["id"].clone();
                call("toolu_2", "todo_complete", json!({ "id": id }))
            }
            3 => call("toolu_3", "todo_list", json!({ "status": "all" })),
            4 => Ok(LlmResponse {
                content: vec![Block::Text("Einkauf geplant und erledigt.".into())],
                stop_reason: StopReason::EndTurn,
                usage: Default::default(),
            }),
            _ => call(
                "toolu_rating",
                "submit_ratings",
                json!({ "ratings": [{ "module": "todo", "rating": 4, "notes": "ging gut", "calls": [1, 2, 3] }], "story": "Einkauf erledigt." }),
            ),
        }
    }
}

/// Records one tick of Anna's as the runtime would: run, then store it.
async fn recorded_tick(gateway: &Gateway) -> String {
    let persona = gateway
        .store
        .persona_by_id_or_email("anna.keller@mana.test")
        .await
        .unwrap();
    let password = derive_password(&SeedSecret::dev_fallback(), &persona.email);
    let session = ManaLogin::new(&gateway.url)
        .unwrap()
        .log_in(&persona.email, &password)
        .await
        .unwrap();
    let mcp = actors::mcp_client::McpConnection::open(
        &format!("{}/mcp", gateway.url),
        &session,
        &profile(&persona),
    )
    .await
    .unwrap();
    let recorder = TickRecorder::default();
    let tick_id = "replay-tick";
    let started_at = chrono::Utc::now();
    run_tick(
        &profile(&persona),
        tick_id,
        &TaskDay::default(),
        &mcp,
        TickSettings::default(),
        &recorder,
        started_at.into(),
    )
    .await
    .unwrap();
    mcp.close().await;
    let record = recorder.take();
    let store = &gateway.store;
    store
        .start_tick(&NewTick {
            tick_id: tick_id.into(),
            persona_id: persona.user_id.clone(),
            provider: "task-day".into(),
            model: "task-day".into(),
            started_at,
        })
        .await
        .unwrap();
    store
        .insert_actions(&persona.user_id, &record.actions, started_at)
        .await
        .unwrap();
    store
        .finish_tick(
            tick_id,
            &TickFinish {
                status: catalog::TickStatus::Ok,
                error: None,
                failed_by: None,
                finish_reason: record.finish_reason.clone(),
                turns: record.turns,
                tokens: record.tokens,
                cost_usd: None,
                summary: record.summary.clone(),
                finished_at: chrono::Utc::now(),
                transcript: record.transcript.clone(),
                next_due_at: None,
            },
        )
        .await
        .unwrap();
    let tools: Vec<&str> = record
        .actions
        .iter()
        .map(|a| a.tool_name.as_str())
        .collect();
    assert_eq!(
        tools,
        ["todo.create", "todo.complete", "todo.list"],
        "the recorded day"
    );
    assert!(
        record
            .actions
            .iter()
            .all(|a| a.result == catalog::ActionResult::Ok),
        "{:?}",
        record.actions
    );
    tick_id.to_owned()
}

/// `persona replay TICK` against the app at `url`: exit code and output.
/// (Awaited, so the gateways of this test keep serving meanwhile.)
async fn replay(gateway: &Gateway, url: &str, which: &[&str]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::from(persona_command(dir.path()))
        .arg("replay")
        .args(which)
        .args([
            "--db",
            &format!("sqlite://{}", gateway.db_path().display()),
            "--app-url",
            url,
        ])
        .output()
        .await
        .unwrap();
    (
        output.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// The changed build: `todo.complete` now requires a `reason`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct CompleteWithReason {
    #[allow(dead_code)]
    id: String,
    #[allow(dead_code)]
    reason: String,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
struct Done {
    done: bool,
}

async fn changed_build(gateway: &Gateway) -> gateway::app::RunningGateway {
    use registry::{PolicyHint, Registry, ToolSpec};
    let store = gateway::Store::open_sqlite_file(&gateway.db_path())
        .await
        .unwrap();
    let config = gateway::config::GatewayConfig {
        service_key: "key".into(),
        ..Default::default()
    };
    let mut state = gateway::app::AppState::build(config, store, keyring())
        .await
        .unwrap();
    let mut tools = Registry::new(registry::policy::PolicyGate::default());
    for spec in registry::tools::all().unwrap() {
        if spec.name.as_str() != "todo.complete" {
            tools.register(spec).unwrap();
        }
    }
    tools
        .register(
            ToolSpec::new(
                "todo.complete",
                "Mark a task as done, saying why.",
                PolicyHint::Write,
                |_: CompleteWithReason, _| async { Ok(Done { done: true }) },
            )
            .unwrap(),
        )
        .unwrap();
    std::sync::Arc::get_mut(&mut state)
        .expect("the new app state is not shared yet")
        .registry = std::sync::Arc::new(tools);
    gateway::app::spawn("127.0.0.1:0".parse().unwrap(), state)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_replay_matches_the_same_app_and_names_exactly_the_call_a_changed_build_breaks() {
    let gateway = gateway_with_personas().await;
    let tick_id = recorded_tick(&gateway).await;

    let (code, out) = replay(&gateway, &gateway.url, &[&tick_id]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("0 outcome changed, 0 shape changed, 0 not replayed, 3 the same"),
        "{out}"
    );

    // The recent ticks, sampled: the same tick, the same verdict.
    let (code, out) = replay(&gateway, &gateway.url, &["--since", "1h"]).await;
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!("tick {tick_id} (anna.keller@mana.test), 3 calls")),
        "{out}"
    );

    let changed = changed_build(&gateway).await;
    let (code, out) = replay(&gateway, &changed.url(), &[&tick_id]).await;
    assert_eq!(code, Some(1), "an outcome changed: {out}");
    let reported: Vec<&str> = out
        .lines()
        .filter(|line| line.contains("OUTCOME CHANGED") || line.contains("shape changed:"))
        .collect();
    assert_eq!(reported.len(), 1, "{out}");
    assert!(
        reported[0].contains("todo.complete") && reported[0].contains("ok then, error now"),
        "{out}"
    );
    assert!(
        reported[0].contains("reason"),
        "the app's answer says why: {out}"
    );
}
