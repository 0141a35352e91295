//! The options `persona up` and `persona runner` share: the LLM, limits,
//! cadence, shutdown grace and the control API's token; and the daemon loop
//! both run until SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actors::llm::pricing::PriceTable;
use actors::runtime::budget::{Budgets, Limit};
use actors::tick::TickSettings;
use anyhow::Context as _;
use catalog::SeedSecret;
use catalog::target::{McpServer, Target};
use gateway::http::ConnectionLimits;
use tokio::net::TcpListener;

use crate::control::ControlState;
use crate::llm_choice::LlmArgs;
use crate::system::{RunnerSystem, SystemSettings, Tuning};
use crate::wiring::Provider;

#[derive(Debug, clap::Args)]
pub struct RunnerOptions {
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Ticks running at once on this replica (it is what one machine can run).
    #[arg(long, env = "PERSONA_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// LLM requests per minute across the whole fleet, retries included;
    /// each live replica on the same database takes an equal share.
    #[arg(long, env = "PERSONA_LLM_RPM", default_value_t = 50)]
    pub llm_rpm: u32,
    /// How often due personas are looked for, in milliseconds.
    #[arg(long, env = "TICK_INTERVAL_MS", default_value_t = 60_000)]
    pub tick_interval_ms: u64,
    /// A tick running longer than this many seconds ends as failed.
    #[arg(long, env = "PERSONA_TICK_TIMEOUT_SECS", default_value_t = 600)]
    pub tick_timeout_secs: u64,
    /// Seconds a persona's lease lasts unless renewed; after a crash its
    /// personas wait this long before another runner may tick them.
    #[arg(long, env = "PERSONA_LEASE_SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..))]
    pub lease_secs: u64,
    /// LLM rounds per tick at most.
    #[arg(long, env = "PERSONA_MAX_TURNS", default_value_t = 15)]
    pub max_turns: u32,
    /// Output tokens one answer of the day may use at most (less when the
    /// model's context window has less room left).
    #[arg(long, env = "PERSONA_MAX_TOKENS", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(64..))]
    pub max_tokens: u32,
    /// Words the persona's memory ("the story so far", written by the rating
    /// turn and put into the next day prompt) keeps at most. A model's story
    /// is also bounded at 800 characters by the rating tool's schema.
    #[arg(long, env = "PERSONA_MEMORY_WORDS", default_value_t = 150, value_parser = clap::value_parser!(u32).range(10..=1000))]
    pub memory_words: u32,
    /// Characters each text of a tick's transcript keeps at most (prompts,
    /// answers, tool inputs and answers); the rest is cut, saying how much.
    #[arg(long, env = "PERSONA_TRANSCRIPT_CHARS", default_value_t = 4000, value_parser = clap::value_parser!(u32).range(100..))]
    pub transcript_chars: u32,
    /// Days tick transcripts are kept (0: forever); older ones are deleted
    /// at start and then hourly. Tick rows, actions and ratings stay.
    #[arg(long, env = "PERSONA_TRANSCRIPT_DAYS", default_value_t = 30)]
    pub transcript_days: u32,
    /// Each persona's LLM budget per UTC day in US dollars; a tick that
    /// reaches it ends failed (reason budget), and the persona waits for the
    /// next day.
    #[arg(long, env = "PERSONA_BUDGET_USD", value_parser = positive_usd)]
    pub persona_budget_usd: Option<f64>,
    /// Each persona's LLM budget per UTC day in tokens (input, output and
    /// cache reads and writes together).
    #[arg(long, env = "PERSONA_BUDGET_TOKENS", value_parser = clap::value_parser!(u64).range(1..))]
    pub persona_budget_tokens: Option<u64>,
    /// The whole fleet's LLM budget per UTC day in US dollars; reaching it
    /// sets the kill-switch (reason budget) until the next UTC day or an
    /// operator's resume.
    #[arg(long, env = "FLEET_BUDGET_USD", value_parser = positive_usd)]
    pub fleet_budget_usd: Option<f64>,
    /// The whole fleet's LLM budget per UTC day in tokens.
    #[arg(long, env = "FLEET_BUDGET_TOKENS", value_parser = clap::value_parser!(u64).range(1..))]
    pub fleet_budget_tokens: Option<u64>,
    /// Seconds running ticks get to finish on shutdown before they are cancelled.
    #[arg(long, env = "PERSONA_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,
    /// A target file (TOML) describing the app under test: its MCP URL, how
    /// personas log in, headers per persona, the tools they may call and
    /// each tool's module. Without it, the built-in app.
    #[arg(long, env = "PERSONA_TARGET")]
    pub target: Option<std::path::PathBuf>,
    /// Start with the fleet's kill-switch on: no replica ticks until an
    /// operator resumes (`POST /resume` on any replica).
    #[arg(long, env = "RUNNER_PAUSED")]
    pub paused: bool,
    /// Host names the control API answers for besides this machine's
    /// (comma-separated); any other `Host` or `Origin` is refused.
    #[arg(
        long = "control-allowed-host",
        env = "CONTROL_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub control_allowed_hosts: Vec<String>,
    /// Bearer token the control API's mutating routes require; required in production.
    #[arg(long, env = "RUNNER_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

impl RunnerOptions {
    /// The LLM, what its tokens cost and the budgets, checked together: a
    /// dollar budget needs a model whose cost is known. Called before the
    /// database is touched, so a bad configuration changes nothing.
    pub fn llm_prices_and_budgets(&self) -> anyhow::Result<(Provider, PriceTable, Budgets)> {
        let provider = self.llm.provider()?;
        let budgets = Budgets {
            persona: Limit {
                usd: self.persona_budget_usd,
                tokens: self.persona_budget_tokens,
            },
            fleet: Limit {
                usd: self.fleet_budget_usd,
                tokens: self.fleet_budget_tokens,
            },
        };
        let prices = PriceTable::shipped().with_overrides(crate::config_file::prices(
            &std::env::args().collect::<Vec<_>>(),
        )?);
        if budgets.persona.usd.is_some() || budgets.fleet.usd.is_some() {
            provider.require_price(&prices)?;
        }
        Ok((provider, prices, budgets))
    }

    /// The target file, read and checked (every problem named by its
    /// setting); `None` without `--target`.
    pub fn target(&self) -> anyhow::Result<Option<Target>> {
        let Some(path) = &self.target else {
            return Ok(None);
        };
        let target = Target::from_path(path)
            .with_context(|| format!("the target file {}", path.display()))?;
        // A stdio server that cannot start would fail every tick; say so now.
        if let McpServer::Stdio { command, .. } = &target.mcp {
            anyhow::ensure!(
                program_exists(command),
                "the target file {}: mcp.command: {command:?} is not a program (not a file, and not on PATH)",
                path.display()
            );
        }
        Ok(Some(target))
    }

    /// The runner's settings for the app `target` describes.
    pub fn settings(
        &self,
        target: Target,
        seed_secret: SeedSecret,
        once: bool,
    ) -> anyhow::Result<SystemSettings> {
        let (provider, prices, budgets) = self.llm_prices_and_budgets()?;
        // The scripted simulator is local; only hosted models need the rate limit.
        let llm_per_minute = if matches!(provider, Provider::Scripted) {
            1_000_000
        } else {
            self.llm_rpm
        };
        let schedule_every =
            (!once).then(|| Duration::from_millis(self.tick_interval_ms.max(1000)));
        Ok(SystemSettings {
            target,
            llms: Arc::new(provider),
            seed_secret,
            tuning: Tuning {
                concurrency: self.concurrency,
                llm_per_minute,
                paused: self.paused,
                tick: TickSettings {
                    max_turns: self.max_turns,
                    max_tokens: self.max_tokens,
                    transcript_chars: self.transcript_chars,
                    memory_words: self.memory_words,
                    ..TickSettings::default()
                },
                prices,
                budgets,
                tick_timeout: Duration::from_secs(self.tick_timeout_secs),
                lease: Duration::from_secs(self.lease_secs),
                schedule_every,
                // The persona list is re-read only by a daemon.
                refresh_every: schedule_every.map(|_| Duration::from_secs(60)),
                transcript_retention: (self.transcript_days > 0)
                    .then(|| Duration::from_secs(u64::from(self.transcript_days) * 24 * 3600)),
                ..Tuning::default()
            },
        })
    }

    /// `CONTROL_ALLOWED_HOSTS`, trimmed and lower case, as the control
    /// API's guard compares them.
    pub fn allowed_hosts(&self) -> Vec<String> {
        self.control_allowed_hosts
            .iter()
            .map(|host| host.trim().to_ascii_lowercase())
            .filter(|host| !host.is_empty())
            .collect()
    }

    pub fn require_token_in_production(&self, production: bool) -> anyhow::Result<()> {
        if production && self.admin_token.is_none() {
            anyhow::bail!(
                "RUNNER_ADMIN_TOKEN must be set when PERSONA_ENV=production: it guards the control API"
            );
        }
        Ok(())
    }

    /// Serves the control API on `addr` until SIGTERM/SIGINT, then shuts the
    /// runner down in order and stops the control API last.
    pub async fn serve_until_signal(
        &self,
        system: RunnerSystem,
        control: ControlState,
        addr: SocketAddr,
    ) -> anyhow::Result<()> {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            gateway::http::serve(
                listener,
                crate::control::router(Arc::new(control)),
                ConnectionLimits::default(),
                async {
                    let _ = stopped.await;
                },
            )
            .await
        });
        println!("control API listening on {url} (GET /supervisor)");
        println!(
            "personas tick on their cadence every {} ms; Ctrl-C or SIGTERM stops",
            self.tick_interval_ms
        );
        crate::shutdown::signal().await;
        system
            .shutdown(Duration::from_secs(self.shutdown_grace_secs))
            .await;
        let _ = stop.send(());
        server
            .await
            .context("the control API task failed")?
            .context("serving the control API")?;
        Ok(())
    }
}

/// A dollar amount that is not one.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a positive amount of US dollars")]
pub struct NotDollars(String);

/// A dollar budget: a positive, finite number.
fn positive_usd(text: &str) -> Result<f64, NotDollars> {
    match text.parse::<f64>() {
        Ok(usd) if usd.is_finite() && usd > 0.0 => Ok(usd),
        _ => Err(NotDollars(text.to_owned())),
    }
}

/// Whether `command` names a file, or a file in one of `PATH`'s directories.
fn program_exists(command: &str) -> bool {
    let path = std::path::Path::new(command);
    if path.components().count() > 1 {
        return path.is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|dirs| std::env::split_paths(&dirs).any(|dir| dir.join(command).is_file()))
}
