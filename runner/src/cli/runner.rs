//! `persona runner`: the persona daemon alone, against a gateway that runs
//! elsewhere.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use actors::internal_api::InternalApi;
use actors::runtime::supervisor::Directory;
use anyhow::Context as _;
use catalog::target::{McpServer, Target};

use super::runner_options::RunnerOptions;
use crate::config::{DEFAULT_CONTROL_ADDR, Secrets};
use crate::control::ControlState;
use crate::system::{Backend, STALE_TICK_REASON};

/// Run the persona daemon alone, against a gateway that runs elsewhere.
///
/// With --api URL it needs nothing but the app: personas, due list, pause
/// flags, tick rows and audit rows all go through the app's internal API
/// (X-Service-Key = MANA_SERVICE_KEY). With --db URL it shares the app's
/// database instead (direct SQL) and logs personas in at --app-url. Each
/// TICK_INTERVAL_MS a schedule pass (an overlapping one is skipped, not
/// queued) heartbeats and claims as many due personas as it has free
/// permits; any number of replicas may share one app or database, and none
/// ticks a persona twice. Serves the control API on --addr, and on
/// SIGTERM/SIGINT stops claiming, lets running ticks finish, drains
/// persistence and exits 0. Exit code 2: it could not start.
#[derive(Debug, clap::Args)]
pub struct Runner {
    /// The app's base URL; personas, ticks and rows go through its internal API.
    #[arg(long, env = "MANA_API_URL", conflicts_with = "db")]
    api: Option<String>,
    /// Share the app's database instead: sqlite://FILE or postgres://USER@HOST/DB.
    #[arg(long, env = "DATABASE_URL")]
    db: Option<String>,
    /// With --db: the app's base URL for logins (default http://127.0.0.1:3069).
    #[arg(long, env = "MANA_APP_URL", conflicts_with = "target")]
    app_url: Option<String>,
    /// The MCP endpoint personas use; default: {app}/mcp.
    #[arg(long, env = "MANA_MCP_URL", conflicts_with = "target")]
    mcp_url: Option<String>,
    /// Where the control API listens (`--control-addr` as in `persona up`).
    #[arg(long, visible_alias = "control-addr", env = "CONTROL_ADDR", default_value = DEFAULT_CONTROL_ADDR)]
    addr: SocketAddr,
    #[command(flatten)]
    runner: RunnerOptions,
}

impl Runner {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let secrets = Secrets::from_env()?;
        // Installed before anything records, so every metric has its buckets.
        let metrics = gateway::metrics::prometheus();
        self.runner
            .require_token_in_production(secrets.production)?;
        // Fail on a bad LLM configuration or target file before touching
        // the backend; every problem of the file is named by its setting.
        self.runner.llm_prices_and_budgets()?;
        let target_file = self.runner.target()?;
        let (app_url, backend, directory): (String, Backend, Arc<dyn Directory>) = match (
            &self.api, &self.db,
        ) {
            (Some(api), _) => {
                let api_url = api.trim_end_matches('/').to_owned();
                let internal = Arc::new(
                    InternalApi::new(
                        &api_url,
                        secrets.service_key.clone(),
                        secrets.seed_secret.clone(),
                    )
                    .context("building the internal API client")?,
                );
                let aborted = internal
                    .abort_stale_ticks(STALE_TICK_REASON)
                    .await
                    .with_context(|| format!("reaching the app's internal API at {api_url} (is MANA_SERVICE_KEY right?)"))?;
                if aborted > 0 {
                    tracing::warn!(aborted, "ticks a previous run left running are now aborted");
                }
                let backend = Backend {
                    sink: internal.clone(),
                    ledger: internal.clone(),
                    directory: internal.clone(),
                    fleet: internal.clone(),
                };
                (api_url, backend, internal)
            }
            (None, db) => {
                // A target's replicas share the runner's own schema (by
                // default in a file beside the target file).
                let database = super::gateway::DatabaseArgs { url: db.clone() };
                let store = match (&target_file, &self.runner.target) {
                    (Some(_), Some(path)) => database.open_for_target(path).await?,
                    _ => database.open().await?,
                };
                let (backend, directory) =
                    crate::system::store_backend(store, secrets.seed_secret.clone()).await?;
                let app_url = self
                    .app_url
                    .clone()
                    .unwrap_or_else(|| format!("http://{}", crate::config::DEFAULT_GATEWAY_ADDR));
                (app_url.trim_end_matches('/').to_owned(), backend, directory)
            }
        };
        let target = match target_file {
            Some(target) => {
                crate::system::check_target(&target, directory.as_ref()).await?;
                target
            }
            None => {
                let mut target = Target::builtin(&app_url);
                if let Some(mcp_url) = &self.mcp_url {
                    target.mcp = McpServer::Http {
                        url: mcp_url.clone(),
                        protocol: catalog::target::Protocol::Auto,
                    };
                }
                target
            }
        };
        let app = crate::app_login::for_target(&target)?;
        let mcp_url = target.mcp.describe();
        let settings = self
            .runner
            .settings(target, secrets.seed_secret.clone(), false)?;
        let system = crate::system::start_with(backend, settings).await?;
        println!(
            "runner driving {mcp_url} with {} personas",
            system.snapshot().await?.personas.len()
        );
        let control = ControlState {
            runner: system.handles.clone(),
            directory,
            app,
            seed_secret: secrets.seed_secret.clone(),
            admin_token: self.runner.admin_token.clone(),
            production: secrets.production,
            allowed_hosts: self.runner.allowed_hosts(),
            metrics,
        };
        self.runner
            .serve_until_signal(system, control, self.addr)
            .await?;
        println!("stopped cleanly: every accepted row is stored");
        Ok(ExitCode::SUCCESS)
    }
}
