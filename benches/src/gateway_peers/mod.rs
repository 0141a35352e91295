//! The gateway alone: MCP `tools/call` throughput and p50/p99 at 1, 10 and
//! 50 concurrent clients over loopback, against the same workload on the
//! official TypeScript MCP SDK's server and on a bare rmcp server, reported
//! as ratios (issue 7 (b)).
//!
//! Each server runs in a process of its own, one after the other, so its CPU
//! time per call can be read from `/proc`; the clients are rmcp clients in
//! this process, one MCP session each.
//!
//! - `workload`: the one tool call, seeded and captured from the gateway;
//! - `processes`: starting and stopping the server processes;
//! - `serve`: the hidden `serve-peer` subcommand those processes run;
//! - `bare_rmcp`: the bare rmcp server;
//! - `load`: the concurrent clients and what they measure;
//! - `report`: the table and the ratios.

mod bare_rmcp;
mod load;
mod processes;
mod report;
pub mod serve;
mod workload;

use std::time::Duration;

use anyhow::{Context as _, bail};

use load::{Target, Timing};
use processes::ServerProcess;
use report::ServerCells;
use workload::Workload;

/// Concurrent clients, one cell each.
const CLIENT_COUNTS: [usize; 3] = [1, 10, 50];

/// `quick`: 3 s per cell instead of 10.
pub async fn run(quick: bool) -> anyhow::Result<()> {
    let timing = if quick {
        Timing {
            warm_up: Duration::from_millis(300),
            window: Duration::from_secs(3),
        }
    } else {
        Timing {
            warm_up: Duration::from_secs(1),
            window: Duration::from_secs(10),
        }
    };
    // Before anything is timed: npm ci takes seconds.
    processes::ensure_npm_packages().await?;
    let dir = tempfile::tempdir()?;
    let db = dir.path().join("gateway.db");
    let workload_path = dir.path().join("workload.json");

    let persona = workload::seed_persona(&db).await?;
    let gateway = ServerProcess::gateway(&db).await?;
    let target = workload::log_in(&gateway.base_url, &persona).await?;
    let workload = workload::capture(&target).await?;
    workload.write(&workload_path)?;

    println!(
        "gateway MCP tools/call: {} {} over 10 tasks, {:.0} s per cell after {:.1} s warm-up, one MCP session per client",
        workload.tool_name,
        serde_json::Value::Object(workload.arguments.clone()),
        timing.window.as_secs_f64(),
        timing.warm_up.as_secs_f64(),
    );
    println!(
        "caveats: the rmcp clients share the 2 cores with the server under test; the gateway computes \
         each answer (JWT, space, policy, validation, SQLite read, decryption), the peers return it fixed"
    );

    let mut all = Vec::new();
    all.push(measure_server(&gateway, &target, &workload, timing).await?);
    gateway.stop().await?;
    let typescript = ServerProcess::typescript(&workload_path).await?;
    all.push(measure_server(&typescript, &target, &workload, timing).await?);
    typescript.stop().await?;
    let bare = ServerProcess::bare_rmcp(&workload_path).await?;
    all.push(measure_server(&bare, &target, &workload, timing).await?);
    bare.stop().await?;

    report::print_table_header();
    for index in 0..CLIENT_COUNTS.len() {
        for server in &all {
            if let Some(cell) = server.cells.get(index) {
                report::print_row(server.server, cell);
            }
        }
    }
    report::print_ratios(&all);
    Ok(())
}

/// Checks that `server` gives the workload's answer, then measures it at
/// every client count.
async fn measure_server(
    server: &ServerProcess,
    gateway_target: &Target,
    workload: &Workload,
    timing: Timing,
) -> anyhow::Result<ServerCells> {
    let name = server.name;
    // The gateway's token and space go to every server: the same request
    // bytes everywhere, ignored by the peers.
    let target = Target {
        mcp_url: format!("{}/mcp", server.base_url),
        ..gateway_target.clone()
    };
    let client = load::connect(&target).await?;
    let answer = load::call_once(&client, &workload.tool_name, &workload.arguments)
        .await
        .with_context(|| format!("the first call to {name}"))?;
    if let Err(error) = client.cancel().await {
        tracing::debug!(%error, "closing the checking session failed");
    }
    if answer != workload.result {
        bail!(
            "{name} answered differently from the gateway:\n{answer}\nexpected:\n{}",
            workload.result
        );
    }
    let mut cells = Vec::with_capacity(CLIENT_COUNTS.len());
    for clients in CLIENT_COUNTS {
        cells.push(
            load::measure(
                &target,
                &workload.tool_name,
                &workload.arguments,
                clients,
                timing,
                server.pid,
            )
            .await
            .with_context(|| format!("{name} at {clients} clients"))?,
        );
    }
    Ok(ServerCells {
        server: name,
        cells,
    })
}
