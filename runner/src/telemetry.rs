//! Logging: building the subscriber is separate from installing it, so tests
//! and embedders can choose where logs go. `RUST_LOG` filters (default info).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// A subscriber writing human-readable lines to `sink`.
pub fn subscriber<W>(sink: W, ansi: bool) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    // rmcp logs every session's lifecycle at info; that is noise for operators.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sink)
        .with_target(false)
        .with_ansi(ansi)
        .finish()
}

/// The filter when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info,rmcp=warn";

/// Installs the subscriber for this process; a second call does nothing.
pub fn init() {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing::subscriber::set_global_default(subscriber(std::io::stderr, ansi));
}
