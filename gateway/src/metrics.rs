//! The Prometheus recorder. `metrics` has one global recorder per process,
//! so it is installed once and every gateway in the process (tests start
//! several) shares it.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's Prometheus handle, installing the recorder on first use.
pub fn prometheus() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (an embedding
            // program's); then this handle simply renders nothing of ours.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Tool call latency, by tool and outcome (`ok`, `error`, `denied`).
pub const TOOL_CALL_SECONDS: &str = "gateway_tool_call_seconds";
/// Logins by outcome.
pub const LOGINS_TOTAL: &str = "gateway_logins_total";
