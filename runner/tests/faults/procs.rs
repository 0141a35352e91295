//! The gateway and the runner as real `persona` processes, which the suite
//! kills (SIGKILL), stops (SIGTERM) and starts again.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Environment both processes share; everything else the developer's shell
/// may have set for `persona` is removed.
fn command(args: &[&str], envs: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_persona"));
    command.args(args);
    for name in [
        "PERSONA_ENV",
        "PERSONA_SEED_SECRET",
        "MANA_SERVICE_KEY",
        "MANA_KEK",
        "MANA_ADMIN_PASSWORD",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "PERSONA_LLM",
        "RUNNER_PAUSED",
        "RUNNER_ADMIN_TOKEN",
        "DATABASE_URL",
        "MANA_API_URL",
        "PERSONA_CONFIG",
    ] {
        command.env_remove(name);
    }
    command.env("RUST_LOG", "warn");
    for (name, value) in envs {
        command.env(name, value);
    }
    command
}

pub struct Process {
    child: Child,
    name: &'static str,
}

impl Process {
    /// Starts `persona args…` and waits for a stdout line starting with
    /// `ready`; returns the process and the rest of that line.
    pub fn start(
        name: &'static str,
        args: &[&str],
        envs: &[(&str, String)],
        ready: &str,
    ) -> (Process, String) {
        // Its log goes to a file, quoted when it fails to start.
        let log_path = std::env::temp_dir().join(format!(
            "persona-faults-{name}-{}.log",
            uuid::Uuid::new_v4().simple()
        ));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child = command(args, envs)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let line = receiver
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok();
            let Some(line) = line else {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("{name} did not print {ready:?} within 60 s; its log:\n{log}")
            };
            if let Some(rest) = line.strip_prefix(ready) {
                return (Process { child, name }, rest.trim().to_owned());
            }
        }
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit (SIGKILL after `limit`).
    pub fn terminate(mut self, limit: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                eprintln!("{} ignored SIGTERM for {limit:?}; killing it", self.name);
                let _ = self.child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `persona args…` to completion; panics with its output on failure.
pub fn run(args: &[&str], envs: &[(&str, String)]) {
    let output = command(args, envs).output().unwrap();
    assert!(
        output.status.success(),
        "persona {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
