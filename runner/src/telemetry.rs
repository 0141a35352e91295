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
    let _ = tracing::subscriber::set_global_default(subscriber(BelowProgress, ansi));
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
