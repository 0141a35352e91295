//! A private PostgreSQL instance for the fault suite: its own data
//! directory and port, started and stopped by the suite, so restarting it
//! never disturbs a shared server. Needs the server binaries (Debian's
//! `postgresql` package); as root it runs them as the `postgres` user.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use sqlx::Connection as _;

pub struct PrivatePostgres {
    bin: PathBuf,
    data: tempfile::TempDir,
    pub port: u16,
    as_postgres: bool,
}

/// Where Debian keeps the newest server's binaries, if any.
fn server_binaries() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

impl PrivatePostgres {
    /// Initialises and starts an instance; `None` when no server binaries
    /// are installed.
    pub fn start() -> Option<PrivatePostgres> {
        let bin = server_binaries()?;
        let data = tempfile::Builder::new()
            .prefix("persona-faults-pg")
            .tempdir()
            .unwrap();
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(data.path())
                .status()
                .unwrap();
            assert!(status.success(), "chown of the private cluster's directory");
        }
        let port = free_port();
        let instance = PrivatePostgres {
            bin,
            data,
            port,
            as_postgres,
        };
        let pgdata = instance.pgdata();
        instance.run(
            "initdb",
            &["-D", &pgdata, "-U", "postgres", "--auth=trust", "--no-sync"],
        );
        instance.pg_ctl_start();
        Some(instance)
    }

    fn pgdata(&self) -> String {
        self.data.path().join("data").display().to_string()
    }

    /// One of the server's tools, run as `postgres` when the suite is root
    /// (the server refuses to run as root).
    fn tool(&self, tool: &str, args: &[&str]) -> Command {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(program);
            runuser
        } else {
            Command::new(program)
        };
        command.args(args);
        command
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let output = self.tool(tool, args).output().unwrap();
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn pg_ctl_start(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.data.path().display()
        );
        let log = self.data.path().join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.pgdata(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "start",
            ],
        );
    }

    /// The superuser's URL on loopback.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs one statement as the superuser (creating and dropping the
    /// scenarios' databases).
    pub async fn execute(&self, statement: String) {
        let mut admin = sqlx::PgConnection::connect(&self.url()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut admin)
            .await
            .unwrap();
    }

    /// Creates a fresh database named `prefix_<uuid>`; returns its name and
    /// URL.
    pub async fn create_database(&self, prefix: &str) -> (String, String) {
        let database = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
        self.execute(format!("CREATE DATABASE \"{database}\""))
            .await;
        let url = format!("postgres://postgres@127.0.0.1:{}/{database}", self.port);
        (database, url)
    }

    /// Drops a database `create_database` made, whoever is connected.
    pub async fn drop_database(&self, database: &str) {
        self.execute(format!(
            "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
        ))
        .await;
    }

    /// Stops the server as a crash would (`immediate`: no checkpoint, so
    /// the restart replays the WAL), waits `down`, and starts it again.
    pub fn crash_and_restart(&self, down: Duration) {
        self.run(
            "pg_ctl",
            &["-D", &self.pgdata(), "-m", "immediate", "-w", "stop"],
        );
        std::thread::sleep(down);
        self.pg_ctl_start();
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let pgdata = self.pgdata();
        let _ = self
            .tool("pg_ctl", &["-D", &pgdata, "-m", "immediate", "stop"])
            .output();
    }
}

/// A loopback port nothing listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
