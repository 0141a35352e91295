//! What the suite's tests share: the `persona` binary as a command with a
//! clean environment, and polling a condition until a deadline.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Every setting a developer's shell may hold that would change what the
/// binary does; tests set what they need explicitly.
const SCRUBBED: [&str; 19] = [
    "PERSONA_ENV",
    "PERSONA_CONFIG",
    "PERSONA_SEED_SECRET",
    "PERSONA_LLM",
    "PERSONA_MODEL",
    "MANA_SERVICE_KEY",
    "MANA_KEK",
    "MANA_ADMIN_EMAIL",
    "MANA_ADMIN_PASSWORD",
    "MANA_ADMIN_JWT",
    "MANA_API_URL",
    "MANA_MCP_URL",
    "DATABASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "RUNNER_PAUSED",
    "RUNNER_ADMIN_TOKEN",
];

/// The `persona` binary, run in `dir`, with none of [`SCRUBBED`] inherited.
pub fn persona_command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_persona"));
    command.current_dir(dir);
    for name in SCRUBBED {
        command.env_remove(name);
    }
    command
}

/// Polls `condition` every 20 ms until it holds, failing after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
