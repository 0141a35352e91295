//! The actor runtime against a real gateway: restarts under a restart
//! intensity, inspection while every persona waits on its LLM, rows kept
//! through a failing sink, and the kill-switch.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actors::llm::pricing::{Price, PriceTable};
use actors::llm::{Block, Llm, LlmError, LlmRequest, LlmResponse, StopReason, ToolChoice};
use actors::progress::Waiting;
use actors::runtime::persona::{Activity, CallState};
use actors::runtime::supervisor::{ChildHealth, RestartPolicy, Snapshot, SupervisorMsg};
use actors::runtime::{CommandRefused, LlmFactory};
use actors::sink::{Sink, SinkError};
use actors::tick::PersonaProfile;
use async_trait::async_trait;
use catalog::{ActionRow, FeedbackRow, SeedSecret, TokenUsage};
use ractor::ActorRef;
use runner::system::{Backend, RunnerSystem, SystemSettings, Tuning};
use runner::wiring::{StoreDirectory, StoreFleet, StoreLedger, StoreSink};
use serde_json::json;
use tokio::sync::watch;

use crate::helpers::eventually;
use crate::helpers::{Gateway, gateway_with_personas};

/// Stands in for a hosted LLM: lists todos once, ends the day, rates todo.
/// With `hold`, every request waits until the flag is lowered.
struct QuickLlm {
    hold: watch::Receiver<bool>,
    waiting: AtomicUsize,
    /// Requests answered before `hold` applies.
    free_requests: AtomicUsize,
}

#[async_trait]
impl Llm for QuickLlm {
    fn provider(&self) -> &'static str {
        "quick"
    }
    fn model(&self) -> &str {
        "quick"
    }
    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse, LlmError> {
        let free = self
            .free_requests
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if !free {
            self.waiting.fetch_add(1, Ordering::SeqCst);
            let mut hold = self.hold.clone();
            let _ = hold.wait_for(|held| !held).await;
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        let usage = TokenUsage {
            input: 10,
            output: 5,
            cache_read: 0,
            cache_write: 0,
        };
        let answered = request.messages.last().is_some_and(|message| {
            message
                .content
                .iter()
                .any(|block| matches!(block, Block::ToolResult { .. }))
        });
        let (content, stop_reason) = if let ToolChoice::Tool(forced) = &request.tool_choice {
            (
                vec![Block::ToolUse {
                    id: "toolu_rating".into(),
                    name: forced.clone(),
                    input: json!({"ratings": [{"module": "todo", "rating": 4, "notes": "ok"}]}),
                }],
                StopReason::ToolUse,
            )
        } else if answered {
            (vec![Block::Text("Fertig.".into())], StopReason::EndTurn)
        } else {
            (
                vec![Block::ToolUse {
                    id: "toolu_1".into(),
                    name: "todo_list".into(),
                    input: json!({}),
                }],
                StopReason::ToolUse,
            )
        };
        Ok(LlmResponse {
            content,
            stop_reason,
            usage,
        })
    }
}

/// Hands every persona the same LLM, except one whose actor panics when a
/// tick starts.
struct Factory {
    llm: Arc<QuickLlm>,
    panics_for: Option<String>,
}

impl LlmFactory for Factory {
    fn for_tick(&self, persona: &PersonaProfile, _tick_id: &str) -> Arc<dyn Llm> {
        if self.panics_for.as_deref() == Some(persona.email.as_str()) {
            panic!("simulated crash of {}", persona.email);
        }
        self.llm.clone()
    }

    fn provider(&self) -> &'static str {
        self.llm.provider()
    }
}

/// A sink that is down for its first `failures` writes.
struct FlakySink {
    inner: StoreSink,
    failures: AtomicUsize,
}

#[async_trait]
impl Sink for FlakySink {
    async fn write_actions(&self, persona_id: &str, rows: &[ActionRow]) -> Result<(), SinkError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok()
        {
            return Err(SinkError::Unavailable("simulated outage".into()));
        }
        self.inner.write_actions(persona_id, rows).await
    }
    async fn write_feedback(
        &self,
        persona_id: &str,
        rows: &[FeedbackRow],
    ) -> Result<(), SinkError> {
        self.inner.write_feedback(persona_id, rows).await
    }
}

struct Runtime {
    system: RunnerSystem,
    supervisor: ActorRef<SupervisorMsg>,
    release: watch::Sender<bool>,
    llm: Arc<QuickLlm>,
}

async fn start(
    gateway: &Gateway,
    panics_for: Option<&str>,
    sink: Arc<dyn Sink>,
    held: bool,
) -> Runtime {
    start_with(gateway, panics_for, sink, held, 0).await
}

async fn start_with(
    gateway: &Gateway,
    panics_for: Option<&str>,
    sink: Arc<dyn Sink>,
    held: bool,
    free_requests: usize,
) -> Runtime {
    let (release, hold) = watch::channel(held);
    let llm = Arc::new(QuickLlm {
        hold,
        waiting: AtomicUsize::new(0),
        free_requests: AtomicUsize::new(free_requests),
    });
    let factory = Arc::new(Factory {
        llm: llm.clone(),
        panics_for: panics_for.map(str::to_owned),
    });
    let system = start_actors(gateway, factory, sink).await;
    Runtime {
        supervisor: system.handles.supervisor.clone(),
        system,
        release,
        llm,
    }
}

async fn start_actors(
    gateway: &Gateway,
    llms: Arc<dyn LlmFactory>,
    sink: Arc<dyn Sink>,
) -> RunnerSystem {
    start_actors_with(gateway, llms, sink, |_| {}).await
}

/// The runner's actors over the gateway, through the production assembly
/// path, with short timers and no schedule (tests start ticks), on the
/// built-in target; `adjust` changes the settings further.
pub(crate) async fn start_actors_with(
    gateway: &Gateway,
    llms: Arc<dyn LlmFactory>,
    sink: Arc<dyn Sink>,
    adjust: impl FnOnce(&mut SystemSettings),
) -> RunnerSystem {
    let backend = Backend {
        sink,
        ledger: Arc::new(StoreLedger(gateway.store.clone())),
        directory: Arc::new(StoreDirectory {
            store: gateway.store.clone(),
            seed_secret: SeedSecret::dev_fallback(),
        }),
        fleet: Arc::new(StoreFleet(gateway.store.clone())),
    };
    let mut settings = SystemSettings {
        target: catalog::target::Target::builtin(&gateway.url),
        llms,
        seed_secret: SeedSecret::dev_fallback(),
        tuning: Tuning {
            concurrency: 20,
            llm_per_minute: 6000,
            tick_timeout: Duration::from_secs(60),
            session_margin: Duration::from_secs(60),
            replica_id: "test-runner".into(),
            schedule_every: None,
            refresh_every: None,
            restart: RestartPolicy {
                max_restarts: 2,
                window: Duration::from_secs(60),
                base_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(50),
            },
            flush_interval: Duration::from_millis(20),
            retry_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(40),
            // The fake Anthropic API's model, at Sonnet's list price.
            prices: PriceTable::shipped().with_overrides([(
                "claude-test".to_owned(),
                Price {
                    input: 3.0,
                    output: 15.0,
                    cache_write: 3.75,
                    cache_read: 0.30,
                },
            )]),
            ..Tuning::default()
        },
    };
    adjust(&mut settings);
    runner::system::start_with(backend, settings)
        .await
        .expect("the runner's actors start")
}

async fn snapshot(runtime: &Runtime) -> Snapshot {
    snapshot_of(&runtime.supervisor).await
}

async fn snapshot_of(supervisor: &ActorRef<SupervisorMsg>) -> Snapshot {
    supervisor
        .call(SupervisorMsg::GetSnapshot, Some(Duration::from_secs(5)))
        .await
        .unwrap()
        .unwrap()
}

async fn start_tick(runtime: &Runtime, email: &str) -> Result<String, CommandRefused> {
    tick_now(&runtime.supervisor, email).await
}

async fn tick_now(
    supervisor: &ActorRef<SupervisorMsg>,
    email: &str,
) -> Result<String, CommandRefused> {
    let email = email.to_owned();
    match supervisor
        .call(
            |reply| SupervisorMsg::StartTick(email, reply),
            Some(Duration::from_secs(5)),
        )
        .await
    {
        Ok(ractor::rpc::CallResult::Success(answer)) => answer,
        _ => Err(CommandRefused::Unanswered),
    }
}

/// Waits until every persona actor has reported its first status.
async fn all_reported(runtime: &Runtime) {
    eventually(Duration::from_secs(10), "all personas reported", || async {
        snapshot(runtime)
            .await
            .personas
            .iter()
            .all(|e| e.status.is_some())
    })
    .await;
}

fn entry<'a>(snapshot: &'a Snapshot, email: &str) -> &'a actors::runtime::supervisor::PersonaEntry {
    snapshot
        .personas
        .iter()
        .find(|entry| entry.email == email)
        .unwrap()
}

#[tokio::test]
async fn a_crashing_persona_is_restarted_then_marked_failed_while_others_keep_ticking() {
    let gateway = gateway_with_personas().await;
    let crasher = "gerhard.winkler@mana.test";
    let steady = "miriam.scholz@mana.test";
    let runtime = start(
        &gateway,
        Some(crasher),
        Arc::new(StoreSink(gateway.store.clone())),
        false,
    )
    .await;
    all_reported(&runtime).await;
    assert_eq!(snapshot(&runtime).await.personas.len(), 10);

    for round in 1..=3u32 {
        let _ = start_tick(&runtime, crasher).await;
        // Two crashes are restarted (max_restarts 2); the third marks it failed.
        eventually(Duration::from_secs(10), "the crash was noticed", || async {
            let crashed = entry(&snapshot(&runtime).await, crasher).clone();
            if round < 3 {
                crashed.restarts >= round
            } else {
                matches!(crashed.health, ChildHealth::Failed(_))
            }
        })
        .await;
        // The other personas are unaffected and keep ticking.
        let ticks_before = entry(&snapshot(&runtime).await, steady)
            .status
            .as_ref()
            .map_or(0, |status| status.ticks);
        eventually(
            Duration::from_secs(10),
            "the steady persona ticks",
            || async { start_tick(&runtime, steady).await.is_ok() },
        )
        .await;
        eventually(Duration::from_secs(20), "its tick finished", || async {
            entry(&snapshot(&runtime).await, steady)
                .status
                .as_ref()
                .is_some_and(|status| {
                    status.ticks > ticks_before && status.activity == Activity::Idle
                })
        })
        .await;
        if round < 3 {
            eventually(Duration::from_secs(10), "the crasher is back", || async {
                entry(&snapshot(&runtime).await, crasher).health == ChildHealth::Running
            })
            .await;
        }
    }
    eventually(Duration::from_secs(10), "past the intensity the persona is failed", || async {
        matches!(&entry(&snapshot(&runtime).await, crasher).health, ChildHealth::Failed(reason) if reason.contains("simulated crash"))
    })
    .await;
    let snapshot = snapshot(&runtime).await;
    assert_eq!(entry(&snapshot, crasher).restarts, 2);
    assert!(
        snapshot
            .personas
            .iter()
            .filter(|e| e.email != crasher)
            .all(|e| e.health == ChildHealth::Running)
    );
    let last = entry(&snapshot, steady)
        .status
        .as_ref()
        .unwrap()
        .last
        .clone()
        .unwrap();
    assert_eq!(last.status, catalog::TickStatus::Ok, "{:?}", last.error);
    let stored = gateway.store.tick_actions(&last.tick_id).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        gateway.store.tick(&last.tick_id).await.unwrap().status,
        catalog::TickStatus::Ok
    );
    runtime.supervisor.stop(None);
}

#[tokio::test]
async fn inspection_answers_at_once_while_every_persona_waits_on_its_llm() {
    let gateway = gateway_with_personas().await;
    let runtime = start(
        &gateway,
        None,
        Arc::new(StoreSink(gateway.store.clone())),
        true,
    )
    .await;
    all_reported(&runtime).await;
    let emails: Vec<String> = snapshot(&runtime)
        .await
        .personas
        .iter()
        .map(|e| e.email.clone())
        .collect();
    for email in &emails {
        start_tick(&runtime, email).await.unwrap();
    }
    eventually(
        Duration::from_secs(20),
        "every persona is inside an LLM call",
        || async { runtime.llm.waiting.load(Ordering::SeqCst) == 10 },
    )
    .await;

    // Answered from the supervisor's cache while every tick waits (how fast
    // is `persona-bench actors`' figure, not this test's).
    for _ in 0..5 {
        let snapshot = snapshot(&runtime).await;
        assert!(snapshot.personas.iter().all(|e| {
            e.status
                .as_ref()
                .is_some_and(|s| s.activity == Activity::Ticking)
        }));
        assert_eq!(snapshot.dispatcher.permits_in_use, 10);
    }
    let paused = runtime
        .supervisor
        .call(
            |reply| SupervisorMsg::SetPaused(emails[0].clone(), true, reply),
            Some(Duration::from_secs(1)),
        )
        .await
        .unwrap();
    assert!(matches!(paused, ractor::rpc::CallResult::Success(Ok(()))));

    runtime.release.send_replace(false);
    eventually(Duration::from_secs(30), "every tick finished", || async {
        snapshot(&runtime)
            .await
            .personas
            .iter()
            .all(|e| e.status.as_ref().is_some_and(|s| s.ticks == 1))
    })
    .await;
    let snapshot = snapshot(&runtime).await;
    assert_eq!(
        entry(&snapshot, &emails[0])
            .status
            .as_ref()
            .unwrap()
            .activity,
        Activity::Paused
    );
    assert!(matches!(
        start_tick(&runtime, &emails[0]).await,
        Err(CommandRefused::Paused { .. })
    ));
    runtime.supervisor.stop(None);
}

/// The persona actor keeps the running tick's calls by tool_use_id: after
/// one answered round (a `todo.list` call) the tick waits on its held LLM,
/// and the live view shows the call ended ok and the wait.
#[tokio::test]
async fn a_running_ticks_calls_and_its_wait_are_visible_live() {
    let gateway = gateway_with_personas().await;
    let runtime = start_with(
        &gateway,
        None,
        Arc::new(StoreSink(gateway.store.clone())),
        true,
        1,
    )
    .await;
    let email = "jonas.richter@mana.test";
    all_reported(&runtime).await;
    let tick_id = start_tick(&runtime, email).await.unwrap();
    eventually(
        Duration::from_secs(20),
        "the second LLM request is held",
        || async { runtime.llm.waiting.load(Ordering::SeqCst) == 1 },
    )
    .await;
    let live = runtime
        .system
        .handles
        .live_tick(email)
        .await
        .unwrap()
        .expect("a running tick");
    assert_eq!(live.tick_id, tick_id);
    assert_eq!(live.turns, 1);
    assert_eq!(live.waiting, Some(Waiting::Llm));
    assert_eq!(live.calls.len(), 1);
    assert_eq!(live.calls[0].tool_use_id, "toolu_1");
    assert_eq!(live.calls[0].tool, "todo.list");
    assert!(matches!(
        live.calls[0].state,
        CallState::Ended {
            result: catalog::ActionResult::Ok,
            failed_by: None,
            ..
        }
    ));
    let progress = entry(&snapshot(&runtime).await, email)
        .status
        .as_ref()
        .and_then(|status| status.current_progress)
        .expect("progress of the running tick");
    assert_eq!((progress.turns, progress.tool_calls), (1, 1));
    assert_eq!(progress.waiting, Some(Waiting::Llm));

    runtime.release.send_replace(false);
    eventually(Duration::from_secs(30), "the tick finished", || async {
        runtime
            .system
            .handles
            .live_tick(email)
            .await
            .unwrap()
            .is_none()
    })
    .await;
    runtime.system.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test]
async fn rows_survive_a_sink_that_fails_twice_and_are_never_doubled() {
    let gateway = gateway_with_personas().await;
    let sink = Arc::new(FlakySink {
        inner: StoreSink(gateway.store.clone()),
        failures: AtomicUsize::new(2),
    });
    let runtime = start(&gateway, None, sink, false).await;
    let email = "katrin.lorenz@mana.test";
    eventually(Duration::from_secs(10), "the persona reported", || async {
        entry(&snapshot(&runtime).await, email).status.is_some()
    })
    .await;
    let tick_id = start_tick(&runtime, email).await.unwrap();
    eventually(Duration::from_secs(30), "the tick finished", || async {
        entry(&snapshot(&runtime).await, email)
            .status
            .as_ref()
            .is_some_and(|s| s.ticks == 1)
    })
    .await;
    let actions = gateway.store.tick_actions(&tick_id).await.unwrap();
    assert_eq!(actions.len(), 1, "the row written after two failures, once");
    assert_eq!(
        gateway.store.tick_feedback(&tick_id).await.unwrap().len(),
        1
    );
    let status = runtime.system.handles.persistence_status().await.unwrap();
    assert_eq!(
        (
            status.failed_writes,
            status.pending_actions,
            status.written_actions
        ),
        (2, 0, 1)
    );
    runtime.supervisor.stop(None);
}

#[tokio::test]
async fn the_kill_switch_stops_every_new_llm_request() {
    let gateway = gateway_with_personas().await;
    let runtime = start(
        &gateway,
        None,
        Arc::new(StoreSink(gateway.store.clone())),
        false,
    )
    .await;
    let email = "jonas.richter@mana.test";
    eventually(Duration::from_secs(10), "the persona reported", || async {
        entry(&snapshot(&runtime).await, email).status.is_some()
    })
    .await;
    runtime
        .system
        .handles
        .set_kill_switch(true, "a test", "the kill-switch test")
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "paused", || async {
        snapshot(&runtime).await.dispatcher.paused
    })
    .await;
    start_tick(&runtime, email).await.unwrap();
    eventually(
        Duration::from_secs(5),
        "the tick waits in the dispatcher's queue",
        || async { snapshot(&runtime).await.dispatcher.waiting_for_permit == 1 },
    )
    .await;
    let paused = snapshot(&runtime).await;
    assert_eq!(
        paused.dispatcher.llm_requests, 0,
        "no LLM request while paused"
    );
    assert_eq!(paused.dispatcher.permits_in_use, 0);
    assert_eq!(
        runtime
            .system
            .handles
            .live_tick(email)
            .await
            .unwrap()
            .and_then(|live| live.waiting),
        Some(Waiting::Permit)
    );
    runtime
        .system
        .handles
        .set_kill_switch(false, "a test", "the kill-switch test")
        .await
        .unwrap();
    eventually(
        Duration::from_secs(30),
        "the tick ran after resume",
        || async {
            entry(&snapshot(&runtime).await, email)
                .status
                .as_ref()
                .is_some_and(|s| s.ticks == 1)
        },
    )
    .await;
    assert!(snapshot(&runtime).await.dispatcher.llm_requests >= 3);
    runtime.supervisor.stop(None);
}

#[tokio::test]
async fn the_supervisor_picks_up_added_removed_and_paused_personas() {
    let gateway = gateway_with_personas().await;
    let runtime = start(
        &gateway,
        None,
        Arc::new(StoreSink(gateway.store.clone())),
        false,
    )
    .await;
    all_reported(&runtime).await;

    let removed = gateway
        .store
        .persona_by_id_or_email("tom.hartmann@mana.test")
        .await
        .unwrap();
    gateway
        .store
        .delete_persona(&removed.user_id)
        .await
        .unwrap();
    let paused = gateway
        .store
        .persona_by_id_or_email("lena.vogt@mana.test")
        .await
        .unwrap();
    gateway
        .store
        .set_persona_paused(&paused.user_id, true)
        .await
        .unwrap();
    let mut newcomer = catalog::Catalog::shipped(catalog::LoadOptions::default())
        .unwrap()
        .personas[0]
        .clone();
    newcomer.email = "neu.person@mana.test".into();
    newcomer.name = "Neu Person".into();
    newcomer.shared_spaces.clear();
    gateway::accounts::upsert_persona(
        &gateway.store,
        &crate::helpers::keyring(),
        &newcomer,
        "password-123",
    )
    .await
    .unwrap();

    runtime.supervisor.cast(SupervisorMsg::Refresh).unwrap();
    eventually(
        Duration::from_secs(10),
        "the list was reconciled",
        || async {
            let snapshot = snapshot(&runtime).await;
            let emails: Vec<&str> = snapshot.personas.iter().map(|e| e.email.as_str()).collect();
            emails.contains(&"neu.person@mana.test")
                && !emails.contains(&"tom.hartmann@mana.test")
                && entry(&snapshot, "lena.vogt@mana.test")
                    .status
                    .as_ref()
                    .is_some_and(|s| s.paused)
                && entry(&snapshot, "neu.person@mana.test").status.is_some()
        },
    )
    .await;
    assert_eq!(snapshot(&runtime).await.personas.len(), 10);
    // The same list again, as a refresh would read it; the snapshot asked
    // after it is answered after it (one mailbox, in order).
    let seeds = actors::runtime::supervisor::Directory::personas(&StoreDirectory {
        store: gateway.store.clone(),
        seed_secret: SeedSecret::dev_fallback(),
    })
    .await
    .unwrap();
    runtime
        .supervisor
        .cast(SupervisorMsg::Reconcile(seeds))
        .unwrap();
    assert!(
        snapshot(&runtime)
            .await
            .personas
            .iter()
            .all(|e| e.health == ChildHealth::Running && e.restarts == 0),
        "reconciling again changes nothing"
    );
    runtime.supervisor.stop(None);
}

#[tokio::test]
async fn cancelling_a_running_tick_keeps_its_rows_and_aborts_it() {
    let gateway = gateway_with_personas().await;
    // The first LLM request (one tool call) goes through; the next one hangs.
    let runtime = start_with(
        &gateway,
        None,
        Arc::new(StoreSink(gateway.store.clone())),
        true,
        1,
    )
    .await;
    let email = "anna.keller@mana.test";
    eventually(Duration::from_secs(10), "the persona reported", || async {
        entry(&snapshot(&runtime).await, email).status.is_some()
    })
    .await;
    let tick_id = start_tick(&runtime, email).await.unwrap();
    eventually(
        Duration::from_secs(20),
        "the tick waits on its second LLM request",
        || async { runtime.llm.waiting.load(Ordering::SeqCst) == 1 },
    )
    .await;

    runtime
        .supervisor
        .cast(SupervisorMsg::CancelRunning("kill-switch".into(), None))
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "the tick row is aborted",
        || async {
            gateway
                .store
                .tick(&tick_id)
                .await
                .is_ok_and(|tick| tick.status == catalog::TickStatus::Aborted)
        },
    )
    .await;
    let tick = gateway.store.tick(&tick_id).await.unwrap();
    assert_eq!(tick.error.as_deref(), Some("kill-switch"));
    assert_eq!(
        gateway.store.tick_actions(&tick_id).await.unwrap().len(),
        1,
        "the row made before the cancel is kept"
    );
    let status = entry(&snapshot(&runtime).await, email)
        .status
        .clone()
        .unwrap();
    assert_eq!(
        (status.activity, status.last.unwrap().status),
        (Activity::Idle, catalog::TickStatus::Aborted)
    );
    runtime.supervisor.stop(None);
}

/// Every persona gets the same hosted-LLM client.
struct Hosted(Arc<dyn Llm>);

impl LlmFactory for Hosted {
    fn for_tick(&self, _persona: &PersonaProfile, _tick_id: &str) -> Arc<dyn Llm> {
        self.0.clone()
    }

    fn provider(&self) -> &'static str {
        self.0.provider()
    }
}

#[tokio::test]
async fn a_tick_through_the_fake_anthropic_api_stores_exactly_the_right_rows() {
    use actors::testing::{Dialect, FakeServer};

    let gateway = gateway_with_personas().await;
    let fake = FakeServer::start(Dialect::Anthropic, Vec::new())
        .await
        .unwrap();
    let usage = TokenUsage {
        input: 1000,
        output: 200,
        cache_read: 800,
        cache_write: 100,
    };
    fake.push_error(529, "overloaded_error", "Overloaded", None);
    fake.push_reply(
        &[
            Block::Text("Ich plane meinen Tag.".into()),
            Block::ToolUse {
                id: "toolu_01".into(),
                name: "todo_create".into(),
                input: json!({ "title": "Angebot schreiben" }),
            },
            // The schema takes a blank title; the app refuses it: its error.
            Block::ToolUse {
                id: "toolu_02".into(),
                name: "todo_create".into(),
                input: json!({ "title": "   " }),
            },
            Block::ToolUse {
                id: "toolu_03".into(),
                name: "notes_create".into(),
                input: json!({ "title": "Kunde", "content": "Rückruf" }),
            },
        ],
        usage,
    );
    fake.push_error(
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
        Some(Duration::ZERO),
    );
    fake.push_reply(&[Block::Text("Erledigt.".into())], usage);
    fake.push_reply(
        &[Block::Text(
            "Alles super!! Keine Ahnung, was ihr wollt.".into(),
        )],
        usage,
    );
    let sink = Arc::new(FlakySink {
        inner: StoreSink(gateway.store.clone()),
        failures: AtomicUsize::new(2),
    });
    let system = start_actors(&gateway, claude_at(&fake), sink).await;
    let email = "katrin.lorenz@mana.test";
    let tick_id = tick_and_wait(&system.handles.supervisor, email, 1).await;

    // The exact rows: the error on the right tool_use_id, latency on each.
    let actions = gateway.store.tick_actions(&tick_id).await.unwrap();
    let rows: Vec<(&str, Option<&str>, catalog::ActionResult)> = actions
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
        rows,
        vec![
            ("todo.create", Some("toolu_01"), catalog::ActionResult::Ok),
            (
                "todo.create",
                Some("toolu_02"),
                catalog::ActionResult::Error
            ),
            ("notes.create", Some("toolu_03"), catalog::ActionResult::Ok),
        ]
    );
    assert!(
        actions[1]
            .error_message
            .as_deref()
            .unwrap()
            .contains("title")
    );
    assert_eq!(actions[1].failed_by, Some(catalog::FailedBy::App));
    assert!(
        actions.iter().all(|row| row.latency_ms < 60_000)
            && actions.iter().any(|row| row.latency_ms > 0)
    );
    // Garbage ratings become one __parse row with the raw text.
    let feedback = gateway.store.tick_feedback(&tick_id).await.unwrap();
    assert_eq!(feedback.len(), 1);
    assert_eq!(
        (feedback[0].module.as_str(), feedback[0].rating),
        (catalog::PARSE_FAILURE_MODULE, None)
    );
    assert_eq!(
        feedback[0].notes,
        "Alles super!! Keine Ahnung, was ihr wollt."
    );
    // The tick row carries the turns and every token, retries included
    // once; unread ratings make the day incomplete, and the row says why.
    let tick = gateway.store.tick(&tick_id).await.unwrap();
    assert_eq!(
        (
            tick.status,
            tick.turns,
            tick.provider.as_str(),
            tick.model.as_str()
        ),
        (
            catalog::TickStatus::Incomplete,
            2,
            "anthropic",
            "claude-test"
        )
    );
    assert!(
        tick.error
            .as_deref()
            .is_some_and(|error| error.contains("rating reply could not be read")),
        "{:?}",
        tick.error
    );
    assert_eq!(tick.finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(
        tick.tokens,
        TokenUsage {
            input: 3000,
            output: 600,
            cache_read: 2400,
            cache_write: 300
        }
    );
    // 3000 × 3 + 600 × 15 + 300 × 3.75 + 2400 × 0.30 dollars per million.
    let cost = tick.cost_usd.expect("a priced model has a known cost");
    assert!((cost - 0.019845).abs() < 1e-9, "{cost}");
    // 529 and 429 were retried: five requests for three answers; the second
    // turn sent the three results with the error on toolu_02.
    let bodies = fake.request_bodies();
    assert_eq!(bodies.len(), 5);
    let results: Vec<(String, bool)> =
        bodies[2]["messages"].as_array().unwrap().last().unwrap()["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|block| {
                (
                    block["tool_use_id"].as_str().unwrap().to_owned(),
                    block["is_error"].as_bool().unwrap_or(false),
                )
            })
            .collect();
    assert_eq!(
        results,
        vec![
            ("toolu_01".into(), false),
            ("toolu_02".into(), true),
            ("toolu_03".into(), false)
        ]
    );
    // The rating request carries the day: each call numbered, with its
    // input and how it went, the app's error text included.
    let rating_prompt = bodies[4]["messages"][0]["content"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| {
            bodies[4]["messages"][0]["content"][0]["text"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap();
    assert!(
        rating_prompt.contains("#1 todo.create [todo] {\"title\":\"Angebot schreiben\"} → ok"),
        "{rating_prompt}"
    );
    assert!(
        rating_prompt.contains("#2 todo.create [todo] {\"title\":\" \"} → Fehler (app): "),
        "{rating_prompt}"
    );
    assert!(
        rating_prompt.contains("#3 notes.create [notes] "),
        "{rating_prompt}"
    );
    assert_eq!(bodies[4]["tool_choice"]["name"], "submit_ratings");
    // The sink failed twice; nothing was lost or doubled.
    let status = system.handles.persistence_status().await.unwrap();
    assert_eq!(
        (
            status.failed_writes,
            status.written_actions,
            status.pending_actions
        ),
        (2, 3, 0)
    );
    system.handles.supervisor.stop(None);
}

/// Arguments the listed schema rejects still go to the app, which refuses
/// them in its own words; the refusal is the agent's failure, not the app's,
/// and the module still counts as used.
#[tokio::test]
async fn arguments_the_schema_rejects_reach_the_app_and_fail_as_the_agents() {
    use actors::testing::{Dialect, FakeServer};
    use catalog::{ActionResult, FailedBy};

    let gateway = gateway_with_personas().await;
    let fake = FakeServer::start(Dialect::Anthropic, Vec::new())
        .await
        .unwrap();
    let usage = TokenUsage::default();
    fake.push_reply(
        &[
            // `title` is required.
            Block::ToolUse {
                id: "toolu_untitled".into(),
                name: "todo_create".into(),
                input: json!({ "description": "ohne Titel" }),
            },
            Block::ToolUse {
                id: "toolu_titled".into(),
                name: "todo_create".into(),
                input: json!({ "title": "Steuererklärung" }),
            },
        ],
        usage,
    );
    fake.push_reply(&[Block::Text("Fertig.".into())], usage);
    push_ratings(
        &fake,
        json!({
            "ratings": [{"module": "todo", "rating": 3, "notes": "#1 wollte einen Titel", "calls": [1, 2]}],
        }),
        usage,
    );
    let system = start_on_fake_claude(&gateway, &fake).await;
    let tick_id = tick_and_wait(&system.handles.supervisor, "katrin.lorenz@mana.test", 1).await;

    let actions = gateway.store.tick_actions(&tick_id).await.unwrap();
    let rows: Vec<(Option<&str>, ActionResult, Option<FailedBy>)> = actions
        .iter()
        .map(|row| (row.tool_use_id.as_deref(), row.result, row.failed_by))
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                Some("toolu_untitled"),
                ActionResult::Error,
                Some(FailedBy::Agent)
            ),
            (Some("toolu_titled"), ActionResult::Ok, None),
        ]
    );
    // The app's own validation answered, naming the missing field.
    let refusal = actions[0].error_message.as_deref().unwrap();
    assert!(
        refusal.contains("title") && refusal.contains("required"),
        "{refusal}"
    );
    let bodies = fake.request_bodies();
    let rating_prompt = bodies[2]["messages"][0]["content"].to_string();
    assert!(
        rating_prompt.contains("→ abgelehnt (agent): "),
        "{rating_prompt}"
    );
    let tick = gateway.store.tick(&tick_id).await.unwrap();
    assert_eq!(tick.status, catalog::TickStatus::Ok, "{:?}", tick.error);
    let feedback = gateway.store.tick_feedback(&tick_id).await.unwrap();
    assert_eq!(feedback[0].module, "todo");
    system.shutdown(Duration::from_secs(5)).await;
}

/// Starts the actors with a two-second tick timeout, ticks ben with `llms`
/// and waits until the tick has failed; returns the supervisor and the row.
async fn tick_past_a_two_second_timeout(
    gateway: &Gateway,
    llms: Arc<dyn LlmFactory>,
) -> (ActorRef<SupervisorMsg>, gateway::store::TickRow) {
    let system = start_actors_with(
        gateway,
        llms,
        Arc::new(StoreSink(gateway.store.clone())),
        |settings| settings.tuning.tick_timeout = Duration::from_secs(2),
    )
    .await;
    let supervisor = system.handles.supervisor.clone();
    let email = "ben.keller@mana.test";
    let snapshot = || snapshot_of(&supervisor);
    eventually(Duration::from_secs(10), "the persona reported", || async {
        entry(&snapshot().await, email).status.is_some()
    })
    .await;
    let tick_id = tick_now(&supervisor, email).await.unwrap();
    eventually(Duration::from_secs(20), "the tick timed out", || async {
        gateway
            .store
            .tick(&tick_id)
            .await
            .is_ok_and(|tick| tick.status == catalog::TickStatus::Failed)
    })
    .await;
    let tick = gateway.store.tick(&tick_id).await.unwrap();
    (supervisor, tick)
}

#[tokio::test]
async fn a_tick_over_its_timeout_fails_with_the_reason_and_keeps_its_rows() {
    let gateway = gateway_with_personas().await;
    // One LLM request (a tool call) goes through, the next one hangs past the timeout.
    let (_release, hold) = watch::channel(true);
    let llm = Arc::new(QuickLlm {
        hold,
        waiting: AtomicUsize::new(0),
        free_requests: AtomicUsize::new(1),
    });
    let factory = Arc::new(Factory {
        llm: llm.clone(),
        panics_for: None,
    });
    let (supervisor, tick) = tick_past_a_two_second_timeout(&gateway, factory).await;
    let tick_id = tick.tick_id.clone();
    assert!(
        tick.error.as_deref().unwrap().contains("timed out"),
        "{:?}",
        tick.error
    );
    assert_eq!(
        gateway.store.tick_actions(&tick_id).await.unwrap().len(),
        1,
        "the row made before the timeout is kept"
    );
    supervisor.stop(None);
}

/// The tick's own timeout, not the provider's, ends a tick whose model
/// stalls mid-answer: the conversation actor stops with the tick and drops
/// the streamed request, so the model server stops generating; the tick
/// says it was waiting on the LLM.
#[tokio::test]
async fn a_timed_out_tick_drops_its_streamed_request() {
    use actors::llm::openai::OpenAiLlm;
    use actors::testing::{Canned, Dialect, FakeServer, fast_retry};
    let gateway = gateway_with_personas().await;
    let fake = FakeServer::start(Dialect::OpenAi, Vec::new())
        .await
        .unwrap();
    fake.push_reply(
        &[Block::ToolUse {
            id: "call_1".into(),
            name: "todo_list".into(),
            input: json!({"status": "open"}),
        }],
        TokenUsage::default(),
    );
    fake.push(Canned::stalled_event_stream(
        "data: {\"choices\": [{\"index\": 0, \"delta\": {\"content\": \"Heute\"}}]}\n\n",
    ));
    // The provider would wait two minutes; the tick gives up after two seconds.
    let llm = OpenAiLlm::new(None, "m".into(), fake.base_url(), fast_retry()).unwrap();
    let (supervisor, tick) =
        tick_past_a_two_second_timeout(&gateway, Arc::new(Hosted(Arc::new(llm)))).await;
    assert_eq!(tick.failed_by, Some(catalog::FailedBy::Llm));
    assert!(
        tick.error
            .as_deref()
            .is_some_and(|error| error.contains("waiting for the LLM")),
        "{:?}",
        tick.error
    );
    eventually(
        Duration::from_secs(10),
        "the stalled stream was dropped",
        || async { fake.streams_abandoned() == 1 },
    )
    .await;
    supervisor.stop(None);
}

#[tokio::test]
async fn a_persona_leased_by_another_runner_does_not_tick_here() {
    let gateway = gateway_with_personas().await;
    let runtime = start(
        &gateway,
        None,
        Arc::new(StoreSink(gateway.store.clone())),
        false,
    )
    .await;
    let email = "sofia.hartmann@mana.test";
    let persona = gateway.store.persona_by_id_or_email(email).await.unwrap();
    eventually(Duration::from_secs(10), "the persona reported", || async {
        entry(&snapshot(&runtime).await, email).status.is_some()
    })
    .await;
    let now = gateway::store::now();
    assert!(
        gateway
            .store
            .claim_lease(
                &persona.user_id,
                "other-replica",
                now + chrono::TimeDelta::minutes(5),
                now
            )
            .await
            .unwrap()
    );

    let blocked = start_tick(&runtime, email).await.unwrap();
    eventually(Duration::from_secs(10), "the tick gave up", || async {
        entry(&snapshot(&runtime).await, email)
            .status
            .as_ref()
            .and_then(|s| s.last.clone())
            .is_some_and(|last| last.tick_id == blocked)
    })
    .await;
    let last = entry(&snapshot(&runtime).await, email)
        .status
        .clone()
        .unwrap()
        .last
        .unwrap();
    assert_eq!(last.status, catalog::TickStatus::Aborted);
    assert!(last.error.unwrap().contains("another runner"));
    assert!(
        gateway.store.tick(&blocked).await.is_err(),
        "no tick row without the lease"
    );
    assert_eq!(runtime.llm.waiting.load(Ordering::SeqCst), 0);

    gateway
        .store
        .release_lease(&persona.user_id, "other-replica", None)
        .await
        .unwrap();
    let ran = start_tick(&runtime, email).await.unwrap();
    eventually(Duration::from_secs(20), "the tick ran", || async {
        gateway
            .store
            .tick(&ran)
            .await
            .is_ok_and(|tick| tick.status == catalog::TickStatus::Ok)
    })
    .await;
    eventually(
        Duration::from_secs(5),
        "the lease was given back",
        || async {
            let now = gateway::store::now();
            gateway
                .store
                .claim_lease(
                    &persona.user_id,
                    "third-replica",
                    now + chrono::TimeDelta::minutes(1),
                    now,
                )
                .await
                .unwrap()
        },
    )
    .await;
    runtime.supervisor.stop(None);
}

/// A hosted Claude behind the fake Anthropic API at `fake`, for every persona.
fn claude_at(fake: &actors::testing::FakeServer) -> Arc<dyn LlmFactory> {
    let llm = actors::llm::anthropic::AnthropicLlm::new(
        "sk-ant-test-key".into(),
        "claude-test".into(),
        Some(fake.base_url()),
        actors::testing::fast_retry(),
    )
    .unwrap();
    Arc::new(Hosted(Arc::new(llm)))
}

/// Queues the rating turn's answer: `submit_ratings` with `input`.
fn push_ratings(fake: &actors::testing::FakeServer, input: serde_json::Value, usage: TokenUsage) {
    fake.push_reply(
        &[Block::ToolUse {
            id: "toolu_rating".into(),
            name: "submit_ratings".into(),
            input,
        }],
        usage,
    );
}

/// The runner's actors on the fake Anthropic API, rows into the store.
async fn start_on_fake_claude(
    gateway: &Gateway,
    fake: &actors::testing::FakeServer,
) -> RunnerSystem {
    start_actors(
        gateway,
        claude_at(fake),
        Arc::new(StoreSink(gateway.store.clone())),
    )
    .await
}

/// Starts a tick of `email` once it is idle and waits until it has
/// finished `ticks` ticks in all; returns the tick's id.
async fn tick_and_wait(supervisor: &ActorRef<SupervisorMsg>, email: &str, ticks: u64) -> String {
    eventually(Duration::from_secs(10), "the persona is idle", || async {
        entry(&snapshot_of(supervisor).await, email)
            .status
            .as_ref()
            .is_some_and(|s| s.activity == Activity::Idle)
    })
    .await;
    let tick_id = tick_now(supervisor, email).await.unwrap();
    eventually(Duration::from_secs(30), "the tick finished", || async {
        entry(&snapshot_of(supervisor).await, email)
            .status
            .as_ref()
            .is_some_and(|s| s.ticks == ticks)
    })
    .await;
    tick_id
}

/// The story the first tick's rating turn wrote is the persona's memory:
/// the second tick's day prompt carries it, and an operator reset clears it.
#[tokio::test]
async fn the_second_day_starts_from_the_story_the_first_wrote() {
    use actors::runtime::supervisor::Directory as _;
    use actors::testing::{Dialect, FakeServer};

    let gateway = gateway_with_personas().await;
    let fake = FakeServer::start(Dialect::Anthropic, Vec::new())
        .await
        .unwrap();
    let usage = TokenUsage::default();
    let story = "Ich habe meine offenen Aufgaben durchgesehen; morgen räume ich die Liste auf.";
    fake.push_reply(
        &[Block::ToolUse {
            id: "toolu_01".into(),
            name: "todo_list".into(),
            input: json!({}),
        }],
        usage,
    );
    fake.push_reply(&[Block::Text("Fertig.".into())], usage);
    push_ratings(
        &fake,
        json!({
            "ratings": [{"module": "todo", "rating": 4, "notes": "#1 ging", "calls": [1]}],
            "story": story,
        }),
        usage,
    );
    // The second day: nothing to do, so no rating turn.
    fake.push_reply(&[Block::Text("Heute nichts.".into())], usage);
    let system = start_on_fake_claude(&gateway, &fake).await;
    let email = "katrin.lorenz@mana.test";
    for day in 1..=2u64 {
        tick_and_wait(&system.handles.supervisor, email, day).await;
    }
    let bodies = fake.request_bodies();
    assert_eq!(bodies.len(), 4);
    let first_prompt = bodies[0]["messages"][0]["content"].to_string();
    assert!(
        !first_prompt.contains("Was bisher geschah"),
        "{first_prompt}"
    );
    let second_prompt = bodies[3]["messages"][0]["content"].to_string();
    assert!(
        second_prompt.contains(&format!(
            "Was bisher geschah (deine eigenen Notizen): {story}"
        )),
        "{second_prompt}"
    );

    let directory = StoreDirectory {
        store: gateway.store.clone(),
        seed_secret: SeedSecret::dev_fallback(),
    };
    let remembered = directory.memory(email).await.unwrap();
    assert_eq!(remembered.memory.as_deref(), Some(story));
    assert!(remembered.updated_at.is_some());
    let forgotten = directory.set_memory(email, None).await.unwrap();
    assert_eq!((forgotten.memory, forgotten.updated_at), (None, None));
    assert_eq!(directory.memory(email).await.unwrap().memory, None);
    system.shutdown(Duration::from_secs(5)).await;
}

/// A tick's transcript, read back as the control API serves it, holds the
/// day prompt, every answer, every call with its input and answer (the
/// app's, or the refusal of a call the model botched), the rating turn and
/// the tokens; a secret in a call's input is redacted.
#[tokio::test]
async fn a_ticks_transcript_holds_every_call_and_the_rating_turn() {
    use actors::testing::{Dialect, FakeServer};
    use catalog::transcript::{Phase, TranscriptItem};
    use catalog::{ActionResult, FailedBy};

    let gateway = gateway_with_personas().await;
    let fake = FakeServer::start(Dialect::Anthropic, Vec::new())
        .await
        .unwrap();
    let usage = TokenUsage {
        input: 100,
        output: 20,
        ..TokenUsage::default()
    };
    let secret = "Bearer abcdefghijklmnopqrstuvwxyz012345";
    fake.push_reply(
        &[
            Block::Text("Ich schaue in meine Aufgaben.".into()),
            Block::ToolUse {
                id: "toolu_01".into(),
                name: "todo_list".into(),
                input: json!({}),
            },
            Block::ToolUse {
                id: "toolu_02".into(),
                name: "todo_create".into(),
                input: json!({ "title": format!("Token merken: {secret}") }),
            },
            Block::ToolUse {
                id: "toolu_03".into(),
                name: "kalender_zaubern".into(),
                input: json!({}),
            },
        ],
        usage,
    );
    fake.push_reply(&[Block::Text("Fertig für heute.".into())], usage);
    push_ratings(
        &fake,
        json!({
            "ratings": [{"module": "todo", "rating": 4, "notes": "#1 und #2 gingen", "calls": [1, 2]}],
        }),
        usage,
    );
    let system = start_on_fake_claude(&gateway, &fake).await;
    let tick_id = tick_and_wait(&system.handles.supervisor, "katrin.lorenz@mana.test", 1).await;
    let detail = system.handles.tick(&tick_id).await.unwrap();
    system.shutdown(Duration::from_secs(5)).await;

    assert_eq!(detail.persona_email, "katrin.lorenz@mana.test");
    let kinds: Vec<String> = detail
        .transcript
        .iter()
        .map(|item| match item {
            TranscriptItem::Prompt { phase, .. } => format!("prompt {}", phase.as_str()),
            TranscriptItem::Answer { phase, turn, .. } => {
                format!("answer {} {turn}", phase.as_str())
            }
            TranscriptItem::Call { tool, .. } => format!("call {tool}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "prompt day",
            "answer day 1",
            "call todo.list",
            "call todo.create",
            "call kalender_zaubern",
            "answer day 2",
            "prompt rating",
            "answer rating 3",
        ]
    );
    let TranscriptItem::Prompt {
        text,
        system: persona_prompt,
        ..
    } = &detail.transcript[0]
    else {
        unreachable!("checked above");
    };
    assert!(text.contains("Verbringe einen ganz normalen Tag"), "{text}");
    assert!(!persona_prompt.is_empty());
    let TranscriptItem::Answer {
        text,
        finish_reason,
        tokens,
        ..
    } = &detail.transcript[1]
    else {
        unreachable!("checked above");
    };
    assert_eq!(
        (text.as_str(), finish_reason.as_str(), *tokens),
        ("Ich schaue in meine Aufgaben.", "tool_use", usage)
    );
    let calls: Vec<(&str, ActionResult, Option<FailedBy>, &str, &str)> = detail
        .transcript
        .iter()
        .filter_map(|item| match item {
            TranscriptItem::Call {
                tool,
                result,
                failed_by,
                input,
                output,
                ..
            } => Some((
                tool.as_str(),
                *result,
                *failed_by,
                input.as_str(),
                output.as_str(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        calls
            .iter()
            .map(|call| (call.0, call.1, call.2))
            .collect::<Vec<_>>(),
        [
            ("todo.list", ActionResult::Ok, None),
            ("todo.create", ActionResult::Ok, None),
            (
                "kalender_zaubern",
                ActionResult::Error,
                Some(FailedBy::Agent)
            ),
        ]
    );
    assert!(
        calls[1].3.contains("Token merken: Bearer [redacted]") && !calls[1].3.contains(secret),
        "{}",
        calls[1].3
    );
    assert!(!calls[1].4.is_empty(), "the app's answer is kept");
    assert!(calls[2].4.contains("kalender_zaubern"), "{}", calls[2].4);
    let TranscriptItem::Prompt {
        phase: Phase::Rating,
        text,
        ..
    } = &detail.transcript[6]
    else {
        unreachable!("checked above");
    };
    assert!(text.contains("#1 todo.list"), "{text}");
    let TranscriptItem::Answer { text, .. } = &detail.transcript[7] else {
        unreachable!("checked above");
    };
    assert!(text.starts_with("submit_ratings "), "{text}");
    assert_eq!(detail.actions.len(), 3);
    assert_eq!(detail.feedback.len(), 1);
    assert_eq!(detail.tick.tokens.input, 300);

    let shown = runner::cli::tick::render(&detail);
    for expected in [
        "katrin.lorenz@mana.test",
        "── the day ──",
        "#2 todo.create",
        "#3 kalender_zaubern {} → error (agent)",
        "── the rating turn ──",
        "todo 4/5",
    ] {
        assert!(shown.contains(expected), "{expected:?} missing in\n{shown}");
    }
}

/// A persona's daily budget ends its tick `failed` (reason budget) at the
/// request that would go past it, keeping the calls it made, and its next
/// tick does not start; another persona still ticks. Then the fleet's
/// budget: reached, it sets the kill-switch with reason budget, and a
/// restart reads the day's spend back from the tick rows and holds it.
#[tokio::test]
async fn the_persona_and_the_fleet_budgets_stop_what_they_should() {
    use actors::runtime::budget::{Budgets, Limit};
    use actors::testing::{Dialect, FakeServer};
    use catalog::TickStatus;

    let gateway = gateway_with_personas().await;
    let fake = FakeServer::start(Dialect::Anthropic, Vec::new())
        .await
        .unwrap();
    // 120 tokens an answer; at Sonnet's price $0.0006 each.
    let usage = TokenUsage {
        input: 100,
        output: 20,
        ..TokenUsage::default()
    };
    let list = |id: &str| Block::ToolUse {
        id: id.into(),
        name: "todo_list".into(),
        input: json!({}),
    };
    fake.push_reply(&[list("toolu_1")], usage);
    fake.push_reply(&[list("toolu_2")], usage);
    let persona_budget = Budgets {
        persona: Limit {
            usd: None,
            tokens: Some(200),
        },
        fleet: Limit::default(),
    };
    let system = start_actors_with(
        &gateway,
        claude_at(&fake),
        Arc::new(StoreSink(gateway.store.clone())),
        |settings| settings.tuning.budgets = persona_budget,
    )
    .await;
    let supervisor = system.handles.supervisor.clone();
    let anna = "anna.keller@mana.test";
    let tick_id = tick_and_wait(&supervisor, anna, 1).await;
    let row = gateway.store.tick(&tick_id).await.unwrap();
    assert_eq!(row.status, TickStatus::Failed);
    let error = row.error.clone().unwrap_or_default();
    assert!(
        error.starts_with("budget: the persona's daily LLM budget is spent (240 of 200 tokens"),
        "{error}"
    );
    assert_eq!(
        row.failed_by, None,
        "the runner stopped it, not the app or the model"
    );
    assert_eq!(
        gateway.store.tick_actions(&tick_id).await.unwrap().len(),
        2,
        "the calls it made are kept"
    );
    assert_eq!(fake.request_bodies().len(), 2, "no request past the budget");
    // The next tick of the same persona does not start at all.
    tick_and_wait(&supervisor, anna, 2).await;
    let last = entry(&snapshot_of(&supervisor).await, anna)
        .status
        .as_ref()
        .and_then(|status| status.last.clone())
        .unwrap();
    assert_eq!(last.status, TickStatus::Aborted);
    assert!(
        last.error
            .as_deref()
            .unwrap_or_default()
            .starts_with("budget: "),
        "{last:?}"
    );
    assert_eq!(fake.request_bodies().len(), 2);
    // Another persona has a budget of its own.
    fake.push_reply(&[Block::Text("Heute nichts.".into())], usage);
    tick_and_wait(&supervisor, "ben.keller@mana.test", 1).await;
    assert_eq!(fake.request_bodies().len(), 3);
    let spending = system.handles.spending().await.unwrap();
    assert_eq!(
        spending.values().map(|spent| spent.tokens).sum::<u64>(),
        360
    );
    system.shutdown(Duration::from_secs(5)).await;

    // The fleet: $0.0018 spent today across three answers; a budget of
    // $0.0015 is already spent when the runner starts again.
    let fleet_budget = Budgets {
        persona: Limit::default(),
        fleet: Limit {
            usd: Some(0.0015),
            tokens: None,
        },
    };
    let system = start_actors_with(
        &gateway,
        claude_at(&fake),
        Arc::new(StoreSink(gateway.store.clone())),
        |settings| settings.tuning.budgets = fleet_budget,
    )
    .await;
    let status = system.handles.dispatcher_status();
    assert!(status.paused && status.paused_by_budget, "{status:?}");
    assert!((status.fleet_spent.usd - 0.0018).abs() < 1e-9, "{status:?}");
    assert_eq!(status.fleet_spent.tokens, 360);
    system.shutdown(Duration::from_secs(5)).await;
}

/// The transcript does not depend on the provider: a tick through the fake
/// OpenAI API (streamed answers, `tool_calls`, a forced function for the
/// ratings) keeps the same items, with the finish reasons and tokens the
/// server sent.
#[tokio::test]
async fn a_tick_through_the_openai_api_keeps_the_same_transcript() {
    use actors::llm::openai::OpenAiLlm;
    use actors::testing::{Dialect, FakeServer, fast_retry};
    use catalog::transcript::TranscriptItem;

    let gateway = gateway_with_personas().await;
    let fake = FakeServer::start(Dialect::OpenAi, Vec::new())
        .await
        .unwrap();
    let usage = TokenUsage {
        input: 50,
        output: 10,
        ..TokenUsage::default()
    };
    fake.push_reply(
        &[Block::ToolUse {
            id: "call_1".into(),
            name: "todo_list".into(),
            input: json!({}),
        }],
        usage,
    );
    fake.push_reply(&[Block::Text("Fertig.".into())], usage);
    push_ratings(
        &fake,
        json!({ "ratings": [{"module": "todo", "rating": 5, "notes": "#1 klar", "calls": [1]}] }),
        usage,
    );
    let llm = OpenAiLlm::new(None, "m".into(), fake.base_url(), fast_retry()).unwrap();
    let system = start_actors(
        &gateway,
        Arc::new(Hosted(Arc::new(llm))),
        Arc::new(StoreSink(gateway.store.clone())),
    )
    .await;
    let tick_id = tick_and_wait(&system.handles.supervisor, "katrin.lorenz@mana.test", 1).await;
    let detail = system.handles.tick(&tick_id).await.unwrap();
    system.shutdown(Duration::from_secs(5)).await;

    let answers: Vec<(String, String, TokenUsage)> = detail
        .transcript
        .iter()
        .filter_map(|item| match item {
            TranscriptItem::Answer {
                phase,
                finish_reason,
                tokens,
                ..
            } => Some((phase.as_str().to_owned(), finish_reason.clone(), *tokens)),
            _ => None,
        })
        .collect();
    assert_eq!(
        answers,
        [
            ("day".to_owned(), "tool_use".to_owned(), usage),
            ("day".to_owned(), "end_turn".to_owned(), usage),
            ("rating".to_owned(), "tool_use".to_owned(), usage),
        ]
    );
    let calls: Vec<&str> = detail
        .transcript
        .iter()
        .filter_map(|item| match item {
            TranscriptItem::Call { tool, output, .. } if !output.is_empty() => Some(tool.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(calls, ["todo.list"]);
    assert_eq!(detail.feedback.len(), 1);
}

/// A failed tick puts the persona on a failure backoff: its summary says
/// when the schedule tries again (a minute later after one failure), the
/// schedule's start is skipped until then, and an operator's "tick now"
/// still starts at once. A tick that does not fail clears it.
#[tokio::test]
async fn after_a_failed_tick_the_schedule_backs_off_but_an_operator_does_not() {
    use actors::testing::{Dialect, FakeServer};
    use catalog::TickStatus;

    let gateway = gateway_with_personas().await;
    let fake = FakeServer::start(Dialect::Anthropic, Vec::new())
        .await
        .unwrap();
    fake.push_error(401, "authentication_error", "invalid x-api-key", None);
    let system = start_on_fake_claude(&gateway, &fake).await;
    let supervisor = system.handles.supervisor.clone();
    let email = "ben.keller@mana.test";
    tick_and_wait(&supervisor, email, 1).await;
    let last = |snapshot: &Snapshot| {
        entry(snapshot, email)
            .status
            .as_ref()
            .and_then(|status| status.last.clone())
            .unwrap()
    };
    let failed = last(&snapshot_of(&supervisor).await);
    assert_eq!(failed.status, TickStatus::Failed);
    let next = failed
        .next_attempt_at
        .expect("a failed tick sets a backoff");
    assert_eq!((next - failed.finished_at).num_seconds(), 60);

    // The schedule's start comes first in the persona's mailbox and is
    // skipped; had it started a tick, the operator's would be refused as busy.
    let persona_id = entry(&snapshot_of(&supervisor).await, email)
        .persona_id
        .clone();
    supervisor
        .cast(SupervisorMsg::StartDue(vec![persona_id]))
        .unwrap();
    fake.push_reply(
        &[Block::Text("Heute nichts.".into())],
        TokenUsage::default(),
    );
    tick_now(&supervisor, email).await.unwrap();
    eventually(
        Duration::from_secs(30),
        "the operator's tick ended",
        || async {
            entry(&snapshot_of(&supervisor).await, email)
                .status
                .as_ref()
                .is_some_and(|status| status.ticks == 2)
        },
    )
    .await;
    let idle = last(&snapshot_of(&supervisor).await);
    assert_eq!(idle.status, TickStatus::Idle);
    assert_eq!(
        idle.next_attempt_at, None,
        "a tick that did not fail clears it"
    );
    system.shutdown(Duration::from_secs(5)).await;
}

/// A retry inside the provider is a request like any other: it waits for a
/// rate slot from the dispatcher, so the fleet's quota counts it.
#[tokio::test]
async fn a_providers_retry_takes_a_rate_slot_too() {
    use actors::testing::{Dialect, FakeServer};

    let gateway = gateway_with_personas().await;
    let fake = FakeServer::start(Dialect::Anthropic, Vec::new())
        .await
        .unwrap();
    fake.push_error(529, "overloaded_error", "Overloaded", None);
    fake.push_reply(
        &[Block::Text("Heute nichts.".into())],
        TokenUsage::default(),
    );
    let system = start_on_fake_claude(&gateway, &fake).await;
    tick_and_wait(&system.handles.supervisor, "ben.keller@mana.test", 1).await;
    assert_eq!(fake.requests().len(), 2, "the 529 and its retry");
    assert_eq!(
        system.handles.dispatcher_status().llm_requests,
        2,
        "each took a rate slot"
    );
    system.shutdown(Duration::from_secs(5)).await;
}
