//! A tick's life in the task its persona actor spawns: a permit from the
//! dispatcher (held until the tick's rows are durable), the persona's lease
//! (renewed while ticking), login and the MCP session, [`run_tick`] under the
//! tick timeout, the verdict, the rows handed to the dispatcher and made
//! durable before the tick row ends, the lease given back, and
//! `TickFinished` to the actor.

use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument as _;

use catalog::{FailedBy, NewTick, TickFinish, TickStatus};
use chrono::Utc;
use ractor::ActorRef;

use super::report::TickSummary;
use super::{PersonaIdentity, PersonaMsg, backoff};
use crate::app_client::{Credentials, LoginError, Session};
use crate::mcp_client::McpError;
use crate::progress::Waiting;
use crate::runtime::RuntimeEnv;
use crate::runtime::budget::day_start;
use crate::runtime::conversation::ConversationHandle;
use crate::runtime::dispatcher::{DispatcherMsg, NoPermit};
use crate::runtime::persistence::TickRows;
use crate::tick::{Day, PersonaProfile, TickEnd, TickError, TickRecord, TickRecorder, run_tick};

pub(super) struct TickTask {
    pub(super) recorder: TickRecorder,
    pub(super) env: Arc<RuntimeEnv>,
    pub(super) identity: Arc<PersonaIdentity>,
    pub(super) session: Option<Box<Session>>,
    /// Failed ticks in a row before this one (the backoff's exponent).
    pub(super) failures: u32,
    /// Started by a schedule pass, which took the lease already.
    pub(super) scheduled: bool,
    pub(super) tick_id: String,
    pub(super) llm: ConversationHandle,
    pub(super) me: ActorRef<PersonaMsg>,
}

#[derive(Debug, thiserror::Error)]
enum TickFailure {
    #[error("login failed: {0}")]
    Login(#[from] LoginError),
    #[error(transparent)]
    Mcp(#[from] McpError),
    #[error(transparent)]
    Tick(#[from] TickError),
}

impl TickFailure {
    /// Whose failure this is: logging in and the MCP connection are the
    /// app's side.
    fn failed_by(&self) -> Option<FailedBy> {
        match self {
            TickFailure::Login(_) | TickFailure::Mcp(_) => Some(FailedBy::App),
            TickFailure::Tick(error) => error.failed_by(),
        }
    }
}

pub(super) async fn tick_task(task: TickTask) {
    let TickTask {
        recorder,
        env,
        identity,
        session,
        failures,
        scheduled,
        tick_id,
        llm,
        me,
    } = task;
    let PersonaIdentity { profile, password } = &*identity;
    recorder.waiting(Some(Waiting::Permit));
    // No timeout: waiting in the dispatcher's queue is the concurrency limit
    // (or the kill-switch) at work; shutdown answers every waiter.
    let _permit = match env
        .dispatcher
        .call(
            |reply| DispatcherMsg::RequestPermit(profile.id.clone(), reply),
            None,
        )
        .await
    {
        Ok(ractor::rpc::CallResult::Success(Ok(permit))) => permit,
        refused => {
            // It never started: no tick row, no rows to save.
            let reason = match refused {
                Ok(ractor::rpc::CallResult::Success(Err(refused))) => {
                    if let NoPermit::Budget(_) = refused {
                        // Its budget renews at the next UTC day; the lease a
                        // schedule pass took for it says so to every replica.
                        let next_day = day_start(Utc::now()) + chrono::TimeDelta::days(1);
                        if let Err(error) = env
                            .ledger
                            .release(&profile.id, &env.replica_id, Some(next_day))
                            .await
                        {
                            tracing::warn!(%error, tick_id, "releasing the lease failed; it expires by itself");
                        }
                    }
                    refused.to_string()
                }
                _ => "the runner's dispatcher is gone; no tick starts".to_owned(),
            };
            not_started(&me, tick_id, session, failures, reason);
            return;
        }
    };
    // IMPORTANT: the lease is what keeps two replicas from running one
    // persona at once; no tick row or call happens without it. A scheduled
    // tick only renews the lease its pass took: if that lapsed while it
    // waited for a permit, another replica may have ticked the persona.
    let held = if scheduled {
        env.ledger
            .renew(&profile.id, &env.replica_id, env.lease)
            .await
    } else {
        env.ledger
            .claim(&profile.id, &env.replica_id, env.lease)
            .await
    };
    match held {
        Ok(true) => {}
        outcome => {
            let reason = match outcome {
                Ok(_) if scheduled => {
                    "the schedule's lease lapsed before a permit came; the next pass decides again"
                        .to_owned()
                }
                Ok(_) => "another runner holds this persona's lease".to_owned(),
                Err(error) => format!("the lease could not be taken: {error}"),
            };
            not_started(&me, tick_id, session, failures, reason);
            return;
        }
    }
    // Dropped when the tick ends or its task is aborted (cancelled).
    let renewal = AbortOnDrop(tokio::spawn(renew_lease(env.clone(), profile.id.clone())));
    let started = Instant::now();
    let started_at = Utc::now();
    let started_row = NewTick {
        tick_id: tick_id.clone(),
        persona_id: profile.id.clone(),
        provider: llm.provider.to_owned(),
        model: llm.model.clone(),
        started_at,
    };
    if let Err(error) = env.ledger.tick_started(&started_row).await {
        tracing::warn!(%error, tick_id, "recording the tick start failed");
    }
    let who = Credentials {
        persona_id: &profile.id,
        email: &profile.email,
        password,
    };
    let work = async {
        recorder.waiting(Some(Waiting::Login));
        let now = Utc::now();
        let session = match session.filter(|session| session.valid_for(env.session_margin, now)) {
            Some(session) => *session,
            None => env.app.login(who).await?,
        };
        // A rejected token (revoked, key rotated) gets one fresh login.
        let (session, mcp) = match env.mcp.open(&session, profile).await {
            Ok(mcp) => (session, mcp),
            Err(_) => {
                let session = env.app.login(who).await?;
                let mcp = env.mcp.open(&session, profile).await?;
                (session, mcp)
            }
        };
        let day = Day {
            now,
            memory: remembered(&env, profile).await,
            app: mcp.app_name(),
            language: env.language,
            template: env.day_template.clone(),
        };
        let result = run_tick(profile, &tick_id, &llm, &mcp, env.settings, &recorder, day).await;
        mcp.close().await;
        Ok::<(Session, TickEnd), TickFailure>((session, result?))
    };
    let span = crate::gen_ai::invoke_agent(
        &profile.name,
        &profile.id,
        &tick_id,
        llm.provider,
        &llm.model,
    );
    let (status, error, failed_by, session) =
        match tokio::time::timeout(env.tick_timeout, work.instrument(span.clone())).await {
            Err(_) => {
                let waiting = recorder.waiting_for();
                let on = waiting
                    .map(|waiting| format!(" waiting for {}", waiting.describe()))
                    .unwrap_or_default();
                (
                    TickStatus::Failed,
                    Some(format!(
                        "the tick timed out after {} s{on} (PERSONA_TICK_TIMEOUT_SECS)",
                        env.tick_timeout.as_secs()
                    )),
                    waiting.and_then(Waiting::culprit),
                    None,
                )
            }
            Ok(Err(failure)) => (
                TickStatus::Failed,
                Some(failure.to_string()),
                failure.failed_by(),
                None,
            ),
            Ok(Ok((session, end))) => {
                let (status, reason) = end.verdict(recorder.action_count());
                (status, reason, None, Some(Box::new(session)))
            }
        };
    recorder.waiting(Some(Waiting::Saving));
    let mut record = recorder.take();
    crate::gen_ai::tick_ended(&span, status, failed_by);
    for row in &record.feedback {
        if let Some(rating) = row.rating {
            crate::gen_ai::evaluation(&span, &row.module, rating);
        }
    }
    // The tick's span ends here; saving its rows is the runner's work.
    drop(span);
    let story = record.story.take();
    metrics::counter!(crate::metrics::TICKS_TOTAL, "outcome" => status.as_str()).increment(1);
    metrics::histogram!(crate::metrics::TICK_DURATION_SECONDS)
        .record(started.elapsed().as_secs_f64());
    if record
        .feedback
        .iter()
        .any(catalog::FeedbackRow::is_parse_failure)
    {
        metrics::counter!(crate::metrics::RATING_PARSE_FAILURES_TOTAL).increment(1);
    }
    let mut summary = TickSummary::new(
        tick_id.clone(),
        status,
        error.clone(),
        failed_by,
        &record,
        started.elapsed().as_millis() as u64,
    );
    let (failures, next_attempt_at) =
        backoff::after_tick(failures, status, profile.cadence, summary.finished_at);
    summary.next_attempt_at = next_attempt_at;
    summary.failures_in_row = failures;
    summary.log();
    // The schedule may claim it again after its backoff, or else its cadence.
    let next_due_at = next_attempt_at
        .unwrap_or_else(|| summary.finished_at + catalog::due::min_interval(profile.cadence));
    summary.next_due_at = Some(next_due_at);
    let ended = TickFinish {
        status,
        error,
        failed_by,
        finish_reason: record.finish_reason,
        turns: record.turns,
        tokens: record.tokens,
        cost_usd: record.cost.usd(),
        summary: record.summary,
        transcript: record.transcript,
        finished_at: summary.finished_at,
        next_due_at: Some(next_due_at),
    };
    save_tick(
        &env,
        profile.id.clone(),
        tick_id.clone(),
        record.actions,
        record.feedback,
        ended,
    )
    .await;
    if let Some(story) = &story
        && let Err(error) = env.directory.set_memory(&profile.id, Some(story)).await
    {
        tracing::warn!(%error, tick_id, "storing the persona's memory failed; its next day starts from the old one");
    }
    drop(renewal);
    if let Err(error) = env.ledger.release(&profile.id, &env.replica_id, None).await {
        tracing::warn!(%error, tick_id, "releasing the lease failed; it expires by itself");
    }
    let _ = me.cast(PersonaMsg::TickFinished {
        tick_id,
        summary: Arc::new(summary),
        session,
    });
}

/// The persona's memory for its day prompt. One that cannot be read is
/// left out with a warning: the day is still worth playing.
async fn remembered(env: &RuntimeEnv, profile: &PersonaProfile) -> Option<String> {
    match env.directory.memory(&profile.id).await {
        Ok(memory) => memory.memory,
        Err(error) => {
            tracing::warn!(%error, persona = %profile.email, "reading the persona's memory failed; this day starts without it");
            None
        }
    }
}

/// Aborts the task when dropped, so a renewal never outlives its tick.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps the lease of a ticking persona alive until aborted.
async fn renew_lease(env: Arc<RuntimeEnv>, persona_id: String) {
    let mut every = tokio::time::interval(env.lease / 3);
    // IMPORTANT: Skip, so a stalled process does not renew in a burst.
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    every.tick().await;
    loop {
        every.tick().await;
        match env
            .ledger
            .claim(&persona_id, &env.replica_id, env.lease)
            .await
        {
            Ok(true) => {}
            Ok(false) => tracing::error!(
                persona_id,
                "another runner took this persona's lease mid-tick"
            ),
            Err(error) => tracing::warn!(%error, persona_id, "renewing the lease failed"),
        }
    }
}

/// Reports a tick that never started (no permit, no lease): aborted, with
/// no tick row and nothing to save; the failures in a row stay as they were.
/// A lease the schedule took for it expires by itself.
fn not_started(
    me: &ActorRef<PersonaMsg>,
    tick_id: String,
    session: Option<Box<Session>>,
    failures: u32,
    reason: String,
) {
    let summary = TickSummary {
        failures_in_row: failures,
        ..TickSummary::new(
            tick_id.clone(),
            TickStatus::Aborted,
            Some(reason),
            None,
            &TickRecord::default(),
            0,
        )
    };
    let _ = me.cast(PersonaMsg::TickFinished {
        tick_id,
        summary: Arc::new(summary),
        session,
    });
}

/// Hands a tick's rows to the dispatcher (which batches them to
/// persistence), waits until they are durable, then records how the tick
/// ended — in that order, so a finished tick row always has its rows.
pub(super) async fn save_tick(
    env: &RuntimeEnv,
    persona_id: String,
    tick_id: String,
    actions: Vec<catalog::ActionRow>,
    feedback: Vec<catalog::FeedbackRow>,
    ended: TickFinish,
) {
    if !actions.is_empty() || !feedback.is_empty() {
        // No timeout: persistence retries a failing sink until it takes the
        // rows, and answers only then; giving up here would end the tick row
        // before its rows exist.
        let durable = env
            .dispatcher
            .call(
                |reply| {
                    DispatcherMsg::SaveRows(Box::new(TickRows {
                        persona_id,
                        actions,
                        feedback,
                        durable: Some(reply),
                    }))
                },
                None,
            )
            .await;
        if !matches!(durable, Ok(ractor::rpc::CallResult::Success(()))) {
            tracing::error!(
                tick_id,
                "the tick's rows could not be handed to persistence"
            );
        }
    }
    if let Err(error) = env.ledger.tick_ended(&tick_id, &ended).await {
        tracing::warn!(%error, tick_id, "recording the tick end failed");
    }
}
