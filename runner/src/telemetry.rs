//! Logging and traces: building the subscriber is separate from installing
//! it, so tests and embedders can choose where logs go. `RUST_LOG` filters
//! the log lines (default info).
//!
//! Traces are opt-in: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the spans of
//! `actors::gen_ai` (the tick, each LLM request, each tool call) and the
//! built-in app's `tools/call` server spans are sent over OTLP/HTTP
//! (`OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`, the default, or
//! `http/json`; gRPC is not built in), as service `OTEL_SERVICE_NAME`
//! (default `persona-runner`). The exporter reads the other standard
//! `OTEL_EXPORTER_OTLP_*` variables itself (headers, timeout); spans are
//! batched and flushed when the process exits. They never reach the log
//! lines.

use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::{FilterFn, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

/// A subscriber writing human-readable lines to `sink`, filtered by
/// `RUST_LOG` (default [`DEFAULT_FILTER`]) and never carrying payloads
/// ([`without_payloads`]).
pub fn subscriber<W>(sink: W, ansi: bool) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    subscriber_with(sink, ansi, filter)
}

/// [`subscriber`] with an explicit filter instead of `RUST_LOG`.
pub fn subscriber_with<W>(
    sink: W,
    ansi: bool,
    filter: EnvFilter,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    subscriber_and_traces(sink, ansi, filter, None)
}

fn subscriber_and_traces<W>(
    sink: W,
    ansi: bool,
    filter: EnvFilter,
    traces: Option<&Traces>,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer as _;
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(sink)
        .with_target(false)
        .with_ansi(ansi)
        .with_filter(without_payloads())
        .with_filter(filter)
        // Spans for traces are not log lines, whatever RUST_LOG says.
        .with_filter(filter_fn(|metadata| {
            !TRACE_TARGETS.contains(&metadata.target())
        }));
    let spans = traces.map(|traces| {
        use opentelemetry::trace::TracerProvider as _;
        let targets = TRACE_TARGETS.iter().fold(
            tracing_subscriber::filter::Targets::new(),
            |targets, target| targets.with_target(*target, Level::INFO),
        );
        tracing_opentelemetry::layer()
            .with_tracer(traces.provider.tracer("persona-runner"))
            .with_filter(targets)
    });
    tracing_subscriber::registry().with(lines).with(spans)
}

/// The targets whose spans are traces: the runner's GenAI spans and the
/// built-in app's MCP server spans.
const TRACE_TARGETS: &[&str] = &[actors::gen_ai::TARGET, gateway::mcp::TRACE_TARGET];

/// Traces being sent; [`Traces::shutdown`] flushes what is batched.
pub struct Traces {
    provider: opentelemetry_sdk::trace::SdkTracerProvider,
}

impl Traces {
    /// Sends what is still batched, waiting for the exporter.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("warning: the last traces could not be sent: {error}");
        }
    }
}

/// Why traces could not be set up as the environment asks.
#[derive(Debug, thiserror::Error)]
pub enum TracesError {
    #[error(
        "OTEL_EXPORTER_OTLP_PROTOCOL={0:?} is not supported: traces go over OTLP/HTTP, \
         `http/protobuf` (the default) or `http/json`"
    )]
    Protocol(String),
    #[error("the OTLP trace exporter could not be built: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// The traces the environment asks for: `None` without
/// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`),
/// or with `OTEL_SDK_DISABLED=true`.
pub fn traces_from_env() -> Result<Option<Traces>, TracesError> {
    let set = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|value| !value.trim().is_empty())
    };
    let endpoint =
        set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| set("OTEL_EXPORTER_OTLP_ENDPOINT"));
    let disabled = set("OTEL_SDK_DISABLED").is_some_and(|value| value.eq_ignore_ascii_case("true"));
    if endpoint.is_none() || disabled {
        return Ok(None);
    }
    let protocol = match set("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| set("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .as_deref()
    {
        None | Some("http/protobuf") => opentelemetry_otlp::Protocol::HttpBinary,
        Some("http/json") => opentelemetry_otlp::Protocol::HttpJson,
        Some(other) => return Err(TracesError::Protocol(other.to_owned())),
    };
    use opentelemetry_otlp::WithExportConfig as _;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if set("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("persona-runner");
    }
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    Ok(Some(Traces { provider }))
}

/// The filter when `RUST_LOG` is unset. rmcp logs every session's lifecycle
/// at info; that is noise for operators.
pub const DEFAULT_FILTER: &str = "info,rmcp=warn";

/// Crates that log whole messages below info: rmcp logs every JSON-RPC
/// request and result at debug (`?request`, `?result`) and trace
/// (`?message`), which carries decrypted tool arguments and answers — user
/// content.
const PAYLOAD_TARGETS: &[&str] = &["rmcp"];

/// Drops events and spans below info from [`PAYLOAD_TARGETS`] whatever
/// `RUST_LOG` asks for, so no level turns user content into log lines.
pub fn without_payloads() -> FilterFn<fn(&Metadata<'_>) -> bool> {
    filter_fn(carries_no_payload)
}

fn carries_no_payload(metadata: &Metadata<'_>) -> bool {
    *metadata.level() <= Level::INFO
        || !PAYLOAD_TARGETS.iter().any(|target| {
            metadata
                .target()
                .strip_prefix(target)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
        })
}

/// Installs the subscriber for this process, sending traces when the
/// environment asks for them (keep the answer and shut it down at exit); a
/// second call installs nothing.
pub fn init() -> Result<Option<Traces>, TracesError> {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let traces = traces_from_env()?;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing::subscriber::set_global_default(subscriber_and_traces(
        BelowProgress,
        ansi,
        filter,
        traces.as_ref(),
    ));
    Ok(traces)
}

/// Live progress lines on the terminal, once a command draws them; log lines
/// are then written above them instead of through them.
static LIVE_PROGRESS: std::sync::OnceLock<indicatif::MultiProgress> = std::sync::OnceLock::new();

/// Tells the log writer about the live progress lines `bars` draws (the
/// first call wins; a process draws one set).
pub fn draw_logs_above(bars: &indicatif::MultiProgress) {
    let _ = LIVE_PROGRESS.set(bars.clone());
}

/// Standard error, or the space above the live progress lines while there
/// are some: a log line written straight to the terminal would leave the
/// redrawn lines behind it as copies.
struct BelowProgress;

/// One log line, written when it is complete.
struct LogLine(Vec<u8>);

impl std::io::Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let line = std::mem::take(&mut self.0);
        let write = || {
            let _ = std::io::Write::write_all(&mut std::io::stderr(), &line);
        };
        match LIVE_PROGRESS.get() {
            Some(bars) => bars.suspend(write),
            None => write(),
        }
    }
}

impl<'a> MakeWriter<'a> for BelowProgress {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log lines written into memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    #[test]
    fn no_level_logs_rmcps_payloads() {
        let captured = Captured::default();
        let subscriber = subscriber_with(captured.clone(), false, EnvFilter::new("trace"));
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "rmcp::service", request = "Tagebuch: GEHEIM", "received request");
            tracing::trace!(target: "rmcp::transport::streamable_http_server::tower", message = "GEHEIM");
            tracing::warn!(target: "rmcp::service", "a session failed");
            tracing::debug!(target: "rmcpx", "another crate's debug line");
            tracing::debug!("our own debug line");
        });
        let logged = String::from_utf8_lossy(
            &captured
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
        .into_owned();
        assert!(!logged.contains("GEHEIM"), "{logged}");
        for kept in [
            "a session failed",
            "another crate's debug line",
            "our own debug line",
        ] {
            assert!(logged.contains(kept), "{kept:?} missing in {logged}");
        }
    }
}
