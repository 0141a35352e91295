//! Starting the runner's actors over a store or the app's internal API:
//! [`start`] (the store: direct SQL) and [`start_with`] (any [`Backend`])
//! build the app login, the MCP endpoint and the backend, and hand them with
//! the [`Tuning`] to [`RunnerSystem::start`], the one assembly path (its
//! module doc has the shutdown order).

use std::sync::Arc;

use actors::mcp_client::McpEndpoint;
use actors::mcp_client::McpError;
use actors::runtime::LlmFactory;
use actors::runtime::supervisor::Directory;
pub use actors::runtime::{Backend, RunnerHandles, RunnerSystem, RuntimeParts, Tuning};
use anyhow::Context as _;
use catalog::SeedSecret;
use catalog::target::{Auth, Target, TemplateValues};
use gateway::store::Store;

use crate::wiring::{StoreDirectory, StoreFleet, StoreLedger, StoreSink};

/// What the runner needs besides its backend.
pub struct SystemSettings {
    /// The app under test: its login, MCP endpoint, headers and tools.
    pub target: Target,
    pub llms: Arc<dyn LlmFactory>,
    pub seed_secret: SeedSecret,
    pub tuning: Tuning,
}

pub use actors::runtime::STALE_TICK_REASON;

/// The modules a persona's mix names that none of the tools the target
/// lets through belongs to: that share of its day finds nothing to use.
fn unserved_modules(
    target: &Target,
    listed: &[String],
    personas: &[actors::runtime::supervisor::PersonaSeed],
) -> Vec<String> {
    let served: std::collections::BTreeSet<&str> = listed
        .iter()
        .filter(|tool| target.tools.allows(tool))
        .map(|tool| target.modules.module_of(tool))
        .collect();
    personas
        .iter()
        .flat_map(|persona| {
            let served = &served;
            persona
                .profile
                .module_mix
                .weights()
                .filter(move |(module, _)| !served.contains(module))
                .map(move |(module, _)| {
                    format!(
                        "{}: its module mix names {module:?}, but no tool of the target belongs to it (modules: {})",
                        persona.profile.email,
                        served.iter().copied().collect::<Vec<_>>().join(", ")
                    )
                })
        })
        .collect()
}

fn who(persona: &actors::runtime::supervisor::PersonaSeed) -> actors::app_client::Credentials<'_> {
    actors::app_client::Credentials {
        persona_id: &persona.profile.id,
        email: &persona.profile.email,
        password: &persona.password,
    }
}

/// The store as sink, ledger and directory, after marking ticks a crash left
/// running as aborted. The directory is returned too, for the control API.
pub async fn store_backend(
    store: Store,
    seed_secret: SeedSecret,
) -> anyhow::Result<(Backend, Arc<StoreDirectory>)> {
    let aborted = store
        .abort_stale_ticks(
            gateway::store::now(),
            gateway::store::now(),
            STALE_TICK_REASON,
        )
        .await
        .context("marking ticks a crash left running as aborted")?;
    if aborted > 0 {
        tracing::warn!(aborted, "ticks a previous run left running are now aborted");
    }
    let directory = Arc::new(StoreDirectory {
        store: store.clone(),
        seed_secret,
    });
    let backend = Backend {
        sink: Arc::new(StoreSink(store.clone())),
        ledger: Arc::new(StoreLedger(store.clone())),
        directory: directory.clone(),
        fleet: Arc::new(StoreFleet(store)),
    };
    Ok((backend, directory))
}

/// Starts the actors over a store (direct SQL), first marking ticks a crash
/// left running as aborted.
pub async fn start(store: Store, settings: SystemSettings) -> anyhow::Result<RunnerSystem> {
    let (backend, _) = store_backend(store, settings.seed_secret.clone()).await?;
    start_with(backend, settings).await
}

/// Starts the actors over any backend (the store, or the app's internal API).
pub async fn start_with(
    backend: Backend,
    settings: SystemSettings,
) -> anyhow::Result<RunnerSystem> {
    let parts = RuntimeParts {
        app: crate::app_login::for_target(&settings.target).context("building the app login")?,
        mcp: McpEndpoint::for_target(&settings.target).context("building the MCP client")?,
        llms: settings.llms,
        backend,
        prompt: settings.target.prompt.clone(),
    };
    Ok(RunnerSystem::start(parts, settings.tuning).await?)
}

/// Checks a target file against its server before any persona ticks: one
/// session as the first persona (logged in as a tick would), and what the
/// server lists against the file (some tools, one the filter lets through,
/// a module map naming listed tools). A target that cannot work is refused
/// at start, naming the setting; without personas there is nobody to check
/// as, and nothing to tick.
pub async fn check_target(target: &Target, directory: &dyn Directory) -> anyhow::Result<()> {
    let personas = directory.personas().await.context("reading the personas")?;
    for persona in &personas {
        let profile = &persona.profile;
        target.check_persona(TemplateValues {
            persona_id: &profile.id,
            persona_email: &profile.email,
            persona_name: &profile.name,
            // A login's space is not known before it; its id is plain ASCII.
            space_id: "",
        })?;
    }
    let Some(first) = personas.first() else {
        return Ok(());
    };
    let login = crate::app_login::for_target(target).context("building the app login")?;
    let settings = target.auth.credential_settings();
    if matches!(target.auth, Auth::Bearer(_)) {
        // Reading a token costs nothing: every persona's is checked now
        // rather than failing its first tick.
        for persona in &personas[1..] {
            login
                .login(who(persona))
                .await
                .context("checking the target")?;
        }
    }
    let server = target.mcp.describe();
    let session = login
        .login(who(first))
        .await
        .with_context(|| format!("checking the target: logging {} in", first.profile.email))?;
    let mcp = McpEndpoint::for_target(target)?
        .open(&session, &first.profile)
        .await
        .map_err(|error| match error {
            McpError::CredentialsRefused { .. } => {
                anyhow::Error::new(error).context(format!("checking the target: check {settings}"))
            }
            other => anyhow::Error::new(other).context(format!(
                "checking the target: opening its MCP server ({server})"
            )),
        })?;
    let listed = mcp.list_tool_names().await;
    mcp.close().await;
    let listed =
        listed.with_context(|| format!("checking the target: listing the tools of {server}"))?;
    target.check_tools(&listed)?;
    for warning in unserved_modules(target, &listed, &personas) {
        eprintln!("warning: {warning}");
    }
    Ok(())
}
