//! The gateway as a value: `App::build` wires the store, keys, registry and
//! vault from a config; `serve` runs the router on a listener until the
//! shutdown future resolves.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusHandle;
use registry::Registry;
use registry::crypto::{KeyCache, Keyring};
use registry::policy::PolicyGate;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::JwtKeys;
use crate::auth::live_users::LiveUsers;
use crate::auth::throttle::LoginThrottle;
use crate::config::GatewayConfig;
use crate::mcp::SessionBindings;
use crate::password::PasswordWork;
use crate::store::Store;
use crate::vault::Vault;

/// Everything a request handler may reach.
pub struct AppState {
    pub config: GatewayConfig,
    pub store: Store,
    pub keyring: Arc<Keyring>,
    pub jwt: JwtKeys,
    pub registry: Arc<Registry>,
    pub vault: Arc<Vault>,
    pub sessions: Arc<SessionBindings>,
    pub metrics: PrometheusHandle,
    /// Verified against when a login names an unknown email, so that case
    /// costs the same as a wrong password.
    pub dummy_password_hash: String,
    /// The bound on argon2 work the routes start (`config.password_hashes_*`).
    pub passwords: PasswordWork,
    /// Failed logins per account and per client address.
    pub login_throttle: LoginThrottle,
    /// Which token users are known to still exist.
    pub live_users: LiveUsers,
}

impl AppState {
    pub async fn build(
        config: GatewayConfig,
        store: Store,
        keyring: Keyring,
    ) -> anyhow::Result<Arc<AppState>> {
        let keyring = Arc::new(keyring);
        let jwt = JwtKeys::load_or_create(&store, &keyring, config.token_ttl)
            .await
            .context("loading the JWT signing key")?;
        let gate = PolicyGate::new(
            config.policy_mode,
            config.policy_limit,
            config.policy_window,
        );
        let registry =
            Arc::new(Registry::with_app_tools(gate).context("building the tool registry")?);
        let vault = Arc::new(Vault::new(
            store.clone(),
            keyring.clone(),
            KeyCache::default(),
        ));
        if let Some((email, password)) = &config.admin {
            crate::accounts::ensure_admin(&store, &keyring, email, password)
                .await
                .with_context(|| format!("ensuring the admin account {email}"))?;
        }
        let dummy_password_hash = crate::password::hash_password("not a real password".into())
            .await
            .context("hashing the dummy password")?;
        Ok(Arc::new(AppState {
            sessions: Arc::new(SessionBindings::new(&config)),
            passwords: PasswordWork::new(
                config.password_hashes_at_once,
                config.password_hashes_waiting,
            ),
            login_throttle: LoginThrottle::default(),
            live_users: LiveUsers::default(),
            config,
            store,
            keyring,
            jwt,
            registry,
            vault,
            metrics: crate::metrics::prometheus(),
            dummy_password_hash,
        }))
    }
}

impl AppState {
    /// Drops what is remembered about a deleted user: its verified tokens
    /// and its cached master key.
    pub fn forget_user(&self, user_id: &str) {
        self.jwt.forget_user(user_id);
        self.vault.forget(user_id);
    }
}

/// A gateway serving in a background task: where it listens, and how to
/// stop it. Dropping it stops the server too (without waiting for it).
pub struct RunningGateway {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RunningGateway {
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// `http://ADDR`, the base of every route (`{url}/mcp` for MCP).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish, and waits for the
    /// server to end; its error, if it failed.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.context("the gateway task failed")?
    }
}

impl Drop for RunningGateway {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds `addr` (port 0: any free port) and serves the gateway there in a
/// background task. Bound before it returns, so the first request never
/// races the server. The one way the workspace starts a gateway it does not
/// run in the foreground.
pub async fn spawn(
    addr: std::net::SocketAddr,
    state: Arc<AppState>,
) -> anyhow::Result<RunningGateway> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, state, async {
        let _ = stopped.await;
    }));
    Ok(RunningGateway {
        addr,
        stop: Some(stop),
        task,
    })
}

/// Serves the gateway on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let cancel = CancellationToken::new();
    let router = crate::router::router(state.clone(), cancel.clone());
    let maintenance = tokio::spawn(maintenance(state.clone()));
    let limits = state.config.connections;
    let result = crate::http::serve(listener, router, limits, async move {
        shutdown.await;
        // Ends open MCP streams so graceful shutdown does not wait on them.
        cancel.cancel();
    })
    .await
    .context("serving HTTP");
    maintenance.abort();
    result
}

/// Periodic clean-up of in-memory state, so memory stays flat however
/// clients behave.
async fn maintenance(state: Arc<AppState>) {
    let mut every = tokio::time::interval(std::time::Duration::from_secs(30));
    // IMPORTANT: Skip, so a stalled process does not run a burst of catch-up
    // passes when it wakes.
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        every.tick().await;
        let now = std::time::Instant::now();
        state.registry.gate().evict_idle(now);
        state.vault.evict_expired();
        state
            .login_throttle
            .evict_forgotten(tokio::time::Instant::now());
        state.sessions.prune().await;
    }
}
