//! `persona run`: `persona up` for an app other than the built-in one.

use std::process::ExitCode;

use super::up::Up;

/// Run the personas against the app a target file (--target) describes.
///
/// The same daemon, control API and --once summary as `persona up`, without
/// the built-in app: the database (a SQLite file by default) keeps the
/// personas, seeded on first start from --catalog (default: the built-in
/// catalog), and their ticks, rows and transcripts; their MCP calls go to
/// the target. The target file is checked against its server at start.
/// Exit codes as `persona up`; 2 also for a target that cannot work.
#[derive(Debug, clap::Args)]
pub struct Run {
    #[command(flatten)]
    up: Up,
}

impl Run {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        anyhow::ensure!(
            self.up.has_target(),
            "persona run needs a target file: --target FILE (or PERSONA_TARGET); `persona up` runs the built-in app"
        );
        self.up.run().await
    }
}
