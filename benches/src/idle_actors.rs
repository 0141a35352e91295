//! Actors: resident memory of idle persona actors next to ractor's own floor,
//! and the latency of the supervisor's snapshot with them.
//!
//! Each row runs in a fresh child process of this benchmark: a phase run
//! after another reuses the memory the earlier one freed and reads low (by
//! about 16 MB at 10,000). In each, one parent grows from 1,000 to 10,000
//! children the way the daemon adds personas — the supervisor through one
//! `Reconcile` per step, the list growing as a refresh would list it — and
//! the resident set is read once every child has reported that it started.
//! The growth between the two steps, per actor, is the marginal cost; the
//! growth from before the parent existed is what 10,000 cost in all.
//!
//! Rows:
//! * `personas`: persona actors with a short profile (comparable with the
//!   earlier runs in BENCHMARKS.md);
//! * `personas-catalog`: the same with profiles like the shipped catalog's
//!   (uuid ids, system prompts of about 1.5 KB, derived passwords), one
//!   allocation per persona as a store lists them;
//! * `personas-logged`: the short profile under the daemon's log subscriber
//!   (`runner::telemetry`, `info` unless `RUST_LOG` says otherwise, writing
//!   nowhere): ractor opens an `info` span per actor for its whole life;
//! * `bare`: ractor's floor, actors with a trivial message and no state,
//!   spawned linked under one parent that keeps their refs and counts
//!   their start reports, as the supervisor does.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::runtime::BackendError;
use actors::runtime::supervisor::{
    Directory, PersonaMemory, PersonaRef, PersonaSeed, SupervisorMsg,
};
use actors::tick::PersonaProfile;
use anyhow::Context as _;
use catalog::{
    Archetype, Catalog, KnownArchetype, LoadOptions, ModuleMix, PersonaSpec, SeedSecret,
};
use gateway::store::Store;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use runner::system::{Backend, RunnerSystem, SystemSettings, Tuning};
use runner::wiring::{Provider, StoreFleet, StoreLedger, StoreSink};

use crate::measure::{Latencies, resident_bytes};

/// Set in a child process: the row it measures.
const ROW_ENV: &str = "PERSONA_BENCH_ACTORS_ROW";
/// Starts the child's one result line on stdout.
const RESULT_MARK: &str = "actors-row-result";
/// Snapshots asked for the latency figures.
const SNAPSHOTS: usize = 200;
/// How long one growth step may take before the row fails.
const GROW_DEADLINE: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Row {
    Personas,
    CatalogPersonas,
    LoggedPersonas,
    Bare,
}

impl Row {
    const ALL: [Row; 4] = [
        Row::Personas,
        Row::CatalogPersonas,
        Row::LoggedPersonas,
        Row::Bare,
    ];

    fn name(self) -> &'static str {
        match self {
            Row::Personas => "personas",
            Row::CatalogPersonas => "personas-catalog",
            Row::LoggedPersonas => "personas-logged",
            Row::Bare => "bare",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Row::Personas => "persona actors, short profile",
            Row::CatalogPersonas => "persona actors, catalog-like profile",
            Row::LoggedPersonas => "persona actors, short, daemon's logger",
            Row::Bare => "bare ractor actors (floor)",
        }
    }

    fn from_name(name: &str) -> Option<Row> {
        Row::ALL.into_iter().find(|row| row.name() == name)
    }
}

/// What one row measured, in bytes and milliseconds.
#[derive(Debug, Clone, Copy)]
struct Measured {
    /// Before the parent was spawned.
    base: u64,
    at_small: u64,
    at_large: u64,
    /// Snapshot p50 and p99 with the large count (persona rows only).
    snapshot_ms: Option<(f64, f64)>,
}

impl Measured {
    fn to_line(self) -> String {
        let (p50, p99) = self.snapshot_ms.unwrap_or((-1.0, -1.0));
        format!(
            "{RESULT_MARK} {} {} {} {p50} {p99}",
            self.base, self.at_small, self.at_large
        )
    }

    fn from_line(line: &str) -> anyhow::Result<Measured> {
        let fields: Vec<&str> = line.split_whitespace().skip(1).collect();
        let [base, at_small, at_large, p50, p99] = fields[..] else {
            anyhow::bail!("a row result has five fields: {line}");
        };
        let (p50, p99): (f64, f64) = (p50.parse()?, p99.parse()?);
        Ok(Measured {
            base: base.parse()?,
            at_small: at_small.parse()?,
            at_large: at_large.parse()?,
            snapshot_ms: (p50 >= 0.0).then_some((p50, p99)),
        })
    }

    /// Growth from before the parent existed to the large count.
    fn grown_large(self) -> u64 {
        self.at_large.saturating_sub(self.base)
    }

    fn grown_small(self) -> u64 {
        self.at_small.saturating_sub(self.base)
    }

    /// Bytes per actor between the small and the large count.
    fn marginal(self, small: usize, large: usize) -> f64 {
        self.at_large.saturating_sub(self.at_small) as f64 / (large - small) as f64
    }
}

/// `quick` grows from 100 to 1,000 instead of 1,000 to 10,000.
pub async fn run(quick: bool) -> anyhow::Result<()> {
    let (small, large) = if quick { (100, 1_000) } else { (1_000, 10_000) };
    if let Ok(name) = std::env::var(ROW_ENV) {
        let row = Row::from_name(&name).with_context(|| format!("unknown row {name}"))?;
        let measured = measure(row, small, large).await?;
        println!("{}", measured.to_line());
        return Ok(());
    }
    println!(
        "Each row in a fresh process: one parent grown from {small} to {large} idle children \
         (the supervisor through Reconcile); RSS read once every child has reported it started."
    );
    println!(
        "{:<38} {:>12} {:>12} {:>18}",
        "row",
        format!("RSS @{small}"),
        format!("RSS @{large}"),
        format!("per actor {small}→{large}")
    );
    let mut results = Vec::new();
    for row in Row::ALL {
        let measured = in_child(row).await?;
        println!(
            "{:<38} {:>9.1} MB {:>9.1} MB {:>15.2} KB",
            row.label(),
            measured.grown_small() as f64 / 1e6,
            measured.grown_large() as f64 / 1e6,
            measured.marginal(small, large) / 1e3,
        );
        results.push((row, measured));
    }
    let find = |wanted: Row| {
        results
            .iter()
            .find(|(row, _)| *row == wanted)
            .map(|(_, measured)| *measured)
    };
    if let (Some(personas), Some(bare)) = (find(Row::Personas), find(Row::Bare)) {
        println!(
            "a persona actor above the floor: {:.2} KB (short profile, marginal)",
            (personas.marginal(small, large) - bare.marginal(small, large)) / 1e3
        );
        if let Some((p50, p99)) = personas.snapshot_ms {
            println!(
                "supervisor snapshot with {large} personas: p50 {p50:.2} ms, p99 {p99:.2} ms \
                 ({SNAPSHOTS} snapshots)"
            );
        }
    }
    println!("(RSS columns: growth from before the parent was spawned.)");
    Ok(())
}

/// Runs one row in a fresh process of this benchmark, with the same
/// arguments.
async fn in_child(row: Row) -> anyhow::Result<Measured> {
    let exe = std::env::current_exe()?;
    let output = tokio::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(ROW_ENV, row.name())
        .stderr(Stdio::inherit())
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "the {} row failed ({}): {stdout}",
        row.name(),
        output.status
    );
    let line = stdout
        .lines()
        .find(|line| line.starts_with(RESULT_MARK))
        .with_context(|| format!("the {} row printed no result: {stdout}", row.name()))?;
    Measured::from_line(line)
}

async fn measure(row: Row, small: usize, large: usize) -> anyhow::Result<Measured> {
    match row {
        Row::Personas => {
            let mix = ModuleMix::new(BTreeMap::from([("todo".to_owned(), 1.0)]))?;
            grow_personas(|index| short_seed(&mix, index), small, large).await
        }
        Row::LoggedPersonas => {
            tracing::subscriber::set_global_default(runner::telemetry::subscriber(
                std::io::sink,
                false,
            ))?;
            let mix = ModuleMix::new(BTreeMap::from([("todo".to_owned(), 1.0)]))?;
            grow_personas(|index| short_seed(&mix, index), small, large).await
        }
        Row::CatalogPersonas => {
            let specs = Catalog::shipped(LoadOptions::default())?.personas;
            anyhow::ensure!(!specs.is_empty(), "the shipped catalog has no personas");
            let secret = SeedSecret::dev_fallback();
            grow_personas(|index| catalog_seed(&specs, &secret, index), small, large).await
        }
        Row::Bare => grow_bare(small, large).await,
    }
}

async fn grow_personas(
    seed: impl Fn(usize) -> PersonaSeed,
    small: usize,
    large: usize,
) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir()?;
    let store = Store::open_sqlite_file(&dir.path().join("bench.db")).await?;
    let base = resident_bytes();
    let system = spawn_idle(&store).await?;
    let supervisor = system.handles.supervisor.clone();
    let [at_small, at_large] = resident_while_growing(
        [small, large],
        |count| Ok(supervisor.cast(SupervisorMsg::Reconcile((0..count).map(&seed).collect()))?),
        async |count| {
            let census = supervisor
                .call(SupervisorMsg::GetCensus, Some(GROW_DEADLINE))
                .await?
                .success_or_else(|| anyhow::anyhow!("the census was not answered"))?;
            Ok(census.personas == count && census.reported == count)
        },
    )
    .await?;
    let mut samples = Vec::with_capacity(SNAPSHOTS);
    for _ in 0..SNAPSHOTS {
        let asked = Instant::now();
        let snapshot = supervisor
            .call(SupervisorMsg::GetSnapshot, Some(Duration::from_secs(10)))
            .await?
            .success_or_else(|| anyhow::anyhow!("the snapshot was not answered"))?;
        samples.push(asked.elapsed());
        anyhow::ensure!(snapshot.personas.len() == large, "a persona is missing");
    }
    let latencies = Latencies::new(samples);
    system.shutdown(Duration::from_secs(60)).await;
    Ok(Measured {
        base,
        at_small,
        at_large,
        snapshot_ms: Some((latencies.percentile_ms(50.0), latencies.percentile_ms(99.0))),
    })
}

/// Grows a parent to each of `counts` children with `grow(count)` and reads
/// the resident set once `all_started(count)` says every child has reported:
/// the one protocol every row follows, so rows compare.
async fn resident_while_growing(
    counts: [usize; 2],
    mut grow: impl FnMut(usize) -> anyhow::Result<()>,
    mut all_started: impl AsyncFnMut(usize) -> anyhow::Result<bool>,
) -> anyhow::Result<[u64; 2]> {
    let mut at = [0; 2];
    for (resident, count) in at.iter_mut().zip(counts) {
        grow(count)?;
        let deadline = Instant::now() + GROW_DEADLINE;
        while !all_started(count).await? {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{count} children did not all start within {} s",
                GROW_DEADLINE.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        *resident = resident_bytes();
    }
    Ok(at)
}

/// The profile earlier runs measured with: short strings throughout.
fn short_seed(module_mix: &ModuleMix, index: usize) -> PersonaSeed {
    PersonaSeed {
        profile: PersonaProfile {
            id: format!("persona-{index}"),
            email: format!("p{index}@mana.test"),
            name: format!("Persona {index}"),
            archetype: Archetype::from(KnownArchetype::SoloDev),
            module_mix: module_mix.clone(),
            system_prompt: "Du bist eine Testperson.".into(),
            cadence: catalog::Cadence::Daily,
        },
        password: "bench".into(),
        paused: false,
    }
}

/// A persona like the shipped catalog's (cycled), with its own copy of every
/// string, the way a store lists it.
fn catalog_seed(specs: &[PersonaSpec], secret: &SeedSecret, index: usize) -> PersonaSeed {
    let spec = &specs[index % specs.len()];
    let email = spec.email.replacen('@', &format!(".{index}@"), 1);
    PersonaSeed {
        profile: PersonaProfile {
            id: uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | index as u128)
                .to_string(),
            name: format!("{} {index}", spec.name),
            archetype: spec.archetype.clone(),
            module_mix: spec.module_mix.clone(),
            system_prompt: spec.system_prompt.clone(),
            cadence: spec.cadence,
            email: email.clone(),
        },
        password: catalog::derive_password(secret, &email),
        paused: false,
    }
}

/// The runner's actors without personas, never ticking: no schedule, no
/// refresh, and an app address nothing listens on.
async fn spawn_idle(store: &Store) -> anyhow::Result<RunnerSystem> {
    let backend = Backend {
        sink: Arc::new(StoreSink(store.clone())),
        ledger: Arc::new(StoreLedger(store.clone())),
        directory: Arc::new(NoPersonas),
        fleet: Arc::new(StoreFleet(store.clone())),
    };
    let settings = SystemSettings {
        target: catalog::target::Target::builtin("http://127.0.0.1:9"),
        // Idle actors never ask for an LLM.
        llms: Arc::new(Provider::Scripted),
        seed_secret: SeedSecret::dev_fallback(),
        tuning: Tuning {
            schedule_every: None,
            refresh_every: None,
            replica_id: "bench".into(),
            ..Tuning::default()
        },
    };
    runner::system::start_with(backend, settings).await
}

/// A directory listing no personas: the benchmark adds them itself.
struct NoPersonas;

#[async_trait::async_trait]
impl Directory for NoPersonas {
    async fn personas(&self) -> Result<Vec<PersonaSeed>, BackendError> {
        Ok(Vec::new())
    }
    async fn due(&self) -> Result<Vec<String>, BackendError> {
        Ok(Vec::new())
    }
    async fn set_paused(&self, key: &str, _paused: bool) -> Result<PersonaRef, BackendError> {
        Err(BackendError::UnknownPersona(key.to_owned()))
    }
    async fn memory(&self, key: &str) -> Result<PersonaMemory, BackendError> {
        Err(BackendError::UnknownPersona(key.to_owned()))
    }
    async fn set_memory(
        &self,
        key: &str,
        _memory: Option<&str>,
    ) -> Result<PersonaMemory, BackendError> {
        Err(BackendError::UnknownPersona(key.to_owned()))
    }
}

async fn grow_bare(small: usize, large: usize) -> anyhow::Result<Measured> {
    let base = resident_bytes();
    let (parent, _) = Actor::spawn(None, BareParent, ()).await?;
    let [at_small, at_large] = resident_while_growing(
        [small, large],
        |count| Ok(parent.cast(BareParentMsg::Grow(count))?),
        async |count| {
            let started = parent
                .call(BareParentMsg::GetStarted, Some(GROW_DEADLINE))
                .await?
                .success_or_else(|| anyhow::anyhow!("the count was not answered"))?;
            Ok(started >= count)
        },
    )
    .await?;
    parent
        .stop_and_wait(None, Some(Duration::from_secs(60)))
        .await?;
    Ok(Measured {
        base,
        at_small,
        at_large,
        snapshot_ms: None,
    })
}

/// The floor's parent: spawns linked children and counts their start
/// reports, as the supervisor does with persona actors.
struct BareParent;

struct BareParentState {
    children: Vec<ActorRef<()>>,
    started: usize,
}

enum BareParentMsg {
    /// Spawn children until there are this many.
    Grow(usize),
    /// Sent by a child from its `pre_start`.
    Started,
    GetStarted(RpcReplyPort<usize>),
}

impl Actor for BareParent {
    type Msg = BareParentMsg;
    type State = BareParentState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _me: ActorRef<Self::Msg>,
        _: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(BareParentState {
            children: Vec::new(),
            started: 0,
        })
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            BareParentMsg::Grow(count) => {
                while state.children.len() < count {
                    let (child, _) =
                        Actor::spawn_linked(None, BareActor, me.clone(), me.get_cell()).await?;
                    state.children.push(child);
                }
            }
            BareParentMsg::Started => state.started += 1,
            BareParentMsg::GetStarted(reply) => {
                let _ = reply.send(state.started);
            }
        }
        Ok(())
    }
}

/// ractor's floor: a trivial message, no state.
struct BareActor;

impl Actor for BareActor {
    type Msg = ();
    type State = ();
    type Arguments = ActorRef<BareParentMsg>;

    async fn pre_start(
        &self,
        _me: ActorRef<Self::Msg>,
        parent: ActorRef<BareParentMsg>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let _ = parent.cast(BareParentMsg::Started);
        Ok(())
    }
}
