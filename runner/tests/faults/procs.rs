//! The gateway and the runner as real `persona` processes, which the suite
//! kills (SIGKILL), stops (SIGTERM) and starts again. Built on the shared
//! helpers, so they run with the one scrubbed environment of the api suite.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::helpers::{self, READY_LIMIT, exit_status, persona_command, run_ok, send_signal};

/// `persona args…` in `dir` with `envs` and a quiet log.
fn command(dir: &Path, args: &[&str], envs: &[(&str, String)]) -> Command {
    let mut command = persona_command(dir);
    command.args(args).env("RUST_LOG", "warn");
    for (name, value) in envs {
        command.env(name, value);
    }
    command
}

/// A named `persona` process, killed when dropped.
pub struct Process {
    inner: helpers::Process,
    name: &'static str,
}

impl Process {
    /// Starts `persona args…` in `dir` and waits for a stdout line starting
    /// with `ready`; returns the process and the rest of that line. Its log
    /// goes to a file, quoted when it fails to start.
    pub fn start(
        name: &'static str,
        dir: &Path,
        args: &[&str],
        envs: &[(&str, String)],
        ready: &str,
    ) -> (Process, String) {
        let log_path = std::env::temp_dir().join(format!(
            "persona-faults-{name}-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let log = std::fs::File::create(&log_path).unwrap();
        let started = helpers::Process::start(command(dir, args, envs).stderr(log), ready);
        let Some((inner, rest)) = started else {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("{name} did not print {ready:?} within {READY_LIMIT:?}; its log:\n{log}")
        };
        (Process { inner, name }, rest)
    }

    /// SIGKILL, and reaped.
    pub fn kill(self) {
        drop(self);
    }

    /// SIGTERM, then waits up to `limit` for the exit; returns the exit code.
    pub async fn terminate(mut self, limit: Duration) -> Option<i32> {
        send_signal(self.inner.id(), "TERM");
        let what = format!("{} to exit after SIGTERM", self.name);
        exit_status(&mut self.inner.child, limit, &what)
            .await
            .code()
    }
}

/// Runs `persona args…` in `dir` to completion; panics with its output on
/// failure.
pub fn run(dir: &Path, args: &[&str], envs: &[(&str, String)]) {
    run_ok(&mut command(dir, args, envs));
}
