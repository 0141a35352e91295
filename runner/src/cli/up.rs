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
use gateway::app::AppState;
use gateway::config::GatewayConfig;
use gateway::store::Store;

use super::gateway::DatabaseArgs;
use super::runner_options::RunnerOptions;
use crate::app_login::ManaLogin;
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
        let gateway = gateway::app::spawn(self.gateway_addr, state).await?;
        let gateway_url = gateway.url();
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
            gateway.stop().await?;
            return Ok(code);
        }
        let control = ControlState {
            runner: system.handles.clone(),
            directory: Arc::new(crate::wiring::StoreDirectory {
                store: store.clone(),
                seed_secret: secrets.seed_secret.clone(),
            }),
            app: Arc::new(ManaLogin::new(&gateway_url)?),
            seed_secret: secrets.seed_secret.clone(),
            admin_token: self.runner.admin_token.clone(),
            production: secrets.production,
            metrics: gateway::metrics::prometheus(),
        };
        self.runner
            .serve_until_signal(system, control, self.control_addr)
            .await?;
        gateway.stop().await?;
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
    let mut progress = Progress::new(waiting.len());
    let began = Instant::now();
    let mut finished: BTreeMap<String, TickSummary> = BTreeMap::new();
    let interrupted = crate::shutdown::signal();
    tokio::pin!(interrupted);
    let mut cancelled = false;
    while !waiting.is_empty() {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = &mut interrupted, if !cancelled => {
                cancelled = true;
                progress.note(&format!(
                    "interrupted: cancelling {} running ticks (their rows are kept; they end as aborted); \
                     press Ctrl-C again to exit at once",
                    waiting.len()
                ));
                // IMPORTANT: a second signal must not wait for the saves.
                tokio::spawn(async {
                    crate::shutdown::signal().await;
                    std::process::exit(130);
                });
                system.cancel_running("interrupted (SIGINT/SIGTERM) during persona up --once");
            }
        }
        for (persona_id, summary) in system.take_finished(&mut waiting).await? {
            let email = emails
                .remove(&persona_id)
                .unwrap_or_else(|| persona_id.clone());
            progress.finished(&persona_id, &email, &summary);
            finished.insert(email, summary);
        }
        if progress.is_live() {
            let snapshot = system.snapshot().await?;
            progress.show_running(&snapshot, &waiting);
        }
        if began.elapsed() > Duration::from_secs(3600) {
            anyhow::bail!("ticks did not finish within an hour");
        }
    }
    progress.done();
    print_summary(&finished, began.elapsed());
    let not_ok = finished
        .values()
        .filter(|summary| summary.status != TickStatus::Ok)
        .count();
    Ok(if cancelled {
        ExitCode::from(130)
    } else if not_ok == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The table `--once` ends with: one line per tick, then the totals by
/// outcome.
fn print_summary(finished: &BTreeMap<String, TickSummary>, took: Duration) {
    println!();
    println!(
        "{:<28} {:>5} {:>6} {:>6} {:>6} {:>6} {:>9}  outcome",
        "persona", "turns", "tools", "errors", "agent", "rated", "duration"
    );
    for (email, summary) in finished {
        let outcome = match (&summary.error, summary.failed_by) {
            (None, _) => summary.status.as_str().to_owned(),
            (Some(error), Some(who)) => {
                format!("{} ({who}): {error}", summary.status.as_str())
            }
            (Some(error), None) => format!("{}: {error}", summary.status.as_str()),
        };
        println!(
            "{:<28} {:>5} {:>6} {:>6} {:>6} {:>6} {:>8.1}s  {}",
            email,
            summary.turns,
            summary.actions,
            summary.failed_actions,
            summary.agent_errors,
            summary.modules_rated,
            summary.duration_ms as f64 / 1000.0,
            outcome
        );
    }
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for summary in finished.values() {
        *by_status.entry(summary.status.as_str()).or_default() += 1;
    }
    let outcomes: Vec<String> = by_status
        .iter()
        .map(|(status, count)| format!("{count} {status}"))
        .collect();
    let tools: usize = finished.values().map(|summary| summary.actions).sum();
    println!(
        "{} ticks ({}), {tools} tool calls in {:.1}s",
        finished.len(),
        outcomes.join(", "),
        took.as_secs_f64()
    );
}

/// Progress while `--once` waits: on a terminal, one live line per running
/// persona (elapsed time, turn, tool calls so far) under a count of
/// finished ticks; otherwise plain lines as ticks finish.
enum Progress {
    Live {
        bars: indicatif::MultiProgress,
        total: indicatif::ProgressBar,
        running: HashMap<String, indicatif::ProgressBar>,
    },
    Plain,
}

impl Progress {
    fn new(total: usize) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::Plain;
        }
        let bars = indicatif::MultiProgress::new();
        crate::telemetry::draw_logs_above(&bars);
        let bar = bars.add(indicatif::ProgressBar::new(total as u64));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} ticks done, {elapsed} elapsed",
        ) {
            bar.set_style(style);
        }
        bar.tick();
        Progress::Live {
            bars,
            total: bar,
            running: HashMap::new(),
        }
    }

    fn is_live(&self) -> bool {
        matches!(self, Progress::Live { .. })
    }

    /// A line that stays, above the live ones.
    fn note(&self, text: &str) {
        match self {
            Progress::Live { bars, .. } => {
                let _ = bars.println(text);
            }
            Progress::Plain => eprintln!("{text}"),
        }
    }

    /// Redraws the line of every persona still in `waiting`.
    fn show_running(
        &mut self,
        snapshot: &actors::runtime::supervisor::Snapshot,
        waiting: &HashMap<String, String>,
    ) {
        let Progress::Live {
            bars,
            running,
            total,
        } = self
        else {
            return;
        };
        // Redrawn on every poll, so its elapsed time moves.
        total.tick();
        for entry in &snapshot.personas {
            if !waiting.contains_key(&entry.persona_id) {
                continue;
            }
            let Some(status) = &entry.status else {
                continue;
            };
            let line = running.entry(entry.persona_id.clone()).or_insert_with(|| {
                let line = bars.add(indicatif::ProgressBar::new_spinner());
                if let Ok(style) = indicatif::ProgressStyle::with_template("  {spinner} {msg}") {
                    line.set_style(style);
                }
                line
            });
            let elapsed = status
                .current_tick_started_at
                .map(|started| (chrono::Utc::now() - started).num_seconds().max(0))
                .unwrap_or(0);
            let message = match status.current_progress {
                Some(progress) if progress.waiting_on.is_some() || progress.turns > 0 => {
                    let doing = match progress.waiting_on {
                        Some(catalog::FailedBy::Llm) => "asking the model",
                        Some(catalog::FailedBy::App) => "calling tools",
                        _ => "saving its rows",
                    };
                    format!(
                        "{:<28} {:>4}s  turn {:>2}  {:>2} tool calls  {doing}",
                        entry.email,
                        elapsed,
                        progress.turns + 1,
                        progress.tool_calls
                    )
                }
                _ => format!(
                    "{:<28} {:>4}s  waiting to start (PERSONA_CONCURRENCY)",
                    entry.email, elapsed
                ),
            };
            line.set_message(message);
            line.tick();
        }
    }

    fn finished(&mut self, persona_id: &str, email: &str, summary: &TickSummary) {
        let line = format!(
            "tick {} {email} ({}): {} tools, {} errors, {} agent errors, {} rated in {:.1}s{}",
            summary.status.as_str(),
            summary.tick_id,
            summary.actions,
            summary.failed_actions,
            summary.agent_errors,
            summary.modules_rated,
            summary.duration_ms as f64 / 1000.0,
            summary
                .error
                .as_deref()
                .map(|error| format!(" ({error})"))
                .unwrap_or_default()
        );
        match self {
            Progress::Live {
                bars,
                total,
                running,
            } => {
                if let Some(bar) = running.remove(persona_id) {
                    bar.finish_and_clear();
                    bars.remove(&bar);
                }
                let _ = bars.println(line);
                total.inc(1);
            }
            Progress::Plain => println!("{line}"),
        }
    }

    fn done(&self) {
        if let Progress::Live { bars, total, .. } = self {
            total.finish_and_clear();
            let _ = bars.clear();
        }
    }
}
