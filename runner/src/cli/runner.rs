//! `persona runner`: the persona daemon alone, against a gateway that runs
//! elsewhere.

use std::net::SocketAddr;
use std::process::ExitCode;

use super::gateway::DatabaseArgs;
use super::runner_options::RunnerOptions;
use crate::config::{DEFAULT_CONTROL_ADDR, DEFAULT_GATEWAY_ADDR, Secrets};
use crate::control::ControlState;
use crate::system::RunnerSystem;

/// Run the persona daemon alone: personas log in to the app at --app-url and
/// use its MCP endpoint; personas, ticks and rows live in the database the
/// app uses (--db).
///
/// Ticks personas on their cadence every TICK_INTERVAL_MS (an overlapping
/// pass is skipped, not queued), serves the control API on --addr, and on
/// SIGTERM/SIGINT stops claiming, lets running ticks finish, drains
/// persistence and exits 0. Exit code 2: it could not start.
#[derive(Debug, clap::Args)]
pub struct Runner {
    #[command(flatten)]
    database: DatabaseArgs,
    /// The app's base URL (login and spaces).
    #[arg(long, env = "MANA_API_URL", default_value_t = format!("http://{DEFAULT_GATEWAY_ADDR}"))]
    app_url: String,
    /// The MCP endpoint; default: {app-url}/mcp.
    #[arg(long, env = "MANA_MCP_URL")]
    mcp_url: Option<String>,
    /// Where the control API listens.
    #[arg(long, env = "CONTROL_ADDR", default_value = DEFAULT_CONTROL_ADDR)]
    addr: SocketAddr,
    #[command(flatten)]
    runner: RunnerOptions,
}

impl Runner {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let secrets = Secrets::from_env()?;
        self.runner
            .require_token_in_production(secrets.production)?;
        let store = self.database.open().await?;
        let app_url = self.app_url.trim_end_matches('/').to_owned();
        let mcp_url = self
            .mcp_url
            .clone()
            .unwrap_or_else(|| format!("{app_url}/mcp"));
        let settings = self.runner.settings(
            app_url.clone(),
            mcp_url.clone(),
            secrets.seed_secret.clone(),
            false,
        )?;
        let system = RunnerSystem::start(store.clone(), settings).await?;
        println!(
            "runner driving {mcp_url} with {} personas",
            system.snapshot().await?.personas.len()
        );
        let control = ControlState {
            runner: system.handles.clone(),
            store,
            app: actors::app_client::AppClient::new(&app_url)?,
            seed_secret: secrets.seed_secret.clone(),
            admin_token: self.runner.admin_token.clone(),
            production: secrets.production,
            metrics: gateway::metrics::prometheus(),
        };
        self.runner
            .serve_until_signal(system, control, self.addr)
            .await?;
        println!("stopped cleanly: every accepted row is stored");
        Ok(ExitCode::SUCCESS)
    }
}
