//! The running tick as its persona actor holds it: how it starts (its
//! conversation actor, a recorder that tells the actor each step, the LLM
//! that takes a rate slot before each request, the task) and how an
//! operator cancels it.

use std::sync::Arc;

use catalog::{TickFinish, TickStatus};
use chrono::{DateTime, Utc};
use ractor::{Actor, ActorRef, RpcReplyPort};
use tracing::Instrument as _;

use super::live::LiveCalls;
use super::report::TickSummary;
use super::tick_llm::{DispatcherGate, TickLlm};
use super::tick_task::{TickTask, save_tick, tick_task};
use super::{PersonaIdentity, PersonaMsg};
use crate::app_client::Session;
use crate::progress::{TickEvent, TickObserver};
use crate::runtime::conversation::{ConversationActor, ConversationHandle, ConversationMsg};
use crate::runtime::dispatcher::SaveHold;
use crate::runtime::{CommandRefused, RuntimeEnv};
use crate::tick::TickRecorder;

pub(super) struct RunningTick {
    pub(super) tick_id: String,
    pub(super) started_at: DateTime<Utc>,
    /// Shared with the task, so a cancelled tick's rows can still be saved.
    pub(super) recorder: TickRecorder,
    /// Aborted by `CancelTick`; dropping it does not cancel.
    pub(super) task: tokio::task::JoinHandle<()>,
    /// The tick's LLM endpoint, stopped when the tick ends: an idle persona
    /// holds no conversation actor, which keeps thousands of them cheap.
    pub(super) conversation: ActorRef<ConversationMsg>,
    /// Its calls so far, by tool_use_id, and what it waits for.
    pub(super) live: LiveCalls,
}

impl RunningTick {
    /// Starts a tick of `identity` in a task of its own, its conversation
    /// actor linked to `me`.
    pub(super) async fn start(
        env: &Arc<RuntimeEnv>,
        identity: &Arc<PersonaIdentity>,
        session: Option<Box<Session>>,
        failures: u32,
        scheduled: bool,
        me: &ActorRef<PersonaMsg>,
    ) -> Result<RunningTick, CommandRefused> {
        let email = &identity.profile.email;
        let tick_id = uuid::Uuid::now_v7().to_string();
        let llm = env.llms.for_tick(&identity.profile, &tick_id);
        let (conversation, _) = Actor::spawn_linked(None, ConversationActor, (), me.get_cell())
            .await
            .map_err(|error| CommandRefused::NotStarted(error.to_string()))?;
        let recorder = TickRecorder::observed(Arc::new(ToPersonaActor {
            actor: me.clone(),
            tick_id: Arc::from(tick_id.as_str()),
        }));
        let handle = ConversationHandle {
            actor: conversation.clone(),
            provider: llm.provider(),
            model: llm.model().to_owned(),
            source: llm.clone(),
        };
        let gate = Arc::new(DispatcherGate {
            dispatcher: env.dispatcher.clone(),
            recorder: recorder.clone(),
            persona_id: identity.profile.id.clone(),
        });
        let _ = conversation.cast(ConversationMsg::UseLlm(Arc::new(TickLlm {
            inner: llm,
            gate,
            dispatcher: env.dispatcher.clone(),
            recorder: recorder.clone(),
            prices: env.prices.clone(),
            persona: email.clone(),
            persona_id: identity.profile.id.clone(),
        })));
        // The tick's logs carry who ticks: a spawned task starts outside any
        // span, and ractor does not pass the sender's span to handlers here.
        let span = tracing::info_span!("tick", persona = %email, tick_id = %tick_id);
        let task = tokio::spawn(
            tick_task(TickTask {
                recorder: recorder.clone(),
                env: env.clone(),
                identity: identity.clone(),
                session,
                failures,
                scheduled,
                tick_id: tick_id.clone(),
                llm: handle,
                me: me.clone(),
            })
            .instrument(span),
        );
        Ok(RunningTick {
            tick_id: tick_id.clone(),
            started_at: Utc::now(),
            recorder,
            task,
            conversation,
            live: LiveCalls::default(),
        })
    }

    /// Ends it as the operator asked: aborts its task (which drops its
    /// permit and stops its lease renewal), then, in a task of its own,
    /// saves the rows it made, ends its tick row as aborted with `reason`,
    /// gives the lease back (no next due time is set: its day was cut short,
    /// not spent, so only its cadence and the rows it made decide) and
    /// answers `done`. Returns its summary at once.
    pub(super) fn cancel(
        self,
        env: Arc<RuntimeEnv>,
        persona_id: String,
        reason: String,
        done: Option<Box<RpcReplyPort<()>>>,
    ) -> TickSummary {
        let RunningTick {
            tick_id,
            started_at,
            recorder,
            task,
            ..
        } = self;
        // IMPORTANT: taken before the task's permit goes, so shutdown, which
        // waits for permits and holds, never stops the dispatcher under this
        // save (a held message is queued before any later question).
        let hold = SaveHold::new(&env.dispatcher);
        task.abort();
        metrics::counter!(crate::metrics::TICKS_TOTAL, "outcome" => TickStatus::Aborted.as_str())
            .increment(1);
        let record = recorder.take();
        let summary = TickSummary::new(
            tick_id.clone(),
            TickStatus::Aborted,
            Some(reason.clone()),
            None,
            &record,
            (Utc::now() - started_at).num_milliseconds().max(0) as u64,
        );
        let ended = TickFinish {
            status: TickStatus::Aborted,
            error: Some(reason),
            failed_by: None,
            finish_reason: record.finish_reason,
            turns: record.turns,
            tokens: record.tokens,
            cost_usd: record.cost.usd(),
            summary: record.summary,
            transcript: record.transcript,
            finished_at: Utc::now(),
            // Cut short, not spent: its cadence and its rows decide.
            next_due_at: None,
        };
        tokio::spawn(async move {
            save_tick(
                &env,
                persona_id.clone(),
                tick_id,
                record.actions,
                record.feedback,
                ended,
            )
            .await;
            if let Err(error) = env.ledger.release(&persona_id, &env.replica_id, None).await {
                tracing::warn!(%error, "releasing the lease failed; it expires by itself");
            }
            if let Some(done) = done {
                let _ = done.send(());
            }
            drop(hold);
        });
        summary
    }
}

/// Tells the persona actor each step of its running tick.
struct ToPersonaActor {
    actor: ActorRef<PersonaMsg>,
    tick_id: Arc<str>,
}

impl TickObserver for ToPersonaActor {
    fn observe(&self, event: TickEvent) {
        // An actor that stopped has no view left to update.
        let _ = self
            .actor
            .cast(PersonaMsg::Observed(self.tick_id.clone(), Box::new(event)));
    }
}
