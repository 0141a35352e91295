//! `persona-bench`: the measurements of BENCHMARKS.md, one subcommand each.
//! Every one prints figures and ratios; `--quick` is the short version.
//!
//! ```sh
//! cargo run --release -p benches --bin persona-bench -- loop
//! cargo run --release -p benches --bin persona-bench -- persistence
//! cargo run --release -p benches --bin persona-bench -- actors
//! cargo run --release -p benches --bin persona-bench -- rate-limit
//! cargo run --release -p benches --bin persona-bench -- dispatch
//! cargo run --release -p benches --bin persona-bench -- gateway
//! cargo run --release -p benches --bin persona-bench -- abuse
//! ```
//!
//! `gateway` also needs node and npm: it installs its TypeScript peer with
//! `npm ci` the first time; `abuse` needs the release `persona` binary
//! (`cargo build --release -p runner --bin persona`).

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "persona-bench",
    about = "Benchmarks of the persona runner and its gateway"
)]
struct Cli {
    #[command(subcommand)]
    bench: Bench,
    /// The short version (seconds instead of minutes).
    #[arg(long, global = true)]
    quick: bool,
}

#[derive(Debug, Subcommand)]
enum Bench {
    /// The whole loop: personas x scripted LLM x in-process gateway, SQLite and PostgreSQL.
    Loop,
    /// Action rows/s at batch 1, 100 and 500 (SQLite; PostgreSQL with TEST_POSTGRES_URL).
    Persistence,
    /// Requests/min achieved and 429s against a fake LLM limited to 60/min.
    RateLimit,
    /// Memory of 1,000 and 10,000 idle persona actors; snapshot latency.
    Actors,
    /// The runtime's own cost per LLM request (rate slot) and per tool call (live events).
    Dispatch,
    /// MCP tools/call at 1, 10 and 50 clients: the gateway vs the TypeScript SDK and bare rmcp.
    Gateway,
    /// A real `persona gateway` under a login flood, a socket flood and one user's MCP sessions.
    Abuse,
    /// One server of the `gateway` benchmark, run by it as a child process.
    #[command(hide = true)]
    ServePeer {
        #[command(subcommand)]
        peer: benches::gateway_peers::serve::Peer,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.bench {
        Bench::Loop => benches::whole_loop::run(cli.quick).await,
        Bench::RateLimit => benches::rate_limit::run(cli.quick).await,
        Bench::Persistence => benches::persistence::run(cli.quick).await,
        Bench::Actors => benches::idle_actors::run(cli.quick).await,
        Bench::Dispatch => benches::dispatch::run(cli.quick).await,
        Bench::Gateway => benches::gateway_peers::run(cli.quick).await,
        Bench::Abuse => benches::abuse::run(cli.quick).await,
        Bench::ServePeer { peer } => benches::gateway_peers::serve::serve_peer(peer).await,
    }
}
