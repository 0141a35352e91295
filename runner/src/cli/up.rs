//! `persona up`: the whole system in one process.

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::runtime::persona::TickSummary;
use anyhow::Context as _;
use catalog::{Catalog, LoadOptions, TickStatus};
use gateway::app::{AppState, serve};
use gateway::config::GatewayConfig;
use gateway::store::Store;
use tokio::net::TcpListener;

use super::gateway::DatabaseArgs;
use super::runner_options::RunnerOptions;
use crate::config::{DEFAULT_CONTROL_ADDR, DEFAULT_GATEWAY_ADDR, Secrets};
use crate::control::ControlState;
use crate::system::RunnerSystem;

/// Run the app under test and the persona runner in one process.
///
/// The embedded default: a SQLite file, the gateway in-process, and the
/// offline scripted LLM unless ANTHROPIC_API_KEY is set. Migrates and seeds
/// the catalog on first start. With --once, every due persona ticks once, a
/// summary table is printed, and the exit code is 0, or 1 if any tick failed;
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
    /// Where the app under test listens (port 0: any free port).
    #[arg(long, env = "GATEWAY_ADDR", default_value = DEFAULT_GATEWAY_ADDR)]
    gateway_addr: SocketAddr,
    /// Where the runner's control API listens (not with --once).
    #[arg(long, env = "CONTROL_ADDR", default_value = DEFAULT_CONTROL_ADDR)]
    control_addr: SocketAddr,
    #[command(flatten)]
    runner: RunnerOptions,
}

impl Up {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let secrets = Secrets::from_env()?;
        if !self.once {
            self.runner
                .require_token_in_production(secrets.production)?;
        }
        // Fail on a bad LLM configuration before touching the database.
        self.runner.llm.provider()?;
        let store = self.database.open().await?;
        seed_if_empty(&store, &secrets).await?;
        let config = GatewayConfig {
            service_key: secrets.service_key.clone(),
            admin: Some((secrets.admin_email.clone(), secrets.admin_password.clone())),
            ..GatewayConfig::default()
        };
        let state = AppState::build(config, store.clone(), secrets.keyring.clone()).await?;
        let listener = TcpListener::bind(self.gateway_addr)
            .await
            .with_context(|| format!("binding {}", self.gateway_addr))?;
        let gateway_url = format!("http://{}", listener.local_addr()?);
        let (stop_gateway, gateway_stopped) = tokio::sync::oneshot::channel::<()>();
        let gateway = tokio::spawn(serve(listener, state, async {
            let _ = gateway_stopped.await;
        }));
        println!("gateway listening on {gateway_url} (MCP at {gateway_url}/mcp)");
        let settings = self.runner.settings(
            gateway_url.clone(),
            format!("{gateway_url}/mcp"),
            secrets.seed_secret.clone(),
            self.once,
        )?;
        let system = RunnerSystem::start(store.clone(), settings).await?;
        if self.once {
            let code = run_once(&store, &system, &self.personas).await?;
            system
                .shutdown(Duration::from_secs(self.runner.shutdown_grace_secs))
                .await;
            let _ = stop_gateway.send(());
            gateway.await.context("the gateway task failed")??;
            return Ok(code);
        }
        let control = ControlState {
            runner: system.handles.clone(),
            directory: Arc::new(crate::wiring::StoreDirectory {
                store: store.clone(),
                seed_secret: secrets.seed_secret.clone(),
            }),
            app: actors::app_client::AppClient::new(&gateway_url)?,
            seed_secret: secrets.seed_secret.clone(),
            admin_token: self.runner.admin_token.clone(),
            production: secrets.production,
            metrics: gateway::metrics::prometheus(),
        };
        self.runner
            .serve_until_signal(system, control, self.control_addr)
            .await?;
        let _ = stop_gateway.send(());
        gateway.await.context("the gateway task failed")??;
        println!("stopped cleanly: every accepted row is stored");
        Ok(ExitCode::SUCCESS)
    }
}

/// Creates the catalog's personas and shared spaces on a database that has none.
async fn seed_if_empty(store: &Store, secrets: &Secrets) -> anyhow::Result<()> {
    if !store.list_personas(gateway::store::now()).await?.is_empty() {
        return Ok(());
    }
    let catalog = Catalog::shipped(LoadOptions {
        known_modules: Some(registry::MODULES),
        ..LoadOptions::default()
    })?;
    println!(
        "first start: seeding {} personas from the built-in catalog",
        catalog.personas.len()
    );
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

/// Ticks every due persona once and prints the summary table.
async fn run_once(
    store: &Store,
    system: &RunnerSystem,
    only: &[String],
) -> anyhow::Result<ExitCode> {
    let mut due = store.due_personas(gateway::store::now()).await?;
    if !only.is_empty() {
        let known = store.list_personas(gateway::store::now()).await?;
        for email in only {
            if !known
                .iter()
                .any(|known| known.persona.email.eq_ignore_ascii_case(email))
            {
                anyhow::bail!("--persona {email}: no such persona");
            }
        }
        due.retain(|persona| {
            only.iter()
                .any(|email| persona.email.eq_ignore_ascii_case(email))
        });
    }
    if due.is_empty() {
        println!(
            "nobody is due: every persona ticked within its cadence (hourly, daily, weekdays)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    // persona id → tick id while running; the email names it in the output.
    let mut waiting = HashMap::new();
    let mut emails = HashMap::new();
    for persona in &due {
        match system.start_tick(&persona.user_id).await {
            Ok(tick_id) => {
                waiting.insert(persona.user_id.clone(), tick_id);
                emails.insert(persona.user_id.clone(), persona.email.clone());
            }
            Err(error) => eprintln!("{}: not started: {error:#}", persona.email),
        }
    }
    let progress = Progress::new(waiting.len());
    let began = Instant::now();
    let mut finished: BTreeMap<String, TickSummary> = BTreeMap::new();
    while !waiting.is_empty() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for (persona_id, summary) in system.take_finished(&mut waiting).await? {
            let email = emails.remove(&persona_id).unwrap_or(persona_id);
            progress.finished(&email, &summary);
            finished.insert(email, summary);
        }
        if began.elapsed() > Duration::from_secs(3600) {
            anyhow::bail!("ticks did not finish within an hour");
        }
    }
    progress.done();
    println!();
    println!(
        "{:<28} {:>6} {:>7} {:>6} {:>9}  outcome",
        "persona", "tools", "errors", "rated", "duration"
    );
    for (email, summary) in &finished {
        let outcome = match (&summary.status, &summary.error) {
            (TickStatus::Ok, _) => "ok".to_owned(),
            (status, Some(error)) => format!("{}: {error}", status.as_str()),
            (status, None) => status.as_str().to_owned(),
        };
        println!(
            "{:<28} {:>6} {:>7} {:>6} {:>8.1}s  {}",
            email,
            summary.actions,
            summary.failed_actions,
            summary.modules_rated,
            summary.duration_ms as f64 / 1000.0,
            outcome
        );
    }
    let failed = finished
        .values()
        .filter(|summary| summary.status != TickStatus::Ok)
        .count();
    let tools: usize = finished.values().map(|summary| summary.actions).sum();
    println!(
        "{} ticks, {failed} failed, {tools} tool calls in {:.1}s",
        finished.len(),
        began.elapsed().as_secs_f64()
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A progress bar on a terminal, plain lines otherwise.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new(total: usize) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total as u64);
            if let Ok(style) =
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} ticks {msg}")
            {
                bar.set_style(style);
            }
            Progress(Some(bar))
        } else {
            Progress(None)
        }
    }

    fn finished(&self, email: &str, summary: &TickSummary) {
        match &self.0 {
            Some(bar) => {
                bar.set_message(email.to_owned());
                bar.inc(1);
            }
            None => println!(
                "tick {} {email}: {} tools, {} errors",
                summary.status.as_str(),
                summary.actions,
                summary.failed_actions
            ),
        }
    }

    fn done(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
