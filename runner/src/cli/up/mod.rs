//! `persona up`: the whole system in one process. This file reads the
//! arguments, seeds an empty database and assembles the gateway and the
//! runner; the daemon then serves until a signal.
//!
//! # Layout
//!
//! - this file: the [`Up`] arguments, assembly and the daemon mode;
//! - `once`: the `--once` run, which starts every due tick and waits for it;
//! - `progress`: what `--once` shows while it waits, live lines on a
//!   terminal or plain ones elsewhere;
//! - `summary`: the table `--once` ends with.

mod once;
mod progress;
mod report;
mod summary;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use catalog::{Catalog, LoadOptions};
use gateway::app::AppState;
use gateway::config::GatewayConfig;
use gateway::store::{Schema, Store};

use self::once::run_once;
use super::gateway::DatabaseArgs;
use super::runner_options::RunnerOptions;
use crate::config::{DEFAULT_CONTROL_ADDR, DEFAULT_GATEWAY_ADDR, Secrets};
use crate::control::ControlState;

/// Run the app under test and the persona runner in one process.
///
/// With --target FILE, the personas use the app the target file describes
/// instead, and the built-in app is not served (as `persona run`).
///
/// The embedded default: a SQLite file, the gateway in-process, and the
/// offline scripted LLM unless ANTHROPIC_API_KEY is set. Migrates and seeds
/// the catalog on first start. With --once, every due persona ticks once, a
/// summary table is printed (and with --report a JUnit or JSON file), and the
/// exit code is 0, or 1 if any tick did not end ok (3 if a --fail-on holds);
/// without it the personas tick on their cadence until SIGTERM/SIGINT. Exit
/// code 2: it could not start.
#[derive(Debug, clap::Args)]
pub struct Up {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Run every due persona once, print a summary and exit.
    #[arg(long)]
    once: bool,
    /// With --once: tick only these personas (by email; repeat the flag for
    /// several), if they are due.
    #[arg(long = "persona", value_name = "EMAIL", requires = "once")]
    personas: Vec<String>,
    /// With --once: write a report of every tick — JUnit XML when FILE ends
    /// in .xml (one test case per tick, failed unless it ended ok; ratings,
    /// cost and tokens as properties), JSON otherwise.
    #[arg(long, value_name = "FILE", requires = "once")]
    report: Option<std::path::PathBuf>,
    /// With --once: fail the run (exit code 3) when the condition holds over
    /// all its ticks; repeat for several. MEASURE is app-error-rate,
    /// agent-error-rate, rating (the mean), cost (US dollars) or not-ok-ticks,
    /// e.g. `app-error-rate>0.05`, `rating<3`, `cost>2.00`. With thresholds,
    /// they alone decide the exit code (0 or 3).
    #[arg(long = "fail-on", value_name = "MEASURE>VALUE", requires = "once")]
    fail_on: Vec<report::Threshold>,
    /// The catalog to seed an empty database with; default: the built-in
    /// catalog. With --target, its module mixes name the target's modules.
    #[arg(long, value_name = "FILE")]
    catalog: Option<std::path::PathBuf>,
    /// Where the app under test listens (port 0: any free port; not with --target).
    #[arg(long, env = "GATEWAY_ADDR", default_value = DEFAULT_GATEWAY_ADDR)]
    gateway_addr: SocketAddr,
    /// Where the runner's control API listens (not with --once).
    #[arg(long, env = "CONTROL_ADDR", default_value = DEFAULT_CONTROL_ADDR)]
    control_addr: SocketAddr,
    #[command(flatten)]
    runner: RunnerOptions,
}

impl Up {
    /// Whether a target file names another app than the built-in one.
    pub fn has_target(&self) -> bool {
        self.runner.target.is_some()
    }

    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let secrets = Secrets::from_env()?;
        // Installed before anything records, so every metric has its buckets.
        let metrics = gateway::metrics::prometheus();
        if !self.once {
            self.runner
                .require_token_in_production(secrets.production)?;
        }
        // Fail on a bad LLM configuration or target file before touching
        // the database.
        self.runner.llm_prices_and_budgets()?;
        let target_file = self.runner.target()?;
        // A target gets the runner's own schema (nothing of the app's);
        // the built-in app keeps its personas as its users.
        let store = match (&target_file, &self.runner.target) {
            (Some(_), Some(path)) => self.database.open_for_target(path).await?,
            _ => self.database.open().await?,
        };
        seed_if_empty(&store, &secrets, self.catalog.as_deref()).await?;
        // With a target file the built-in app is not served: the store keeps
        // the personas and their rows, and their MCP calls go to the target.
        let (target, gateway) = match target_file {
            Some(target) => {
                let directory = crate::wiring::StoreDirectory {
                    store: store.clone(),
                    seed_secret: secrets.seed_secret.clone(),
                };
                crate::system::check_target(&target, &directory).await?;
                println!(
                    "personas use the target's MCP server at {}",
                    target.mcp.describe()
                );
                (target, None)
            }
            None => {
                let config = GatewayConfig {
                    service_key: secrets.service_key.clone(),
                    admin: Some((secrets.admin_email.clone(), secrets.admin_password.clone())),
                    ..GatewayConfig::default()
                };
                let state = AppState::build(config, store.clone(), secrets.keyring.clone()).await?;
                let gateway = gateway::app::spawn(self.gateway_addr, state).await?;
                let gateway_url = gateway.url();
                println!("gateway listening on {gateway_url} (MCP at {gateway_url}/mcp)");
                (
                    catalog::target::Target::builtin(&gateway_url),
                    Some(gateway),
                )
            }
        };
        let app = crate::app_login::for_target(&target)?;
        let settings = self
            .runner
            .settings(target, secrets.seed_secret.clone(), self.once)?;
        let system = crate::system::start(store.clone(), settings).await?;
        if self.once {
            let reporting = once::Reporting {
                report: self.report.clone(),
                thresholds: self.fail_on.clone(),
            };
            let code = run_once(&store, &system, &self.personas, &reporting).await?;
            system
                .shutdown(Duration::from_secs(self.runner.shutdown_grace_secs))
                .await;
            if let Some(gateway) = gateway {
                gateway.stop().await?;
            }
            return Ok(code);
        }
        let control = ControlState {
            runner: system.handles.clone(),
            directory: Arc::new(crate::wiring::StoreDirectory {
                store: store.clone(),
                seed_secret: secrets.seed_secret.clone(),
            }),
            app,
            seed_secret: secrets.seed_secret.clone(),
            admin_token: self.runner.admin_token.clone(),
            production: secrets.production,
            allowed_hosts: self.runner.allowed_hosts(),
            metrics,
        };
        self.runner
            .serve_until_signal(system, control, self.control_addr)
            .await?;
        if let Some(gateway) = gateway {
            gateway.stop().await?;
        }
        println!("stopped cleanly: every accepted row is stored");
        Ok(ExitCode::SUCCESS)
    }
}

/// Creates the catalog's personas and shared spaces on a database that has
/// none: from `file`, or the built-in catalog. On the app's schema a
/// persona is a user of the app and its module mixes must name the app's
/// modules; on the runner's own (a target) it is a row of its own.
async fn seed_if_empty(
    store: &Store,
    secrets: &Secrets,
    file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let other_app = store.schema() == Schema::Runner;
    if !store.list_personas(gateway::store::now()).await?.is_empty() {
        if let Some(file) = file {
            println!(
                "the database has personas already; {} is not seeded again",
                file.display()
            );
        }
        return Ok(());
    }
    let options = LoadOptions {
        known_modules: (!other_app).then_some(registry::MODULES),
        ..LoadOptions::default()
    };
    let (catalog, source) = match file {
        Some(file) => (
            Catalog::from_path(file, options)
                .with_context(|| format!("the catalog {}", file.display()))?,
            file.display().to_string(),
        ),
        None => (
            Catalog::shipped(options)?,
            "the built-in catalog".to_owned(),
        ),
    };
    println!(
        "first start: seeding {} personas from {source}",
        catalog.personas.len()
    );
    for warning in &catalog.warnings {
        eprintln!("{source}: {warning}");
    }
    if other_app {
        for persona in &catalog.personas {
            store
                .upsert_own_persona(persona)
                .await
                .with_context(|| format!("seeding {}", persona.email))?;
            if !persona.shared_spaces.is_empty() {
                eprintln!(
                    "{source}: {}: sharedSpaces are the built-in app's spaces; a target ignores them",
                    persona.email
                );
            }
        }
        return Ok(());
    }
    let mut ids = BTreeMap::new();
    for persona in &catalog.personas {
        let password = catalog::derive_password(&secrets.seed_secret, &persona.email);
        let upsert = gateway::accounts::upsert_persona(store, &secrets.keyring, persona, &password)
            .await
            .with_context(|| format!("seeding {}", persona.email))?;
        ids.insert(persona.email.to_lowercase(), upsert.user_id);
    }
    for (name, space_type, emails) in super::seed::shared_spaces(&catalog) {
        let members: Vec<String> = emails
            .iter()
            .filter_map(|email| ids.get(email).cloned())
            .collect();
        gateway::accounts::ensure_shared_space(store, &name, space_type, &members)
            .await
            .with_context(|| format!("creating the shared space {name:?}"))?;
    }
    Ok(())
}
