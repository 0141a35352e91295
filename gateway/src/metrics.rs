//! The Prometheus recorder. `metrics` has one global recorder per process,
//! so it is installed once and every gateway in the process (tests start
//! several) shares it; so does the runner, whose metrics `actors::metrics`
//! describes.
//!
//! Every histogram is a Prometheus histogram with chosen buckets (never a
//! summary: quantiles cannot be added up across replicas), so
//! `histogram_quantile` works over any number of processes.

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Tool call latency, by tool and outcome (`ok`, `error`, `denied`).
pub const TOOL_CALL_SECONDS: &str = "gateway_tool_call_seconds";
/// Logins by outcome.
pub const LOGINS_TOTAL: &str = "gateway_logins_total";
/// Connections closed to make room at the connection limit.
pub const CONNECTIONS_SHED_TOTAL: &str = "gateway_connections_shed_total";

/// Buckets of a call's latency (a tool call on either side): 1 ms to 30 s.
pub const CALL_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets of an LLM request (`llm_*` histograms): 50 ms to 5 min.
pub const LLM_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
/// Buckets of a whole tick (`*tick_duration_seconds`): 100 ms to 20 min.
pub const TICK_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0, 600.0, 1200.0,
];

/// The process's Prometheus handle, installing the recorder on first use.
pub fn prometheus() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = builder()
                .unwrap_or_else(|error| {
                    // Only empty bucket lists fail, and these are constants.
                    tracing::error!(%error, "the histogram buckets were refused; using summaries");
                    PrometheusBuilder::new()
                })
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding
            // program's); then this handle simply renders nothing of ours.
            if metrics::set_global_recorder(recorder).is_ok() {
                describe();
            }
            handle
        })
        .clone()
}

fn builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new()
        .set_buckets(&CALL_BUCKETS)?
        .set_buckets_for_metric(Matcher::Prefix("llm_".into()), &LLM_BUCKETS)?
        .set_buckets_for_metric(
            Matcher::Suffix("tick_duration_seconds".into()),
            &TICK_BUCKETS,
        )
}

/// The gateway's metrics: HELP text, and the known series at zero.
fn describe() {
    describe_histogram!(
        TOOL_CALL_SECONDS,
        Unit::Seconds,
        "A tool call's latency in the gateway, by tool and outcome (ok, error, denied)"
    );
    describe_counter!(LOGINS_TOTAL, "Logins by outcome (ok, refused, throttled)");
    describe_counter!(
        CONNECTIONS_SHED_TOTAL,
        "Idle connections closed to make room at the connection limit"
    );
    describe_gauge!(
        crate::mcp::SESSIONS_GAUGE,
        "Open MCP sessions (2025-11-25 clients; stateless 2026-07-28 requests hold none)"
    );
    for outcome in ["ok", "refused", "throttled"] {
        metrics::counter!(LOGINS_TOTAL, "outcome" => outcome).increment(0);
    }
    metrics::counter!(CONNECTIONS_SHED_TOTAL).increment(0);
    metrics::gauge!(crate::mcp::SESSIONS_GAUGE).set(0.0);
}
