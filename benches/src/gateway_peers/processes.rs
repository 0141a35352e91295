//! The three servers as child processes: started, awaited until they print
//! their port, and stopped by closing their stdin (killed if they linger).
//!
//! The gateway and the bare rmcp server are this binary's hidden
//! `serve-peer` subcommand; the TypeScript server is `node server.mjs` in
//! `benches/peers/typescript`, whose packages `npm ci` installs from the
//! committed lock file the first time.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt as _, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::serve::PORT_LINE;

/// The servers' names in the table.
pub const GATEWAY: &str = "gateway";
pub const TYPESCRIPT: &str = "ts-sdk";
pub const BARE_RMCP: &str = "bare-rmcp";

/// A server's start-up (migrations, key loading, node's module loading)
/// takes well under this.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// After its stdin closes, a server gets this long to exit before it is
/// killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running server.
pub struct ServerProcess {
    pub name: &'static str,
    pub pid: u32,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
    child: Child,
    /// Held open for the server's lifetime; dropping it tells the server to go.
    stdin: Option<ChildStdin>,
}

impl ServerProcess {
    /// The real gateway over the seeded SQLite file `db`.
    pub async fn gateway(db: &Path) -> anyhow::Result<ServerProcess> {
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["serve-peer", "gateway", "--db"]).arg(db);
        ServerProcess::start(GATEWAY, command).await
    }

    /// The bare rmcp server answering the workload in `workload`.
    pub async fn bare_rmcp(workload: &Path) -> anyhow::Result<ServerProcess> {
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["serve-peer", "rmcp", "--workload"])
            .arg(workload);
        ServerProcess::start(BARE_RMCP, command).await
    }

    /// The official TypeScript SDK's server answering the workload in
    /// `workload`.
    pub async fn typescript(workload: &Path) -> anyhow::Result<ServerProcess> {
        let dir = typescript_dir();
        let mut command = Command::new("node");
        command.arg(dir.join("server.mjs")).arg(workload);
        command.current_dir(&dir);
        ServerProcess::start(TYPESCRIPT, command).await
    }

    async fn start(name: &'static str, mut command: Command) -> anyhow::Result<ServerProcess> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // The benchmark failing half-way must not leave servers behind.
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting the {name} server"))?;
        let pid = child.id().context("the server exited at once")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("the server's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(START_TIMEOUT, read_port(&mut lines, name))
            .await
            .with_context(|| format!("the {name} server did not print its port in time"))??;
        // Keep reading, so a chatty server never blocks on a full pipe.
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[{name}] {line}");
            }
        });
        Ok(ServerProcess {
            name,
            pid,
            base_url: format!("http://127.0.0.1:{port}"),
            child,
            stdin,
        })
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        match tokio::time::timeout(STOP_GRACE, self.child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                tracing::warn!(server = self.name, "the server ignored its closed stdin");
                self.child.kill().await?;
            }
        }
        Ok(())
    }
}

/// Reads the server's stdout up to its port line.
async fn read_port(lines: &mut Lines<BufReader<ChildStdout>>, name: &str) -> anyhow::Result<u16> {
    while let Some(line) = lines.next_line().await? {
        if let Some(port) = line.strip_prefix(PORT_LINE) {
            return port
                .trim()
                .parse::<u16>()
                .with_context(|| format!("the {name} server printed {line:?}"));
        }
        eprintln!("[{name}] {line}");
    }
    bail!("the {name} server ended before printing its port")
}

/// Installs the TypeScript peer's packages from its lock file unless they
/// are there already.
pub async fn ensure_npm_packages() -> anyhow::Result<()> {
    let dir = typescript_dir();
    if dir.join("node_modules").is_dir() {
        return Ok(());
    }
    println!(
        "installing the TypeScript peer's packages (npm ci in {})",
        dir.display()
    );
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        // npm's progress would land between the benchmark's lines.
        .stdout(Stdio::null())
        .status()
        .await
        .context("running npm ci (are node and npm installed?)")?;
    if !status.success() {
        bail!("npm ci in {} failed: {status}", dir.display());
    }
    Ok(())
}

fn typescript_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/typescript")
}
