//! Starting the runner's actors over a store or the app's internal API:
//! [`start`] (the store: direct SQL) and [`start_with`] (any [`Backend`])
//! build the app login, the MCP endpoint and the backend, and hand them with
//! the [`Tuning`] to [`RunnerSystem::start`], the one assembly path (its
//! module doc has the shutdown order).

use std::sync::Arc;

use actors::mcp_client::McpEndpoint;
use actors::runtime::LlmFactory;
pub use actors::runtime::{Backend, RunnerHandles, RunnerSystem, RuntimeParts, Tuning};
use anyhow::Context as _;
use catalog::SeedSecret;
use catalog::target::Target;
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
        app: crate::app_login::for_auth(&settings.target.auth).context("building the app login")?,
        mcp: McpEndpoint::for_target(&settings.target).context("building the MCP client")?,
        llms: settings.llms,
        backend,
    };
    Ok(RunnerSystem::start(parts, settings.tuning).await?)
}
