//! The gateway under abuse: the release `persona gateway` binary as a child
//! process on a fresh SQLite file, its resident memory read from
//! `/proc/<pid>/status`, stopped with SIGTERM (killed if it lingers).
//!
//! The binary is found next to this one (`target/release/persona`, built by
//! `cargo build --release -p runner --bin persona`) unless `PERSONA_BIN`
//! names it: cargo cannot build another package's binary as a dependency.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

/// Migrations, key loading and the admin account's argon2 hash take well
/// under this.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// After SIGTERM the gateway gets this long to finish; idle connections
/// close at once, so only a stuck one would hold it up.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// The line `persona gateway` prints once it accepts connections.
const LISTENING_LINE: &str = "gateway listening on http://";
/// Log lines of the gateway's passed through to the benchmark's stderr; the
/// rest are only counted, so a log flood under abuse does not bury the
/// tables.
const LOG_LINES_SHOWN: usize = 3;

/// A running `persona gateway`.
pub struct GatewayProcess {
    pub pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    /// `127.0.0.1:<port>`, for raw sockets.
    pub addr: std::net::SocketAddr,
    /// Lines the gateway has written to stderr (its log at `warn`).
    log_lines: Arc<AtomicUsize>,
    child: Child,
}

/// Resident memory of a process, in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub resident: u64,
    /// `VmHWM`: the most it was ever resident (the process's whole life).
    pub peak: u64,
}

impl GatewayProcess {
    /// Starts the gateway on a new SQLite file in `dir` with `extra_args`
    /// (connection limits) after the database and address.
    pub async fn start(dir: &Path, name: &str, extra_args: &[String]) -> anyhow::Result<Self> {
        let binary = persona_binary()?;
        let db = dir.join(format!("{name}.db"));
        let mut command = Command::new(&binary);
        command
            .arg("gateway")
            .arg("--db")
            .arg(format!("sqlite://{}", db.display()))
            .args(["--addr", "127.0.0.1:0"])
            .args(extra_args)
            // Its own log would interleave with the tables; warnings and
            // errors (a failed accept) still show.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // The benchmark failing half-way must not leave a gateway behind.
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = child.id().context("the gateway exited at once")?;
        let stdout = child.stdout.take().context("the gateway's stdout")?;
        let stderr = child.stderr.take().context("the gateway's stderr")?;
        let log_lines = Arc::new(AtomicUsize::new(0));
        let counted = log_lines.clone();
        // Read to the end, so the gateway never blocks on a full pipe.
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if counted.fetch_add(1, Ordering::Relaxed) < LOG_LINES_SHOWN {
                    eprintln!("[gateway log] {line}");
                }
            }
        });
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(addr) = line.strip_prefix(LISTENING_LINE) {
                    return addr
                        .trim()
                        .parse::<std::net::SocketAddr>()
                        .with_context(|| format!("the gateway printed {line:?}"));
                }
            }
            bail!("the gateway ended before it listened")
        })
        .await
        .context("the gateway did not listen in time")??;
        // Keep reading, so a chatty gateway never blocks on a full pipe.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[gateway] {line}");
            }
        });
        Ok(GatewayProcess {
            pid,
            base_url: format!("http://{addr}"),
            addr,
            log_lines,
            child,
        })
    }

    /// The gateway's memory now; zeros once it has exited.
    pub fn memory(&self) -> Memory {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .map_or(0, |kib| kib * 1024)
        };
        Memory {
            resident: field("VmRSS:"),
            peak: field("VmHWM:"),
        }
    }

    /// Lines the gateway has logged so far.
    pub fn log_lines(&self) -> usize {
        self.log_lines.load(Ordering::Relaxed)
    }

    /// Descriptors the gateway holds open (`/proc/<pid>/fd`); 0 once gone.
    pub fn open_descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).map_or(0, Iterator::count)
    }

    /// Whether the process is still running (it may have crashed under abuse).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, then SIGKILL after [`STOP_GRACE`].
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let pid = i32::try_from(self.pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .context("the gateway's pid")?;
        if let Err(error) = rustix::process::kill_process(pid, rustix::process::Signal::TERM) {
            tracing::warn!(%error, "SIGTERM to the gateway failed");
        }
        match tokio::time::timeout(STOP_GRACE, self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                eprintln!("the gateway ignored SIGTERM for {STOP_GRACE:?}; killing it");
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// `PERSONA_BIN`, else `persona` beside this executable.
fn persona_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("PERSONA_BIN") {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe()?;
    let binary = exe
        .parent()
        .context("this executable's directory")?
        .join("persona");
    if !binary.is_file() {
        bail!(
            "{} is missing: build it first with `cargo build --release -p runner --bin persona` \
             (or name it in PERSONA_BIN)",
            binary.display()
        );
    }
    Ok(binary)
}

/// Megabytes (10^6 bytes) for the tables.
pub fn megabytes(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}
