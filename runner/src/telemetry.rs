//! Logging: building the subscriber is separate from installing it, so tests
//! and embedders can choose where logs go. `RUST_LOG` filters (default info).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// A subscriber writing human-readable lines to `sink`.
pub fn subscriber<W>(sink: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(sink)
        .with_target(false)
        .finish()
}

/// Installs the subscriber for this process; a second call does nothing.
pub fn init() {
    let _ = tracing::subscriber::set_global_default(subscriber(std::io::stderr));
}
