//! What the runner's test suites share. The api suite declares this file as
//! its `helpers` module, and the fault suite includes the same file, so
//! both run the binary with one scrubbed environment and wait the same way.
//!
//! - The `persona` binary as a command with a clean environment
//!   ([`persona_command`]), the process it becomes ([`Process`]: the line
//!   it prints when ready, killed on drop), signals ([`send_signal`]), its
//!   exit ([`exit_status`]) and one-shot runs ([`run_ok`]).
//! - A gateway on a loopback port over a fresh SQLite file with the
//!   catalog's personas seeded ([`gateway_with_personas`]), and the
//!   [`keyring`] and [`profile`] fixtures that go with it.
//! - Polling a condition until a deadline ([`eventually`]), never a fixed
//!   sleep.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use actors::tick::PersonaProfile;
use catalog::{Catalog, LoadOptions, SeedSecret, derive_password};
use gateway::app::AppState;
use gateway::config::GatewayConfig;
use gateway::store::Store;
use registry::crypto::{KeyEncryptionKey, Keyring};

// ---------------------------------------------------------------------------
// The `persona` binary

/// Name prefixes of the settings the binary reads (`PERSONA_CONCURRENCY`,
/// `MANA_KEK`, `RUNNER_PAUSED`, `OPENAI_MODEL`, …). A prefix rather than a
/// list of names, so a setting added later is scrubbed without anyone
/// remembering this file.
const SCRUBBED_PREFIXES: [&str; 6] = [
    "PERSONA_",
    "MANA_",
    "RUNNER_",
    "GATEWAY_",
    "ANTHROPIC_",
    "OPENAI_",
];

/// The settings the binary reads outside those prefixes.
const SCRUBBED_NAMES: [&str; 4] = [
    "DATABASE_URL",
    "CONTROL_ADDR",
    "TICK_INTERVAL_MS",
    "PGSSLMODE",
];

/// The `persona` binary, run in `dir`, with none of the settings a
/// developer's shell (or CI's) may hold inherited: tests set what they need
/// explicitly. `RUST_LOG` is kept, so a developer can still turn up a
/// child's log.
pub fn persona_command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_persona"));
    command.current_dir(dir);
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else {
            continue;
        };
        if SCRUBBED_NAMES.contains(&name)
            || SCRUBBED_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix))
        {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `command` to the end; panics with its output unless it succeeded,
/// and returns its stdout.
pub fn run_ok(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} exited with {}:\n{stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// How long a process may take to print its ready line: the first start of
/// a debug build migrates a database and hashes the seed passwords.
pub const READY_LIMIT: Duration = Duration::from_secs(60);

/// A child process that is killed and reaped when dropped, so a failing
/// test leaves nothing running.
pub struct Process {
    pub child: Child,
}

impl Process {
    /// Spawns `command` with stdout piped and waits up to [`READY_LIMIT`]
    /// for a line starting with `ready`; returns the process and the rest
    /// of that line, trimmed. `None` (the process killed) when no such line
    /// came. Stdout keeps being drained afterwards, so the child never
    /// blocks on a full pipe.
    pub fn start(command: &mut Command, ready: &str) -> Option<(Process, String)> {
        let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let process = Process { child };
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The receiver is gone once the ready line was seen; the
                // loop goes on only to drain the pipe.
                let _ = sender.send(line);
            }
        });
        let deadline = std::time::Instant::now() + READY_LIMIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = receiver.recv_timeout(left).ok()?;
            if let Some(rest) = line.strip_prefix(ready) {
                return Some((process, rest.trim().to_owned()));
            }
        }
    }

    /// The process id, as `kill` takes it.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `signal` (`"TERM"`, `"INT"`) to process `pid`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}: {status}");
}

/// Waits until `child` has exited, failing after `limit` with "timed out
/// waiting for `what`".
pub async fn exit_status(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let mut status = None;
    eventually(limit, what, || {
        status = child.try_wait().unwrap();
        std::future::ready(status.is_some())
    })
    .await;
    status.unwrap()
}

// ---------------------------------------------------------------------------
// A gateway in this process

/// A gateway serving on a loopback port over its own SQLite file.
pub struct Gateway {
    pub url: String,
    pub store: Store,
    _dir: tempfile::TempDir,
    /// Stops the server when the test drops it.
    _running: gateway::app::RunningGateway,
}

impl Gateway {
    /// The SQLite file its store keeps.
    pub fn db_path(&self) -> std::path::PathBuf {
        self._dir.path().join("persona.db")
    }
}

/// The key-encryption keyring the suite's stores use.
pub fn keyring() -> Keyring {
    Keyring::new(KeyEncryptionKey::new("test", &[7; 32]).unwrap(), Vec::new())
}

/// A gateway on a fresh SQLite file with the catalog's personas seeded.
pub async fn gateway_with_personas() -> Gateway {
    gateway_with_personas_and(GatewayConfig::default()).await
}

/// [`gateway_with_personas`] with `config` (its service key is set here).
pub async fn gateway_with_personas_and(config: GatewayConfig) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite_file(&dir.path().join("persona.db"))
        .await
        .unwrap();
    let catalog = Catalog::shipped(LoadOptions::default()).unwrap();
    for persona in &catalog.personas {
        let password = derive_password(&SeedSecret::dev_fallback(), &persona.email);
        gateway::accounts::upsert_persona(&store, &keyring(), persona, &password)
            .await
            .unwrap();
    }
    let config = GatewayConfig {
        service_key: "key".into(),
        ..config
    };
    let state = AppState::build(config, store.clone(), keyring())
        .await
        .unwrap();
    let running = gateway::app::spawn("127.0.0.1:0".parse().unwrap(), state)
        .await
        .unwrap();
    Gateway {
        url: running.url(),
        store,
        _dir: dir,
        _running: running,
    }
}

/// What a tick knows of a stored persona.
pub fn profile(store_persona: &gateway::store::PersonaRow) -> PersonaProfile {
    runner::wiring::profile(store_persona)
}

// ---------------------------------------------------------------------------
// Waiting

/// The one wait: polls a condition until a deadline on tokio's clock.
pub use actors::testing::eventually;
