//! `persona gateway`: the app under test alone.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use gateway::app::{AppState, serve};
use gateway::config::GatewayConfig;
use gateway::http::ConnectionLimits;
use gateway::store::{Schema, Store, StoreError, redact_url};
use registry::policy::PolicyMode;
use tokio::net::TcpListener;

use crate::config::{DEFAULT_GATEWAY_ADDR, Secrets};

/// Run the app under test: auth, the MCP endpoint and the personas API.
///
/// Migrates the database and ensures the admin account (MANA_ADMIN_EMAIL,
/// default admin@mana.test; MANA_ADMIN_PASSWORD, which in development
/// defaults to the password derived from PERSONA_SEED_SECRET). Prints
/// `gateway listening on http://ADDR` once it accepts connections. Exit codes:
/// 0 after SIGTERM/SIGINT, 2 when it cannot start.
#[derive(Debug, clap::Args)]
pub struct Gateway {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "GATEWAY_ADDR", default_value = DEFAULT_GATEWAY_ADDR)]
    pub addr: SocketAddr,
    /// Browser origins allowed to call /mcp, comma-separated (e.g. https://app.example.com:443).
    #[arg(long, env = "MANA_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Host names /mcp answers for besides localhost (DNS-rebinding protection).
    #[arg(long, env = "MANA_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,
    /// Policy gate mode for tool calls.
    #[arg(long, env = "MANA_POLICY_MODE", default_value = "enforce", value_parser = parse_policy_mode)]
    pub policy_mode: PolicyMode,
    /// Connections served at once; more wait in the listen backlog until one
    /// closes (default 2048, well under the usual 20,000 descriptors).
    #[arg(long, env = "GATEWAY_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
    /// Seconds a client has to send a request head, on a new connection and
    /// between requests on a kept-alive one; then it is closed (default 30).
    #[arg(long, env = "GATEWAY_HEADER_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: Option<u64>,
}

/// Where the data lives.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// sqlite://FILE or postgres://USER@HOST/DB; default: persona.db in the
    /// working directory (with a target file: a file beside it, holding the
    /// runner's own schema).
    #[arg(long = "db", env = "DATABASE_URL")]
    pub url: Option<String>,
}

/// The database when none is named.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://persona.db";

impl DatabaseArgs {
    /// The app's schema, in the named database or the default one.
    pub async fn open(&self) -> anyhow::Result<Store> {
        open_schema(
            self.url.as_deref().unwrap_or(DEFAULT_DATABASE_URL),
            Schema::App,
        )
        .await
    }

    /// The runner's own schema for the target file at `target`, in the
    /// named database or a SQLite file beside the target
    /// (`{target stem}.persona.db`).
    pub async fn open_for_target(&self, target: &std::path::Path) -> anyhow::Result<Store> {
        let url = match &self.url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}", beside(target).display()),
        };
        open_schema(&url, Schema::Runner).await
    }

    /// Whichever schema the named database holds (for reading it).
    pub async fn open_existing(&self) -> anyhow::Result<Store> {
        let url = self.url.as_deref().unwrap_or(DEFAULT_DATABASE_URL);
        match Store::connect(url).await {
            Err(StoreError::WrongSchema { holds, .. }) => open_schema(url, holds).await,
            opened => opened.with_context(|| format!("opening the database {}", redact_url(url))),
        }
    }
}

/// The runner's database file beside a target file.
pub fn beside(target: &std::path::Path) -> std::path::PathBuf {
    let stem = target
        .file_stem()
        .map_or_else(|| "target".into(), |stem| stem.to_string_lossy());
    target.with_file_name(format!("{stem}.persona.db"))
}

async fn open_schema(url: &str, schema: Schema) -> anyhow::Result<Store> {
    Store::connect_schema(url, schema)
        .await
        .with_context(|| format!("opening the database {}", redact_url(url)))
}

fn parse_policy_mode(text: &str) -> Result<PolicyMode, registry::policy::UnknownPolicyMode> {
    text.parse()
}

impl Gateway {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let secrets = Secrets::from_env()?;
        let store = self.database.open().await?;
        let connections = self.connection_limits();
        let mut config = GatewayConfig {
            service_key: secrets.service_key.clone(),
            allowed_origins: self.allowed_origins,
            policy_mode: self.policy_mode,
            admin: Some((secrets.admin_email.clone(), secrets.admin_password.clone())),
            connections,
            ..GatewayConfig::default()
        };
        config.allowed_hosts.extend(self.allowed_hosts);
        let state = AppState::build(config, store, secrets.keyring).await?;
        let listener = TcpListener::bind(self.addr)
            .await
            .with_context(|| format!("binding {}", self.addr))?;
        let local = listener.local_addr()?;
        tracing::info!(database = %redact_url(self.database.url.as_deref().unwrap_or(DEFAULT_DATABASE_URL)), production = secrets.production, "gateway ready");
        println!("gateway listening on http://{local}");
        serve(listener, state, crate::shutdown::signal()).await?;
        Ok(ExitCode::SUCCESS)
    }

    /// The default limits with the flags' values in place of theirs.
    fn connection_limits(&self) -> ConnectionLimits {
        let mut limits = ConnectionLimits::default();
        if let Some(max_connections) = self.max_connections {
            // A u32 always fits a usize on the targets we build for.
            limits.max_connections = usize::try_from(max_connections).unwrap_or(usize::MAX);
        }
        if let Some(seconds) = self.header_timeout_secs {
            limits.header_read_timeout = Duration::from_secs(seconds);
        }
        limits
    }
}
