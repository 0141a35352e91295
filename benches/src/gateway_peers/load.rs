//! The load: N concurrent rmcp clients, each its own MCP session over
//! Streamable HTTP, calling `tools/call` back to back for a fixed time.
//!
//! Sessions open before the clock starts; a warm-up follows (calls made but
//! not counted, so the first cell of a JIT-compiled server is not measured
//! cold); then every call started inside the window is timed. The server's
//! CPU time is read from `/proc` at the window's start and after the last
//! call has returned.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use catalog::SPACE_HEADER;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Map, Value};
use tokio::task::JoinSet;

use crate::measure::{Latencies, cpu_time_of};

/// rmcp has no per-request timeout; a server that stops answering fails
/// the benchmark after this instead of hanging it.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub type Client = RunningService<RoleClient, ClientConfig>;

/// Where the clients connect, and as whom.
#[derive(Debug, Clone)]
pub struct Target {
    pub mcp_url: String,
    pub token: String,
    pub space_id: String,
}

/// One cell of the table: one server at one client count.
#[derive(Debug)]
pub struct Cell {
    pub clients: usize,
    pub calls: usize,
    pub errors: usize,
    pub window: Duration,
    pub latencies: Latencies,
    pub server_cpu: Duration,
}

impl Cell {
    pub fn calls_per_second(&self) -> f64 {
        self.calls as f64 / self.window.as_secs_f64().max(1e-9)
    }

    /// Server CPU microseconds per successful call.
    pub fn cpu_micros_per_call(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.calls.max(1) as f64
    }
}

/// How long a cell runs.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub warm_up: Duration,
    pub window: Duration,
}

/// Opens one MCP session (initialize) as the target's user.
pub async fn connect(target: &Target) -> anyhow::Result<Client> {
    let mut headers = HashMap::new();
    // The peers ignore the space header, but every server gets the same
    // request bytes.
    headers.insert(
        http::HeaderName::from_static(SPACE_HEADER),
        http::HeaderValue::from_str(&target.space_id).context("the space id as a header")?,
    );
    let config = StreamableHttpClientTransportConfig::with_uri(target.mcp_url.clone())
        .auth_header(target.token.clone())
        .custom_headers(headers);
    let info = ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("persona-bench", env!("CARGO_PKG_VERSION")),
    );
    tokio::time::timeout(
        CALL_TIMEOUT,
        info.serve(StreamableHttpClientTransport::from_config(config)),
    )
    .await
    .with_context(|| format!("initialize at {} timed out", target.mcp_url))?
    .with_context(|| format!("initialize at {}", target.mcp_url))
}

/// One call of the workload; the result as JSON, or why it failed.
pub async fn call_once(
    client: &Client,
    tool: &str,
    arguments: &Map<String, Value>,
) -> anyhow::Result<Value> {
    let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments.clone());
    let result = tokio::time::timeout(CALL_TIMEOUT, client.call_tool(params))
        .await
        .context("tools/call timed out")??;
    Ok(serde_json::to_value(result)?)
}

/// `clients` sessions calling `tool` for `timing`; `server_pid` is the
/// process whose CPU time is charged to the calls.
pub async fn measure(
    target: &Target,
    tool: &str,
    arguments: &Map<String, Value>,
    clients: usize,
    timing: Timing,
    server_pid: u32,
) -> anyhow::Result<Cell> {
    let mut opening = JoinSet::new();
    for _ in 0..clients {
        let target = target.clone();
        opening.spawn(async move { connect(&target).await });
    }
    let mut sessions = Vec::with_capacity(clients);
    while let Some(opened) = opening.join_next().await {
        sessions.push(opened.context("a client task failed")??);
    }

    let window_start = Instant::now() + timing.warm_up;
    let window_end = window_start + timing.window;
    let mut running = JoinSet::new();
    for client in sessions {
        let tool = tool.to_owned();
        let arguments = arguments.clone();
        running.spawn(async move {
            let outcome = call_until(&client, &tool, &arguments, window_start, window_end).await;
            (client, outcome)
        });
    }
    tokio::time::sleep_until(window_start.into()).await;
    let cpu_before = cpu_time_of(server_pid);
    let mut samples = Vec::new();
    let mut errors = 0;
    let mut finished = Vec::with_capacity(clients);
    while let Some(joined) = running.join_next().await {
        let (client, outcome) = joined.context("a client task failed")?;
        samples.extend(outcome.latencies);
        errors += outcome.errors;
        finished.push(client);
    }
    let server_cpu = cpu_time_of(server_pid).saturating_sub(cpu_before);
    // Closing the sessions (DELETE) is after the CPU reading: it is not a call.
    for client in finished {
        if let Err(error) = client.cancel().await {
            tracing::debug!(%error, "closing a benchmark session failed");
        }
    }
    Ok(Cell {
        clients,
        calls: samples.len(),
        errors,
        window: timing.window,
        latencies: Latencies::new(samples),
        server_cpu,
    })
}

struct Outcome {
    latencies: Vec<Duration>,
    errors: usize,
}

/// Calls back to back until `window_end`; times the calls started at or
/// after `window_start`. A failed call (transport error, timeout or an
/// `isError` result) is counted, not timed.
async fn call_until(
    client: &Client,
    tool: &str,
    arguments: &Map<String, Value>,
    window_start: Instant,
    window_end: Instant,
) -> Outcome {
    let mut outcome = Outcome {
        latencies: Vec::new(),
        errors: 0,
    };
    loop {
        let started = Instant::now();
        if started >= window_end {
            return outcome;
        }
        let params = CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments.clone());
        let answer = tokio::time::timeout(CALL_TIMEOUT, client.call_tool(params)).await;
        if started < window_start {
            continue;
        }
        match answer {
            Ok(Ok(result)) if result.is_error != Some(true) => {
                outcome.latencies.push(started.elapsed());
            }
            _ => outcome.errors += 1,
        }
    }
}
