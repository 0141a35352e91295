//! The supervisor: spawns one persona actor per persona (paused ones too, so
//! they can be inspected), restarts failed ones, keeps a status cache that
//! answers inspection at once, and starts ticks for due personas.
//!
//! Per persona it keeps what a restart needs and the persona's last
//! [`PersonaReport`]: the identity is the `Arc` the persona's actor shares,
//! and a snapshot builds each [`PersonaStatus`] only when asked for.
//!
//! # Restart policy
//!
//! A persona actor that fails (panics or returns an error) is restarted
//! after an exponential backoff (`base_backoff` doubling up to
//! `max_backoff`), scheduled as a timer message — never in a hot loop. If it
//! fails more than `max_restarts` times within `window`, it is marked failed
//! with the reason and left stopped. One persona's failures never touch
//! another's actor; the supervisor itself never stops because a child did.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, RpcReplyPort, SupervisionEvent};

use super::dispatcher::DispatcherStatus;
use super::persona::{
    LiveTick, PersonaActor, PersonaArgs, PersonaIdentity, PersonaMsg, PersonaReport, PersonaStatus,
    TickSummary,
};
use super::{BackendError, CommandRefused, RuntimeEnv};
use crate::tick::PersonaProfile;

/// A persona to run.
#[derive(Debug, Clone)]
pub struct PersonaSeed {
    pub profile: PersonaProfile,
    pub password: String,
    pub paused: bool,
}

/// A persona named by an operator, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonaRef {
    pub id: String,
    pub email: String,
}

/// A persona's memory ("the story so far"): what its last tick wrote, put
/// into its next day prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonaMemory {
    pub persona: PersonaRef,
    /// `None` until a tick wrote one, or after a reset.
    pub memory: Option<String>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Where the supervisor learns which personas exist and which are due, and
/// where pause flags and memories are stored so they survive a restart.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    async fn personas(&self) -> Result<Vec<PersonaSeed>, BackendError>;
    /// Ids of the personas due now, in the order to serve them.
    async fn due(&self) -> Result<Vec<String>, BackendError>;
    /// Stores the pause flag of a persona named by id or email.
    async fn set_paused(&self, key: &str, paused: bool) -> Result<PersonaRef, BackendError>;
    /// The memory of a persona named by id or email.
    async fn memory(&self, key: &str) -> Result<PersonaMemory, BackendError>;
    /// Replaces it (`None`: forgets it).
    async fn set_memory(
        &self,
        key: &str,
        memory: Option<&str>,
    ) -> Result<PersonaMemory, BackendError>;
}

#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    /// Failures tolerated within `window`; one more marks the persona failed.
    pub max_restarts: usize,
    pub window: Duration,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            max_restarts: 5,
            window: Duration::from_secs(60),
            base_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// The heartbeat period a replica announces when it schedules only on
/// request.
const DEFAULT_SCHEDULE_EVERY: Duration = Duration::from_secs(60);

/// How long a cancelled tick may take to make its rows durable before
/// `CancelRunning`'s reply stops waiting for it.
const CANCEL_SAVE_LIMIT: Duration = Duration::from_secs(30);

pub struct SupervisorActor;

/// Built only by [`super::RunnerSystem::start`].
pub struct SupervisorArgs {
    pub(crate) personas: Vec<PersonaSeed>,
    pub(crate) env: Arc<RuntimeEnv>,
    pub(crate) restart: RestartPolicy,
    pub(crate) directory: Option<Arc<dyn Directory>>,
    /// How often to look for due personas; `None` ticks only on request.
    pub(crate) schedule_every: Option<Duration>,
    /// How often to re-read the persona list (added, removed, paused);
    /// `None` only on `Refresh`.
    pub(crate) refresh_every: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ChildHealth {
    Running,
    /// Waiting for its restart timer.
    Restarting,
    /// Over the restart intensity; left stopped.
    Failed(String),
}

struct Child {
    /// Shared with the persona's actor.
    identity: Arc<PersonaIdentity>,
    /// The directory's pause flag, given to the actor when it (re)starts.
    paused: bool,
    actor: Option<ActorRef<PersonaMsg>>,
    failures: VecDeque<Instant>,
    restarts: u32,
    health: ChildHealth,
    report: Option<PersonaReport>,
}

impl Child {
    fn new(seed: PersonaSeed) -> Child {
        Child {
            identity: Arc::new(PersonaIdentity {
                profile: seed.profile,
                password: seed.password,
            }),
            paused: seed.paused,
            actor: None,
            failures: VecDeque::new(),
            restarts: 0,
            health: ChildHealth::Running,
            report: None,
        }
    }
}

pub struct SupervisorState {
    env: Arc<RuntimeEnv>,
    restart: RestartPolicy,
    directory: Option<Arc<dyn Directory>>,
    children: HashMap<String, Child>,
    by_actor: HashMap<ActorId, String>,
    /// A schedule pass is in flight; an overlapping one is skipped, not queued.
    scheduling: bool,
    /// How often passes run (the heartbeat tells the fleet).
    schedule_every: Duration,
}

/// One persona in the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonaEntry {
    pub persona_id: String,
    pub email: String,
    pub health: ChildHealth,
    pub restarts: u32,
    pub status: Option<PersonaStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub personas: Vec<PersonaEntry>,
    pub dispatcher: DispatcherStatus,
}

/// Counts from the supervisor's cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Census {
    pub personas: usize,
    /// Personas whose actor has reported its status at least once.
    pub reported: usize,
}

pub enum SupervisorMsg {
    /// Timer: a schedule pass — heartbeat, then claim due personas
    /// (skipped while a pass is running).
    Schedule,
    /// Sent by the schedule task: start the ticks of these personas, whose
    /// leases it claimed.
    StartDue(Vec<String>),
    /// Sent by a persona actor (this one) on every change of its status.
    /// One from an actor that has since stopped is stale and ignored.
    PersonaChanged(ActorId, PersonaReport),
    /// Backoff timer: spawn this persona's actor again. Stale ones (the
    /// persona was removed or already runs) are ignored.
    Restart(String),
    /// Operator: start a tick for this persona now (id or email).
    StartTick(String, RpcReplyPort<Result<String, CommandRefused>>),
    /// Operator: pause or resume one persona (id or email).
    SetPaused(String, bool, RpcReplyPort<Result<(), CommandRefused>>),
    /// Query, answered from the cache without asking any persona.
    GetSnapshot(RpcReplyPort<Snapshot>),
    /// Query (id or email): the running tick's calls, forwarded to the
    /// persona's actor, which answers it directly.
    GetLiveTick(
        String,
        RpcReplyPort<Result<Option<LiveTick>, CommandRefused>>,
    ),
    /// Query: how many personas there are and how many have reported,
    /// counted without building a snapshot (cheap to poll at thousands).
    GetCensus(RpcReplyPort<Census>),
    /// Query: the last finished tick of each of these personas that has
    /// one, straight from the cache (polled by whoever waits for ticks, so
    /// it builds no statuses).
    GetLastTicks(Vec<String>, RpcReplyPort<Vec<(String, Arc<TickSummary>)>>),
    /// Timer or operator: re-read the persona list from the directory.
    Refresh,
    /// Sent by the refresh task: spawn new personas, stop removed ones, and
    /// apply each persona's stored pause flag. Idempotent.
    Reconcile(Vec<PersonaSeed>),
    /// Kill-switch with cancellation: abort every running tick (rows made so
    /// far are kept, the tick ends as aborted). The reply, if asked for,
    /// comes once every cancelled tick's rows are durable.
    CancelRunning(String, Option<RpcReplyPort<()>>),
}

impl Actor for SupervisorActor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        me: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = SupervisorState {
            env: args.env,
            restart: args.restart,
            directory: args.directory,
            children: HashMap::new(),
            by_actor: HashMap::new(),
            scheduling: false,
            schedule_every: args.schedule_every.unwrap_or(DEFAULT_SCHEDULE_EVERY),
        };
        for seed in args.personas {
            let persona_id = seed.profile.id.clone();
            state.children.insert(persona_id.clone(), Child::new(seed));
            state.spawn(&me, &persona_id).await;
        }
        if let Some(every) = args.schedule_every {
            me.send_interval(every, || SupervisorMsg::Schedule);
            // The first pass runs now: a daemon serves the personas due at
            // its start rather than a whole period later.
            let _ = me.cast(SupervisorMsg::Schedule);
        }
        if let Some(every) = args.refresh_every {
            me.send_interval(every, || SupervisorMsg::Refresh);
        }
        Ok(state)
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Schedule => {
                if state.scheduling {
                    return Ok(());
                }
                state.scheduling = true;
                let env = state.env.clone();
                let period = state.schedule_every;
                let me = me.clone();
                tokio::spawn(async move {
                    let claimed = super::schedule::pass(&env, period).await;
                    let _ = me.cast(SupervisorMsg::StartDue(claimed));
                });
            }
            SupervisorMsg::StartDue(claimed) => {
                state.scheduling = false;
                let mut unknown = false;
                for persona_id in claimed {
                    match state.children.get(&persona_id) {
                        Some(child) => {
                            // A child without an actor (restarting, failed)
                            // lets its lease lapse; later passes serve the
                            // others first.
                            if let Some(actor) = &child.actor {
                                let _ = actor.cast(PersonaMsg::StartTick(None));
                            }
                        }
                        // Added since the last refresh: its lease lapses and
                        // a later pass claims it again.
                        None => unknown = true,
                    }
                }
                if unknown {
                    let _ = me.cast(SupervisorMsg::Refresh);
                }
            }
            SupervisorMsg::PersonaChanged(actor, report) => {
                if let Some(persona_id) = state.by_actor.get(&actor)
                    && let Some(child) = state.children.get_mut(persona_id)
                {
                    child.report = Some(report);
                }
            }
            SupervisorMsg::Restart(persona_id) => {
                let waiting = state
                    .children
                    .get(&persona_id)
                    .is_some_and(|child| child.health == ChildHealth::Restarting);
                if waiting {
                    state.spawn(&me, &persona_id).await;
                }
            }
            SupervisorMsg::StartTick(key, reply) => {
                match state.find(&key).and_then(|child| child.actor.clone()) {
                    Some(actor) => {
                        let _ = actor.cast(PersonaMsg::StartTick(Some(reply)));
                    }
                    None => {
                        let _ = reply.send(Err(CommandRefused::UnknownPersona(key)));
                    }
                }
            }
            SupervisorMsg::SetPaused(key, paused, reply) => {
                let answer = match state.find(&key).and_then(|child| child.actor.clone()) {
                    Some(actor) => {
                        let _ = actor.cast(if paused {
                            PersonaMsg::Pause
                        } else {
                            PersonaMsg::Resume
                        });
                        Ok(())
                    }
                    None => Err(CommandRefused::UnknownPersona(key)),
                };
                let _ = reply.send(answer);
            }
            SupervisorMsg::GetSnapshot(reply) => {
                let _ = reply.send(state.snapshot());
            }
            SupervisorMsg::GetLiveTick(key, reply) => {
                match state.find(&key).and_then(|child| child.actor.clone()) {
                    Some(actor) => {
                        let _ = actor.cast(PersonaMsg::GetLiveTick(reply));
                    }
                    None => {
                        let _ = reply.send(Err(CommandRefused::UnknownPersona(key)));
                    }
                }
            }
            SupervisorMsg::GetCensus(reply) => {
                let _ = reply.send(state.census());
            }
            SupervisorMsg::GetLastTicks(persona_ids, reply) => {
                let last = persona_ids
                    .into_iter()
                    .filter_map(|persona_id| {
                        let child = state.children.get(&persona_id)?;
                        let last = child.report.as_ref()?.last.clone()?;
                        Some((persona_id, last))
                    })
                    .collect();
                let _ = reply.send(last);
            }
            SupervisorMsg::Refresh => {
                let Some(directory) = state.directory.clone() else {
                    return Ok(());
                };
                let me = me.clone();
                tokio::spawn(async move {
                    match directory.personas().await {
                        Ok(seeds) => {
                            let _ = me.cast(SupervisorMsg::Reconcile(seeds));
                        }
                        Err(error) => tracing::warn!(%error, "reading the persona list failed"),
                    }
                });
            }
            SupervisorMsg::Reconcile(seeds) => state.reconcile(&me, seeds).await,
            SupervisorMsg::CancelRunning(reason, done) => {
                let actors: Vec<ActorRef<PersonaMsg>> = state
                    .children
                    .values()
                    .filter_map(|child| child.actor.clone())
                    .collect();
                let Some(done) = done else {
                    for actor in actors {
                        let _ = actor.cast(PersonaMsg::CancelTick(reason.clone(), None));
                    }
                    return Ok(());
                };
                // The replies are awaited in a task, so the mailbox stays free.
                tokio::spawn(async move {
                    let cancelled = actors.iter().map(|actor| {
                        actor.call(
                            |reply| PersonaMsg::CancelTick(reason.clone(), Some(Box::new(reply))),
                            Some(CANCEL_SAVE_LIMIT),
                        )
                    });
                    futures::future::join_all(cancelled).await;
                    let _ = done.send(());
                });
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // IMPORTANT: overriding this is what keeps the supervisor alive; the
        // default implementation stops it when any child ends.
        match event {
            SupervisionEvent::ActorFailed(cell, error) => {
                if let Some(persona_id) = state.by_actor.remove(&cell.get_id()) {
                    state.child_failed(&me, &persona_id, error.to_string());
                }
            }
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                if let Some(persona_id) = state.by_actor.remove(&cell.get_id())
                    && let Some(child) = state.children.get_mut(&persona_id)
                {
                    // A persona actor only stops on its own when something is
                    // wrong; treat it like a failure.
                    child.actor = None;
                    let reason = reason.unwrap_or_else(|| "stopped".into());
                    state.child_failed(&me, &persona_id, reason);
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        me: ActorRef<Self::Msg>,
        _state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Stop children gracefully (their post_stop runs) instead of the
        // default kill.
        me.stop_children_and_wait(
            Some("supervisor stopping".into()),
            Some(Duration::from_secs(10)),
        )
        .await;
        Ok(())
    }
}

impl SupervisorState {
    fn find(&self, key: &str) -> Option<&Child> {
        self.children.get(key).or_else(|| {
            self.children
                .values()
                .find(|child| child.identity.profile.email.eq_ignore_ascii_case(key))
        })
    }

    async fn reconcile(&mut self, me: &ActorRef<SupervisorMsg>, seeds: Vec<PersonaSeed>) {
        let listed: std::collections::HashSet<String> =
            seeds.iter().map(|seed| seed.profile.id.clone()).collect();
        let removed: Vec<String> = self
            .children
            .keys()
            .filter(|id| !listed.contains(*id))
            .cloned()
            .collect();
        for persona_id in removed {
            if let Some(child) = self.children.remove(&persona_id)
                && let Some(actor) = child.actor
            {
                // Removed from `children` first, so its termination is not
                // mistaken for a failure.
                self.by_actor.remove(&actor.get_id());
                actor.stop(Some("persona removed".into()));
                tracing::info!(persona_id, "persona removed; its actor is stopped");
            }
        }
        for seed in seeds {
            let persona_id = seed.profile.id.clone();
            match self.children.get_mut(&persona_id) {
                Some(child) => {
                    if let Some(actor) = &child.actor
                        && child
                            .report
                            .as_ref()
                            .is_some_and(|report| report.paused != seed.paused)
                    {
                        let _ = actor.cast(if seed.paused {
                            PersonaMsg::Pause
                        } else {
                            PersonaMsg::Resume
                        });
                    }
                    child.paused = seed.paused;
                    // An unchanged persona keeps the identity its actor
                    // shares, so a refresh leaves no second copy behind.
                    if !child.identity.matches(&seed.profile, &seed.password) {
                        child.identity = Arc::new(PersonaIdentity {
                            profile: seed.profile,
                            password: seed.password,
                        });
                    }
                }
                None => {
                    tracing::info!(persona_id, "new persona; spawning its actor");
                    self.children.insert(persona_id.clone(), Child::new(seed));
                    self.spawn(me, &persona_id).await;
                }
            }
        }
    }

    async fn spawn(&mut self, me: &ActorRef<SupervisorMsg>, persona_id: &str) {
        let Some(child) = self.children.get_mut(persona_id) else {
            return;
        };
        let args = PersonaArgs {
            identity: child.identity.clone(),
            paused: child.paused,
            env: self.env.clone(),
            supervisor: Some(me.clone()),
        };
        match Actor::spawn_linked(None, PersonaActor, args, me.get_cell()).await {
            Ok((actor, _)) => {
                self.by_actor.insert(actor.get_id(), persona_id.to_owned());
                child.actor = Some(actor);
                child.health = ChildHealth::Running;
            }
            Err(error) => {
                // pre_start failures reach the spawner, not supervision.
                tracing::error!(%error, persona_id, "starting a persona actor failed");
                child.actor = None;
                let reason = error.to_string();
                self.child_failed(me, persona_id, reason);
            }
        }
    }

    fn child_failed(&mut self, me: &ActorRef<SupervisorMsg>, persona_id: &str, reason: String) {
        let policy = self.restart;
        let Some(child) = self.children.get_mut(persona_id) else {
            return;
        };
        child.actor = None;
        let now = Instant::now();
        child.failures.push_back(now);
        while child
            .failures
            .front()
            .is_some_and(|at| now.duration_since(*at) > policy.window)
        {
            child.failures.pop_front();
        }
        if child.failures.len() > policy.max_restarts {
            tracing::error!(persona_id, %reason, failures = child.failures.len(), "persona failed too often; left stopped");
            child.health = ChildHealth::Failed(reason);
            return;
        }
        let exponent = (child.failures.len().saturating_sub(1)).min(16) as u32;
        let backoff = policy
            .base_backoff
            .saturating_mul(2u32.pow(exponent))
            .min(policy.max_backoff);
        tracing::warn!(persona_id, %reason, backoff_ms = backoff.as_millis() as u64, "persona actor failed; restarting");
        child.health = ChildHealth::Restarting;
        child.restarts += 1;
        let persona_id = persona_id.to_owned();
        me.send_after(backoff, move || SupervisorMsg::Restart(persona_id));
    }

    fn census(&self) -> Census {
        Census {
            personas: self.children.len(),
            reported: self
                .children
                .values()
                .filter(|child| child.report.is_some())
                .count(),
        }
    }

    fn snapshot(&self) -> Snapshot {
        let mut personas: Vec<PersonaEntry> = self
            .children
            .iter()
            .map(|(persona_id, child)| PersonaEntry {
                persona_id: persona_id.clone(),
                email: child.identity.profile.email.clone(),
                health: child.health.clone(),
                restarts: child.restarts,
                status: child
                    .report
                    .as_ref()
                    .map(|report| report.status(&child.identity.profile)),
            })
            .collect();
        personas.sort_by(|a, b| a.email.cmp(&b.email));
        Snapshot {
            personas,
            dispatcher: *self.env.dispatcher_status.borrow(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::mem::size_of;

    use super::*;

    /// One entry of `children` per persona, in a map with up to twice the
    /// buckets: x86_64, 136 bytes (key and child) besides the shared
    /// identity; it was about 500 with the seed and a full status inline.
    #[test]
    fn a_persona_entry_stays_small() {
        let entry = size_of::<(String, Child)>();
        assert!(entry <= 136, "{entry} bytes");
    }
}
