//! One tick end to end against a real gateway on a loopback port: login over
//! HTTP, the rmcp client over Streamable HTTP, tool calls into the registry,
//! and the rows the tick produced stored idempotently.

use std::sync::Mutex;

use actors::llm::{Block, Llm, LlmError, LlmRequest, LlmResponse, StopReason, ToolChoice};
use actors::mcp_client::{McpConnection, ToolSurface as _};
use actors::tick::{DayEnd, RatingEnd, TickRecorder, TickSettings, run_tick};
use async_trait::async_trait;
use catalog::{ActionResult, FailedBy, SeedSecret, TickStatus, TokenUsage, derive_password};
use runner::app_login::ManaLogin;
use serde_json::{Value, json};

use crate::helpers::{Gateway, gateway_with_personas, profile};

/// Stands in for a hosted LLM: replays canned answers (a response or an
/// error) and records requests.
struct CannedLlm {
    responses: Mutex<Vec<Result<LlmResponse, LlmError>>>,
    requests: Mutex<Vec<LlmRequest>>,
}

#[async_trait]
impl Llm for CannedLlm {
    fn provider(&self) -> &'static str {
        "canned"
    }
    fn model(&self) -> &str {
        "canned"
    }
    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse, LlmError> {
        self.requests.lock().unwrap().push(request.clone());
        let mut responses = self.responses.lock().unwrap();
        if responses.is_empty() {
            return Err(LlmError::Malformed("no canned response left".into()));
        }
        responses.remove(0)
    }
}

fn usage() -> TokenUsage {
    TokenUsage {
        input: 100,
        output: 20,
        cache_read: 50,
        cache_write: 10,
    }
}

fn tool_use(id: &str, name: &str, input: Value) -> Block {
    Block::ToolUse {
        id: id.into(),
        name: name.into(),
        input,
    }
}

#[tokio::test]
async fn parallel_calls_are_attributed_by_tool_use_id_and_rows_land_once() {
    let Ready {
        _gateway: gateway,
        persona,
        mcp,
    } = ready("jonas.richter@mana.test").await;

    // Round 1: three parallel calls, the middle one invalid. Round 2: done.
    let llm = CannedLlm {
        responses: Mutex::new(vec![
            Ok(LlmResponse {
                content: vec![
                    Block::Text("Los geht's.".into()),
                    tool_use("toolu_a", "todo_create", json!({ "title": "Release vorbereiten" })),
                    tool_use("toolu_b", "todo_create", json!({ "title": "" })),
                    tool_use("toolu_c", "notes_create", json!({ "title": "Idee", "content": "API aufräumen" })),
                ],
                stop_reason: StopReason::ToolUse,
                usage: usage(),
            }),
            Ok(LlmResponse { content: vec![Block::Text("Fertig für heute.".into())], stop_reason: StopReason::EndTurn, usage: usage() }),
            // A model that answers the forced rating tool in text anyway.
            Ok(LlmResponse {
                content: vec![Block::Text("```json\n{\"ratings\":[{\"module\":\"todo\",\"rating\":3,\"notes\":\"Fehlermeldung ok\"},{\"module\":\"notes\",\"rating\":5}]}\n```".into())],
                stop_reason: StopReason::EndTurn,
                usage: usage(),
            }),
        ]),
        requests: Mutex::new(Vec::new()),
    };
    let recorder = TickRecorder::default();
    let tick_id = uuid::Uuid::now_v7().to_string();
    run_tick(
        &profile(&persona),
        &tick_id,
        &llm,
        &mcp,
        TickSettings::default(),
        &recorder,
        chrono::Utc::now().into(),
    )
    .await
    .unwrap();
    mcp.close().await;

    let record = recorder.take();
    let results: Vec<(&str, Option<&str>, ActionResult)> = record
        .actions
        .iter()
        .map(|row| {
            (
                row.tool_name.as_str(),
                row.tool_use_id.as_deref(),
                row.result,
            )
        })
        .collect();
    assert_eq!(
        results,
        vec![
            ("todo.create", Some("toolu_a"), ActionResult::Ok),
            ("todo.create", Some("toolu_b"), ActionResult::Error),
            ("notes.create", Some("toolu_c"), ActionResult::Ok),
        ]
    );
    assert!(
        record.actions[1]
            .error_message
            .as_deref()
            .unwrap()
            .contains("title")
    );
    assert!(record.actions.iter().all(|row| row.input_hash.len() == 16));
    assert_eq!(record.turns, 2);
    assert_eq!(
        record.tokens,
        TokenUsage {
            input: 300,
            output: 60,
            cache_read: 150,
            cache_write: 30
        }
    );
    assert_eq!(record.summary.as_deref(), Some("Fertig für heute."));
    let ratings: Vec<(&str, i64)> = record
        .feedback
        .iter()
        .map(|row| (row.module.as_str(), row.rating.unwrap().get()))
        .collect();
    assert_eq!(ratings, vec![("todo", 3), ("notes", 5)]);

    // The tool results went back in one user message, matched by id.
    let requests = llm.requests.lock().unwrap().clone();
    let results_message = &requests[1].messages.last().unwrap().content;
    let ids: Vec<(&str, bool)> = results_message
        .iter()
        .filter_map(|block| match block {
            Block::ToolResult {
                tool_use_id,
                is_error,
                ..
            } => Some((tool_use_id.as_str(), *is_error)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ids,
        vec![("toolu_a", false), ("toolu_b", true), ("toolu_c", false)]
    );
    assert!(
        requests[0]
            .tools
            .iter()
            .all(|tool| !tool.name.contains('.')),
        "LLM-safe names"
    );
    assert_eq!(requests[0].tool_choice, ToolChoice::Auto);
    let rating_tools: Vec<&str> = requests[2]
        .tools
        .iter()
        .map(|tool| tool.name.as_str())
        .collect();
    assert_eq!(
        rating_tools,
        vec!["submit_ratings"],
        "the rating turn offers only its tool"
    );
    assert_eq!(
        requests[2].tool_choice,
        ToolChoice::Tool("submit_ratings".into()),
        "and forces it"
    );
    assert_eq!(
        requests[2].tools[0].input_schema["properties"]["ratings"]["items"]["properties"]["module"]
            ["enum"],
        json!(["notes", "todo"]),
        "naming exactly the modules used"
    );

    // Stored twice, kept once.
    let now = chrono::Utc::now();
    let first = gateway
        .store
        .insert_actions(&persona.user_id, &record.actions, now)
        .await
        .unwrap();
    let again = gateway
        .store
        .insert_actions(&persona.user_id, &record.actions, now)
        .await
        .unwrap();
    assert_eq!(
        (first.inserted, again.inserted, again.duplicates),
        (3, 0, 3)
    );
    assert_eq!(
        gateway
            .store
            .insert_feedback(&persona.user_id, &record.feedback, now)
            .await
            .unwrap()
            .inserted,
        2
    );
}

#[tokio::test]
async fn every_catalog_persona_runs_a_scripted_tick_against_the_app() {
    use actors::llm::scripted::{ScriptedLlm, ScriptedProfile};
    let gateway = gateway_with_personas().await;
    let app = ManaLogin::new(&gateway.url).unwrap();
    let personas = gateway
        .store
        .list_personas(chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(personas.len(), 10);
    for summary in &personas {
        let persona = &summary.persona;
        let password = derive_password(&SeedSecret::dev_fallback(), &persona.email);
        let session = app.log_in(&persona.email, &password).await.unwrap();
        let mcp = McpConnection::open(
            &format!("{}/mcp", gateway.url),
            &session,
            &runner::wiring::profile(persona),
        )
        .await
        .unwrap();
        let tick_id = uuid::Uuid::now_v7().to_string();
        let llm = ScriptedLlm::new(
            ScriptedProfile {
                archetype: persona.archetype.clone(),
                module_mix: persona.module_mix.clone(),
            },
            &tick_id,
        );
        let recorder = TickRecorder::default();
        run_tick(
            &profile(persona),
            &tick_id,
            &llm,
            &mcp,
            TickSettings::default(),
            &recorder,
            chrono::Utc::now().into(),
        )
        .await
        .unwrap();
        mcp.close().await;
        let record = recorder.take();
        assert!(
            (3..=8).contains(&record.actions.len()),
            "{}: {} actions",
            persona.email,
            record.actions.len()
        );
        let used: std::collections::BTreeSet<&str> = record
            .actions
            .iter()
            .filter_map(|row| row.tool_name.split_once('.').map(|(m, _)| m))
            .collect();
        let rated: std::collections::BTreeSet<&str> = record
            .feedback
            .iter()
            .map(|row| row.module.as_str())
            .collect();
        assert_eq!(rated, used, "{}: every used module is rated", persona.email);
        let stored = gateway
            .store
            .insert_actions(&persona.user_id, &record.actions, chrono::Utc::now())
            .await
            .unwrap();
        assert_eq!(stored.inserted as usize, record.actions.len());
        gateway
            .store
            .insert_feedback(&persona.user_id, &record.feedback, chrono::Utc::now())
            .await
            .unwrap();
    }
    // Everyone has been active, so nobody is due any more.
    assert!(
        gateway
            .store
            .due_personas(chrono::Utc::now())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn the_internal_api_client_writes_rows_and_ticks_idempotently() {
    use actors::internal_api::InternalApi;
    use actors::runtime::BackendError;
    use actors::runtime::TickLedger;
    use actors::runtime::supervisor::Directory;
    use actors::sink::{Sink, SinkError};
    let gateway = gateway_with_personas().await;
    let persona = gateway
        .store
        .persona_by_id_or_email("anna.keller@mana.test")
        .await
        .unwrap();
    let now = chrono::Utc::now();
    let row = catalog::ActionRow {
        tick_id: "http-tick".into(),
        action_idx: 0,
        tool_use_id: Some("toolu_x".into()),
        tool_name: "todo.list".into(),
        input_hash: "0123456789abcdef".into(),
        result: ActionResult::Ok,
        error_message: None,
        failed_by: None,
        latency_ms: 3,
        created_at: now,
    };
    let sink = InternalApi::new(&gateway.url, "key".into(), SeedSecret::dev_fallback()).unwrap();
    sink.write_actions(&persona.user_id, std::slice::from_ref(&row))
        .await
        .unwrap();
    sink.write_actions(&persona.user_id, std::slice::from_ref(&row))
        .await
        .unwrap();
    assert_eq!(
        gateway.store.tick_actions("http-tick").await.unwrap().len(),
        1,
        "re-sent, stored once"
    );
    let unknown = sink
        .write_actions("no-such-persona", std::slice::from_ref(&row))
        .await
        .unwrap_err();
    assert!(matches!(unknown, SinkError::Rejected(_)), "{unknown:?}");
    let wrong_key =
        InternalApi::new(&gateway.url, "guess".into(), SeedSecret::dev_fallback()).unwrap();
    assert!(matches!(
        wrong_key
            .write_actions(&persona.user_id, std::slice::from_ref(&row))
            .await,
        Err(SinkError::Unavailable(_))
    ));
    let down = InternalApi::new(
        "http://127.0.0.1:9",
        "key".into(),
        SeedSecret::dev_fallback(),
    )
    .unwrap();
    assert!(matches!(
        down.write_actions(&persona.user_id, &[row]).await,
        Err(SinkError::Unavailable(_))
    ));

    // Tick rows, the persona list, the due list and the pause flag.
    let tick = catalog::NewTick {
        tick_id: "http-tick".into(),
        persona_id: persona.user_id.clone(),
        provider: "scripted".into(),
        model: "scripted-v1".into(),
        started_at: now,
    };
    sink.tick_started(&tick).await.unwrap();
    let finish = catalog::TickFinish {
        status: catalog::TickStatus::Ok,
        error: None,
        failed_by: None,
        finish_reason: None,
        turns: 2,
        tokens: TokenUsage::default(),
        cost_usd: Some(0.25),
        summary: Some("ok".into()),
        finished_at: now,
        transcript: vec![catalog::transcript::TranscriptItem::Answer {
            phase: catalog::transcript::Phase::Day,
            turn: 1,
            text: "Heute nur Einkaufen.".into(),
            finish_reason: "end_turn".into(),
            tokens: TokenUsage::default(),
        }],
        next_due_at: None,
    };
    sink.tick_ended("http-tick", &finish).await.unwrap();
    let read = sink.tick("http-tick").await.unwrap();
    assert_eq!(
        (read.tick.cost_usd, read.transcript.clone()),
        (Some(0.25), finish.transcript.clone()),
        "the internal API stores the transcript with the tick and gives both back"
    );
    assert!(matches!(
        sink.tick("no-such-tick").await,
        Err(BackendError::UnknownTick(_))
    ));
    assert_eq!(
        sink.forget_transcripts(now + chrono::TimeDelta::seconds(1))
            .await
            .unwrap(),
        1,
        "retention through the internal API"
    );
    let stored = gateway.store.tick("http-tick").await.unwrap();
    assert_eq!(
        (stored.status, stored.cost_usd),
        (catalog::TickStatus::Ok, Some(0.25)),
        "the internal API carries the cost"
    );
    // The memory, by email, through the internal API; the store has it.
    let email = "anna.keller@mana.test";
    let set = sink
        .set_memory(email, Some("Gestern: Einkauf geplant."))
        .await
        .unwrap();
    assert_eq!(set.memory.as_deref(), Some("Gestern: Einkauf geplant."));
    let stored = gateway
        .store
        .persona_memory(&set.persona.id)
        .await
        .unwrap()
        .map(|(memory, _)| memory);
    assert_eq!(stored.as_deref(), Some("Gestern: Einkauf geplant."));
    assert_eq!(sink.set_memory(email, None).await.unwrap().memory, None);
    assert_eq!(sink.memory(email).await.unwrap().memory, None);
    let personas = sink.personas().await.unwrap();
    assert_eq!(personas.len(), 10);
    let anna = personas
        .iter()
        .find(|seed| seed.profile.email == persona.email)
        .unwrap();
    assert_eq!(
        anna.password,
        derive_password(&SeedSecret::dev_fallback(), &persona.email)
    );
    assert!(
        !sink.due().await.unwrap().contains(&persona.user_id),
        "active just now, not due"
    );
    let paused = sink
        .set_paused("anna.keller@mana.test", true)
        .await
        .unwrap();
    assert_eq!(paused.id, persona.user_id);
    assert!(
        gateway
            .store
            .persona(&persona.user_id)
            .await
            .unwrap()
            .paused
    );
    assert!(matches!(
        sink.set_paused("nobody@mana.test", true).await,
        Err(BackendError::UnknownPersona(_))
    ));
}

#[tokio::test]
async fn an_internal_api_answer_without_its_field_is_malformed_never_a_default() {
    use actors::internal_api::InternalApi;
    use actors::runtime::supervisor::Directory;
    use actors::runtime::{BackendError, TickLedger};
    use axum::routing::{get, post};
    // An app that says 200 but answers in the wrong shape: a lease answer
    // read as "not claimed" would skip the persona silently.
    let wrong = axum::Router::new()
        .route(
            "/api/v1/personas/internal/{id}/lease",
            post(|| async { axum::Json(json!({ "claim": true })) }),
        )
        .route(
            "/api/v1/personas/internal/due",
            get(|| async { axum::Json(json!({ "personas": [{ "name": "Anna" }] })) }),
        )
        .route(
            "/api/v1/personas/internal/ticks/abort-stale",
            post(|| async { "" }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { axum::serve(listener, wrong).await });
    let api = InternalApi::new(&url, "key".into(), SeedSecret::dev_fallback()).unwrap();

    let claim = api
        .claim("p1", "runner-a", std::time::Duration::from_secs(30))
        .await;
    assert!(
        matches!(&claim, Err(BackendError::Malformed(message)) if message.contains("missing field `claimed`")),
        "{claim:?}"
    );
    let due = api.due().await;
    assert!(
        matches!(&due, Err(BackendError::Malformed(message)) if message.contains("missing field")),
        "{due:?}"
    );
    let aborted = api.abort_stale_ticks("test").await;
    assert!(
        matches!(&aborted, Err(BackendError::Malformed(message)) if message.starts_with("the abort answer is malformed")),
        "{aborted:?}"
    );
    server.abort();
}

/// A persona logged in to the gateway, ready to tick with a canned LLM.
struct Ready {
    /// Kept so the gateway serves for as long as the persona ticks.
    _gateway: Gateway,
    persona: gateway::store::PersonaRow,
    mcp: McpConnection,
}

async fn ready(email: &str) -> Ready {
    let gateway = gateway_with_personas().await;
    let persona = gateway.store.persona_by_id_or_email(email).await.unwrap();
    let password = derive_password(&SeedSecret::dev_fallback(), &persona.email);
    let session = ManaLogin::new(&gateway.url)
        .unwrap()
        .log_in(&persona.email, &password)
        .await
        .unwrap();
    let mcp = McpConnection::open(
        &format!("{}/mcp", gateway.url),
        &session,
        &runner::wiring::profile(&persona),
    )
    .await
    .unwrap();
    Ready {
        _gateway: gateway,
        persona,
        mcp,
    }
}

impl Ready {
    /// Runs one tick on `responses`; returns how it ended, its verdict, the
    /// record and the requests the LLM saw.
    async fn tick(
        &self,
        responses: Vec<Result<LlmResponse, LlmError>>,
        settings: TickSettings,
    ) -> (
        actors::tick::TickEnd,
        (TickStatus, Option<String>),
        actors::tick::TickRecord,
        Vec<LlmRequest>,
    ) {
        let llm = CannedLlm {
            responses: Mutex::new(responses),
            requests: Mutex::new(Vec::new()),
        };
        let recorder = TickRecorder::default();
        let end = run_tick(
            &profile(&self.persona),
            "outcome-tick",
            &llm,
            &self.mcp,
            settings,
            &recorder,
            chrono::Utc::now().into(),
        )
        .await
        .unwrap();
        let verdict = end.verdict(recorder.action_count());
        let requests = llm.requests.lock().unwrap().clone();
        (end, verdict, recorder.take(), requests)
    }
}

fn answer(content: Vec<Block>, stop_reason: StopReason) -> Result<LlmResponse, LlmError> {
    Ok(LlmResponse {
        content,
        stop_reason,
        usage: usage(),
    })
}

fn ratings(input: Value) -> Result<LlmResponse, LlmError> {
    answer(
        vec![Block::ToolUse {
            id: "call_rating".into(),
            name: "submit_ratings".into(),
            input,
        }],
        StopReason::ToolUse,
    )
}

#[tokio::test]
async fn botched_calls_are_the_agents_and_never_reach_the_app() {
    let ready = ready("jonas.richter@mana.test").await;
    let (end, verdict, record, requests) = ready
        .tick(
            vec![
                answer(
                    vec![
                        Block::InvalidToolUse {
                            id: "call_bad".into(),
                            name: "todo_create".into(),
                            arguments: "{\"title\": \"Einkaufen".into(),
                            error: "EOF while parsing a string".into(),
                        },
                        tool_use("call_ghost", "todo_fly", json!({})),
                        tool_use("call_ok", "todo_create", json!({ "title": "Einkaufen" })),
                    ],
                    StopReason::ToolUse,
                ),
                answer(vec![Block::Text("Fertig.".into())], StopReason::EndTurn),
                ratings(json!({"ratings": [{"module": "todo", "rating": 4, "notes": "klappt"}]})),
            ],
            TickSettings::default(),
        )
        .await;
    let rows: Vec<(&str, ActionResult, Option<FailedBy>)> = record
        .actions
        .iter()
        .map(|row| (row.tool_name.as_str(), row.result, row.failed_by))
        .collect();
    assert_eq!(
        rows,
        vec![
            ("todo.create", ActionResult::Error, Some(FailedBy::Agent)),
            ("todo_fly", ActionResult::Error, Some(FailedBy::Agent)),
            ("todo.create", ActionResult::Ok, None),
        ]
    );
    let told = record.actions[0].error_message.as_deref().unwrap();
    assert!(told.contains("not valid JSON"), "{told}");
    // The stored row quotes none of the arguments (the model is told them).
    assert!(!told.contains("Einkaufen"), "{told}");
    // Only the good call reached the app: one task exists.
    let listed = ready.mcp.call("todo.list", json!({"status": "all"})).await;
    assert_eq!(
        listed.text.matches("Einkaufen").count(),
        1,
        "{}",
        listed.text
    );
    // The model was told in the tool results.
    let results: Vec<(String, bool)> = requests[1]
        .messages
        .last()
        .unwrap()
        .content
        .iter()
        .filter_map(|block| match block {
            Block::ToolResult {
                content, is_error, ..
            } => Some((content.clone(), *is_error)),
            _ => None,
        })
        .collect();
    assert!(results[0].1 && results[0].0.contains("not valid JSON"));
    assert!(results[1].1 && results[1].0.contains("no tool called"));
    assert!(!results[2].1);
    assert_eq!(end.day, DayEnd::Finished);
    assert_eq!(end.rating, RatingEnd::Rated(1));
    assert_eq!(verdict, (TickStatus::Ok, None));
    assert_eq!(record.feedback[0].rating.unwrap().get(), 4);
}

#[tokio::test]
async fn days_that_are_not_ok_say_so() {
    let ready = ready("lena.vogt@mana.test").await;
    let call = |id: &str| {
        answer(
            vec![tool_use(id, "todo_list", json!({"status": "open"}))],
            StopReason::ToolUse,
        )
    };
    let rated = || ratings(json!({"ratings": [{"module": "todo", "rating": 3, "notes": "ok"}]}));

    // No tool at all: idle, and nothing to rate.
    let (end, verdict, _, requests) = ready
        .tick(
            vec![answer(
                vec![Block::Text("Heute nicht.".into())],
                StopReason::EndTurn,
            )],
            TickSettings::default(),
        )
        .await;
    assert_eq!(end.rating, RatingEnd::NotAsked);
    assert_eq!(verdict.0, TickStatus::Idle, "{verdict:?}");
    assert_eq!(requests.len(), 1, "no rating turn without a module used");

    // Out of turns: incomplete, but the modules used are rated.
    let settings = TickSettings {
        max_turns: 2,
        ..TickSettings::default()
    };
    let (end, verdict, record, _) = ready
        .tick(vec![call("a"), call("b"), rated()], settings)
        .await;
    assert_eq!(end.day, DayEnd::OutOfTurns { max_turns: 2 });
    assert_eq!(verdict.0, TickStatus::Incomplete);
    assert!(verdict.1.unwrap().contains("PERSONA_MAX_TURNS"));
    assert_eq!(record.feedback.len(), 1);

    // Cut off at max_tokens with nothing to act on: incomplete.
    let (end, verdict, record, _) = ready
        .tick(
            vec![
                call("a"),
                answer(
                    vec![Block::Text("Und dann habe ich".into())],
                    StopReason::MaxTokens,
                ),
                rated(),
            ],
            TickSettings::default(),
        )
        .await;
    assert!(matches!(end.day, DayEnd::CutOff { .. }), "{:?}", end.day);
    assert_eq!(verdict.0, TickStatus::Incomplete);
    assert!(verdict.1.unwrap().contains("cut off"));
    assert_eq!(record.finish_reason.as_deref(), Some("max_tokens"));

    // The server says the context is full: the day ends there, the modules
    // used are still rated, and the reason is the server's.
    let (end, verdict, record, _) = ready
        .tick(
            vec![
                call("a"),
                Err(LlmError::ContextOverflow {
                    message: "Requested tokens (8429) exceed context window of 8192".into(),
                }),
                rated(),
            ],
            TickSettings::default(),
        )
        .await;
    assert!(
        matches!(&end.day, DayEnd::ContextFull(why) if why.contains("8429")),
        "{:?}",
        end.day
    );
    assert_eq!(verdict.0, TickStatus::Incomplete);
    assert_eq!(record.feedback.len(), 1);

    // A rating reply that cannot be read: incomplete, kept as a __parse row.
    let (end, verdict, record, _) = ready
        .tick(
            vec![
                call("a"),
                answer(vec![Block::Text("Fertig.".into())], StopReason::EndTurn),
                answer(
                    vec![Block::Text("Alles super!".into())],
                    StopReason::MaxTokens,
                ),
            ],
            TickSettings::default(),
        )
        .await;
    assert_eq!(end.rating, RatingEnd::Unreadable { cut_off: true });
    assert_eq!(verdict.0, TickStatus::Incomplete);
    assert!(record.feedback[0].is_parse_failure());
}

/// A fleet logging in at once meets the app's bounded password hashing
/// (503 with `retry-after` once its queue is full): every persona still
/// logs in, waiting as the app asks instead of failing its tick.
#[tokio::test]
async fn a_fleet_logging_in_at_once_waits_out_a_busy_app() {
    let gateway = crate::helpers::gateway_with_personas_and(gateway::config::GatewayConfig {
        password_hashes_at_once: 1,
        password_hashes_waiting: 1,
        ..gateway::config::GatewayConfig::default()
    })
    .await;
    let app = ManaLogin::new(&gateway.url).unwrap();
    let catalog = catalog::Catalog::shipped(catalog::LoadOptions::default()).unwrap();
    let mut logins = tokio::task::JoinSet::new();
    for persona in catalog.personas {
        let app = app.clone();
        let password = derive_password(&SeedSecret::dev_fallback(), &persona.email);
        logins.spawn(async move { (app.log_in(&persona.email, &password).await, persona.email) });
    }
    while let Some(joined) = logins.join_next().await {
        let (login, email) = joined.unwrap();
        assert!(login.is_ok(), "{email}: {login:?}");
    }
}
