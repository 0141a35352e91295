//! The command tree of the `persona` binary; each subcommand lives in its own
//! file, and its doc comment is its `--help` text.

pub mod audit;
pub mod catalog_check;
pub mod catalog_init;
pub mod cleanup;
pub mod gateway;
pub mod replay;
pub mod run;
pub mod runner;
pub mod runner_options;
pub mod seed;
pub mod tick;
pub mod up;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keeps an app's AI-agent surface under realistic, continuous use by
/// LLM-played personas.
#[derive(Debug, Parser)]
#[command(name = "persona", version, about)]
pub struct Cli {
    /// A TOML file of settings keyed by their environment variable names
    /// (lowest precedence: file < environment < flags; secrets: environment only).
    #[arg(long, global = true, env = "PERSONA_CONFIG")]
    config: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Up(up::Up),
    Run(run::Run),
    Gateway(gateway::Gateway),
    Runner(runner::Runner),
    Seed(seed::Seed),
    Cleanup(cleanup::Cleanup),
    /// Work with the persona catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Check the app's contracts.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Read stored ticks.
    #[command(subcommand)]
    Tick(TickCommand),
    Replay(replay::Replay),
}

#[derive(Debug, Subcommand)]
enum TickCommand {
    Show(tick::Show),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    EncryptedTools(audit::EncryptedTools),
}

#[derive(Debug, Subcommand)]
enum CatalogCommand {
    Check(catalog_check::CatalogCheck),
    Init(catalog_init::CatalogInit),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Up(up) => up.run().await,
            Command::Run(run) => run.run().await,
            Command::Gateway(gateway) => gateway.run().await,
            Command::Runner(runner) => runner.run().await,
            Command::Seed(seed) => seed.run().await,
            Command::Cleanup(cleanup) => cleanup.run().await,
            Command::Catalog(CatalogCommand::Check(check)) => check.run(),
            Command::Catalog(CatalogCommand::Init(init)) => init.run().await,
            Command::Audit(AuditCommand::EncryptedTools(audit)) => audit.run(),
            Command::Tick(TickCommand::Show(show)) => show.run().await,
            Command::Replay(replay) => replay.run().await,
        }
    }
}
