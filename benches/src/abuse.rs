//! The abuse figures of issue 16: what a real `persona gateway` process does
//! under a login flood, a socket flood and one user's flood of MCP sessions.
//!
//! Each part starts the release `persona` binary (`persona gateway` on a
//! fresh SQLite file in a temp dir, `--addr 127.0.0.1:0`) and reads its
//! resident memory from `/proc/<pid>/status` (`VmRSS` now, `VmHWM` its
//! peak); everything stays on loopback, and every loop ends by itself.
//!
//! 1. [`login_flood`]: 192 wrong logins at concurrency 64, in three rounds
//!    (one account from one address, unknown emails from one address,
//!    unknown emails from 192 addresses), each on a fresh gateway: answers
//!    by status, memory before, at peak and after, `/health` latency
//!    throughout.
//! 2. [`socket_flood`]: 20,000 abusive sockets (2,000 with `--quick`;
//!    fewer if the descriptor limit is lower) — silent, half a request
//!    head, idle keep-alive — against a gateway started with
//!    `--header-timeout-secs 2`: `/health` on fresh connections meanwhile,
//!    how many the server closed and how soon, and its memory.
//! 3. [`mcp_sessions`]: one user opens 100 MCP sessions; how many it keeps,
//!    whether another user's session still answers, the live gauge.
//!
//! Needs the `persona` binary beside this one:
//! `cargo build --release -p runner --bin persona` (or `PERSONA_BIN`).

mod gateway_process;
mod login_flood;
mod mcp_sessions;
mod socket_flood;

use std::time::Duration;

use anyhow::Context as _;

use gateway_process::GatewayProcess;
use socket_flood::FloodShape;

/// Abusive sockets the bar names.
const SOCKETS_FULL: usize = 20_000;
const SOCKETS_QUICK: usize = 2_000;
/// Descriptors left to the benchmark itself beside its abusive sockets
/// (probes, the HTTP clients, the runtime, the gateway's pipes).
const DESCRIPTORS_KEPT: u64 = 1_000;
/// The gateway's header-read and keep-alive idle timeout in the socket
/// flood: short, so the run shows closes within seconds (the default is
/// 30 s).
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn run(quick: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!("load average at start: {}", load_average());

    println!(
        "\n1. Login flood: {} wrong logins at concurrency {} per round, each round on a fresh gateway",
        login_flood::LOGINS,
        login_flood::CONCURRENCY
    );
    let rounds = login_flood::run(dir.path()).await?;
    login_flood::print(&rounds);

    let descriptors = raise_descriptor_limit();
    let wanted = if quick { SOCKETS_QUICK } else { SOCKETS_FULL };
    let room =
        usize::try_from(descriptors.soft.saturating_sub(DESCRIPTORS_KEPT)).unwrap_or(usize::MAX);
    let shape = FloodShape {
        sockets: wanted.min(room),
        header_timeout: HEADER_TIMEOUT,
        hold_at_most: if quick {
            Duration::from_secs(15)
        } else {
            Duration::from_secs(90)
        },
    };
    let max_connections = gateway::http::ConnectionLimits::default().max_connections;
    println!(
        "\n2. Socket flood: {} abusive sockets ({} wanted; descriptor limit soft {} (was {}), hard {}, \
         {} kept for the benchmark), gateway --header-timeout-secs {}, max connections {} (default); \
         the flood ends when all are closed or after {:.0} s",
        shape.sockets,
        wanted,
        descriptors.soft,
        descriptors.soft_before,
        descriptors.hard_label(),
        DESCRIPTORS_KEPT,
        HEADER_TIMEOUT.as_secs(),
        max_connections,
        shape.hold_at_most.as_secs_f64(),
    );
    let mut gateway = GatewayProcess::start(
        dir.path(),
        "sockets",
        &[
            "--header-timeout-secs".to_owned(),
            HEADER_TIMEOUT.as_secs().to_string(),
        ],
    )
    .await?;
    println!("gateway pid {} at {}", gateway.pid, gateway.base_url);
    let flood = socket_flood::run(&mut gateway, shape, max_connections)
        .await
        .context("the socket flood")?;
    gateway.stop().await?;
    socket_flood::print(&flood);

    println!(
        "\n3. MCP sessions: one user opens {}, after another user opened one",
        mcp_sessions::SESSIONS_BY_ONE_USER
    );
    let gateway = GatewayProcess::start(dir.path(), "sessions", &[]).await?;
    let sessions = mcp_sessions::run(&gateway).await;
    gateway.stop().await?;
    mcp_sessions::print(&sessions.context("the MCP session flood")?);

    println!("\nload average at the end: {}", load_average());
    Ok(())
}

/// The open-file limits of this process (inherited by the gateway).
struct Descriptors {
    soft_before: u64,
    soft: u64,
    /// `None`: unlimited.
    hard: Option<u64>,
}

impl Descriptors {
    fn hard_label(&self) -> String {
        self.hard
            .map_or_else(|| "unlimited".to_owned(), |hard| hard.to_string())
    }
}

/// Raises the soft limit on open files to the hard one, which needs no
/// privilege; the socket flood is sized to what results.
fn raise_descriptor_limit() -> Descriptors {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limits = getrlimit(Resource::Nofile);
    // An unlimited soft limit is as good as any number we would ask for.
    let soft_before = limits.current.unwrap_or(u64::MAX);
    let soft = match limits.maximum {
        Some(hard) if hard > soft_before => {
            let raised = Rlimit {
                current: Some(hard),
                maximum: Some(hard),
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => hard,
                Err(error) => {
                    eprintln!("could not raise the open-file limit to {hard}: {error}");
                    soft_before
                }
            }
        }
        _ => soft_before,
    };
    Descriptors {
        soft_before,
        soft,
        hard: limits.maximum,
    }
}

/// `/proc/loadavg`'s first three fields, for the note beside the figures.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}
