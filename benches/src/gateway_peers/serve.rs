//! The hidden `persona-bench serve-peer` subcommand: one server of the
//! comparison in a process of its own, so its CPU time can be read apart
//! from the clients'.
//!
//! Each binds `127.0.0.1:0`, prints `port <n>` on stdout once it accepts
//! connections, and serves until its stdin closes: the benchmark holds the
//! other end, so the server also goes when the benchmark dies.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use gateway::app::{AppState, serve};
use gateway::config::GatewayConfig;
use gateway::http::ConnectionLimits;
use gateway::store::Store;
use runner::config::Secrets;
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;

use super::bare_rmcp;
use super::workload::Workload;

/// The line a server prints once it listens, before the port number.
pub const PORT_LINE: &str = "port ";

#[derive(Debug, Subcommand)]
pub enum Peer {
    /// The real gateway over an already seeded SQLite file.
    Gateway {
        #[arg(long)]
        db: PathBuf,
    },
    /// A bare rmcp server answering the workload's tool with its fixed result.
    Rmcp {
        #[arg(long)]
        workload: PathBuf,
    },
}

pub async fn serve_peer(peer: Peer) -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    match peer {
        Peer::Gateway { db } => {
            let store = Store::open_sqlite_file(&db)
                .await
                .context("opening the store")?;
            let secrets = Secrets::from_env()?;
            let state = AppState::build(
                GatewayConfig {
                    service_key: secrets.service_key.clone(),
                    // Every call is the same user and tool: the default 30
                    // per minute would deny all but the first few.
                    policy_limit: u32::MAX,
                    ..GatewayConfig::default()
                },
                store,
                secrets.keyring,
            )
            .await?;
            announce(&listener).await?;
            serve(listener, state, stdin_closed()).await
        }
        Peer::Rmcp { workload } => {
            let router = bare_rmcp::router(Workload::read(&workload)?)?;
            announce(&listener).await?;
            // No graceful shutdown: open SSE streams would hold it up, and
            // nothing is left to save.
            tokio::select! {
                served = gateway::http::serve(listener, router, ConnectionLimits::default(), std::future::pending()) => served.context("serving HTTP"),
                () = stdin_closed() => Ok(()),
            }
        }
    }
}

async fn announce(listener: &TcpListener) -> anyhow::Result<()> {
    let port = listener.local_addr()?.port();
    let mut stdout = tokio::io::stdout();
    stdout
        .write_all(format!("{PORT_LINE}{port}\n").as_bytes())
        .await?;
    // IMPORTANT: stdout is a pipe here, and the benchmark waits for this line.
    stdout.flush().await?;
    Ok(())
}

/// Resolves when stdin reaches its end (or fails).
async fn stdin_closed() {
    let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut tokio::io::sink()).await;
}
