//! What the gateway needs to start. The `persona` binary fills it from the
//! environment and flags; tests fill it directly.

use std::fmt;
use std::time::Duration;

use registry::policy::PolicyMode;

use crate::http::ConnectionLimits;

#[derive(Clone)]
pub struct GatewayConfig {
    /// The shared secret of the internal personas API (`X-Service-Key`).
    pub service_key: String,
    /// How long a login token is valid.
    pub token_ttl: Duration,
    /// Hosts the MCP endpoint answers for (DNS-rebinding protection).
    pub allowed_hosts: Vec<String>,
    /// Browser origins allowed to call the MCP endpoint; empty means only
    /// requests without an `Origin` header (non-browser clients).
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Connections served at once and how long a silent client is waited for.
    pub connections: ConnectionLimits,
    /// An MCP session idle this long is closed.
    pub mcp_session_idle: Duration,
    /// At most this many MCP sessions live at once; past it a new session is
    /// refused (503), never another user's closed.
    pub mcp_max_sessions: usize,
    /// At most this many MCP sessions per user; a user opening one more
    /// loses its own least recently used one.
    pub mcp_max_sessions_per_user: usize,
    pub policy_mode: PolicyMode,
    /// Calls per user and tool within `policy_window`.
    pub policy_limit: u32,
    pub policy_window: Duration,
    /// The admin account ensured at start: (email, password).
    pub admin: Option<(String, String)>,
    /// Argon2 hashes (19 MiB each) the login and register routes run at
    /// once; one per core by default.
    pub password_hashes_at_once: usize,
    /// Hashes that may wait for a turn beyond those; a login or register
    /// past them is answered 503 with `retry-after`.
    pub password_hashes_waiting: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            service_key: String::new(),
            token_ttl: Duration::from_secs(3600),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: Vec::new(),
            max_body_bytes: 4 * 1024 * 1024,
            connections: ConnectionLimits::default(),
            mcp_session_idle: Duration::from_secs(600),
            mcp_max_sessions: 1000,
            mcp_max_sessions_per_user: 16,
            policy_mode: PolicyMode::Enforce,
            policy_limit: registry::policy::PolicyGate::DEFAULT_LIMIT,
            policy_window: registry::policy::PolicyGate::DEFAULT_WINDOW,
            admin: None,
            password_hashes_at_once: cores(),
            password_hashes_waiting: cores() * crate::password::PasswordWork::WAITING_PER_RUNNING,
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("service_key", &"<redacted>")
            .field("token_ttl", &self.token_ttl)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("allowed_origins", &self.allowed_origins)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("mcp_session_idle", &self.mcp_session_idle)
            .field("connections", &self.connections)
            .field("mcp_max_sessions", &self.mcp_max_sessions)
            .field("mcp_max_sessions_per_user", &self.mcp_max_sessions_per_user)
            .field("policy_mode", &self.policy_mode)
            .field("admin", &self.admin.as_ref().map(|(email, _)| email))
            .field("password_hashes_at_once", &self.password_hashes_at_once)
            .field("password_hashes_waiting", &self.password_hashes_waiting)
            .finish()
    }
}
