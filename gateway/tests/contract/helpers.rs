//! What the contract suite's tests share:
//!
//! - one fresh store per backend for a test ([`backends`], [`TestDb`]);
//! - the real server on a loopback port over such a store ([`spawn_app`],
//!   [`TestApp`] with one helper per kind of request);
//! - the fixtures: [`keyring`], persona specs, action and feedback rows.

use std::str::FromStr;
use std::sync::{Arc, Once};

use catalog::{ActionResult, ActionRow, FeedbackRow, KnownArchetype, PersonaSpec, Rating};
use chrono::{DateTime, Utc};
use gateway::Store;
use gateway::app::AppState;
use gateway::config::GatewayConfig;
use gateway::store::Schema;
use registry::crypto::{KeyEncryptionKey, Keyring};
use reqwest::{RequestBuilder, Response};
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

/// A store under test, with whatever must be cleaned up after it.
pub struct TestDb {
    pub store: Store,
    pub label: &'static str,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Closes the store and drops its PostgreSQL database.
    pub async fn finish(self) {
        self.store.close().await;
        if let Some((admin_url, database)) = self.postgres {
            let mut admin = PgConnection::connect(&admin_url)
                .await
                .expect("connect to TEST_POSTGRES_URL");
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
            )))
            .execute(&mut admin)
            .await
            .expect("drop the test database");
        }
    }
}

/// One fresh store per available backend: SQLite always, PostgreSQL when
/// `TEST_POSTGRES_URL` is set.
pub async fn backends() -> Vec<TestDb> {
    backends_with(Schema::App).await
}

/// [`backends`] holding `schema`.
pub async fn backends_with(schema: Schema) -> Vec<TestDb> {
    let mut stores = vec![sqlite_with(schema).await];
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => stores.push(postgres(&url, schema).await),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!(
                "CI=true but TEST_POSTGRES_URL is not set: the PostgreSQL contract tests must run in CI"
            )
        }
        _ => warn_postgres_skipped(),
    }
    stores
}

/// A fresh SQLite database only, for tests that exercise the server
/// rather than the store.
pub async fn sqlite() -> TestDb {
    sqlite_with(Schema::App).await
}

async fn sqlite_with(schema: Schema) -> TestDb {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let url = format!("sqlite://{}", dir.path().join("persona.db").display());
    let store = Store::connect_schema(&url, schema)
        .await
        .expect("open SQLite");
    TestDb {
        store,
        label: "sqlite",
        postgres: None,
        _dir: Some(dir),
    }
}

async fn postgres(admin_url: &str, schema: Schema) -> TestDb {
    let database = format!("persona_test_{}", uuid::Uuid::new_v4().simple());
    let mut admin = PgConnection::connect(admin_url)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to TEST_POSTGRES_URL: {error}"));
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE \"{database}\""
    )))
    .execute(&mut admin)
    .await
    .expect("create the test database");
    let options = PgConnectOptions::from_str(admin_url)
        .expect("parse TEST_POSTGRES_URL")
        .database(&database);
    let store = Store::open_postgres_schema(options, schema)
        .await
        .expect("open PostgreSQL");
    TestDb {
        store,
        label: "postgres",
        postgres: Some((admin_url.to_owned(), database)),
        _dir: None,
    }
}

fn warn_postgres_skipped() {
    static WARN: Once = Once::new();
    WARN.call_once(|| {
        eprintln!(
            "\n\
             ************************************************************************\n\
             * TEST_POSTGRES_URL is not set: the PostgreSQL half of the store      *\n\
             * contract suite is SKIPPED. Only SQLite was tested. Set it, e.g.     *\n\
             *   TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres     *\n\
             ************************************************************************\n"
        );
    });
}

// ---------------------------------------------------------------------------
// The server

pub const SERVICE_KEY: &str = "test-service-key";
pub const ADMIN_EMAIL: &str = "admin@mana.test";
pub const ADMIN_PASSWORD: &str = "admin-password-123";

/// A gateway serving on `127.0.0.1:0`.
pub struct TestApp {
    pub db: TestDb,
    pub url: String,
    pub http: reqwest::Client,
    pub state: Arc<AppState>,
    server: gateway::app::RunningGateway,
}

pub fn test_config() -> GatewayConfig {
    GatewayConfig {
        service_key: SERVICE_KEY.into(),
        admin: Some((ADMIN_EMAIL.into(), ADMIN_PASSWORD.into())),
        ..GatewayConfig::default()
    }
}

pub async fn spawn_app(db: TestDb, config: GatewayConfig) -> TestApp {
    let state = AppState::build(config, db.store.clone(), keyring())
        .await
        .unwrap();
    let server = gateway::app::spawn("127.0.0.1:0".parse().unwrap(), state.clone())
        .await
        .unwrap();
    TestApp {
        db,
        url: server.url(),
        http: reqwest::Client::new(),
        state,
        server,
    }
}

/// A registered, logged-in user.
pub struct TestUser {
    pub id: String,
    pub token: String,
    pub space_id: String,
}

impl TestApp {
    pub async fn stop(self) {
        self.server.stop().await.unwrap();
        self.db.finish().await;
    }

    pub fn post(&self, path: &str, body: &Value) -> RequestBuilder {
        self.http.post(format!("{}{path}", self.url)).json(body)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(format!("{}{path}", self.url))
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            &json!({ "email": email, "password": password }),
        )
        .send()
        .await
        .unwrap()
    }

    pub async fn token(&self, email: &str, password: &str) -> String {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Registers `email`, logs in and finds the personal space.
    pub async fn user(&self, email: &str) -> TestUser {
        let response = self
            .post(
                "/api/v1/auth/register",
                &json!({ "email": email, "password": "password-123" }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202, "{}", response.text().await.unwrap());
        let token = self.token(email, "password-123").await;
        let spaces: Value = self
            .get("/api/v1/spaces")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let claims = self.state.jwt.verify(&token).unwrap();
        TestUser {
            id: claims.sub,
            token,
            space_id: spaces["spaces"][0]["id"].as_str().unwrap().to_owned(),
        }
    }

    /// A raw MCP POST, as a client on protocol 2025-11-25 sends it.
    pub fn mcp(
        &self,
        token: &str,
        space: &str,
        session: Option<&str>,
        body: &Value,
    ) -> RequestBuilder {
        let mut request = self
            .http
            .post(format!("{}/mcp", self.url))
            .bearer_auth(token)
            .header(catalog::SPACE_HEADER, space)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request
    }

    /// Opens an MCP session and returns its id.
    pub async fn mcp_session(&self, user: &TestUser) -> String {
        let response = self
            .mcp(&user.token, &user.space_id, None, &initialize())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let _ = response.text().await;
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let response = self
            .mcp(&user.token, &user.space_id, Some(&session), &initialized)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        session
    }
}

pub fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "test", "version": "1" } }
    })
}

/// The JSON body of an error response, checking its shape.
pub async fn error_body(response: Response) -> Value {
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].is_string() && body["code"].is_string(),
        "{body}"
    );
    body
}

// ---------------------------------------------------------------------------
// Fixtures

pub fn spec(name: &str, email: &str, cadence: catalog::Cadence) -> PersonaSpec {
    let mut weights = std::collections::BTreeMap::new();
    weights.insert("todo".to_owned(), 0.6);
    weights.insert("notes".to_owned(), 0.4);
    PersonaSpec {
        name: name.to_owned(),
        email: email.to_owned(),
        archetype: catalog::Archetype::from(KnownArchetype::SoloDev),
        cadence,
        module_mix: catalog::ModuleMix::new(weights).expect("valid mix"),
        system_prompt: format!("Du bist {name}."),
        shared_spaces: Vec::new(),
    }
}

/// Creates a persona and returns its user id.
pub async fn persona(store: &Store, name: &str, cadence: catalog::Cadence) -> String {
    let email = format!("{}@mana.test", name.to_lowercase());
    gateway::accounts::upsert_persona(store, &keyring(), &spec(name, &email, cadence), "pw")
        .await
        .expect("upsert persona")
        .user_id
}

/// The key-encryption keyring tests use.
pub fn keyring() -> Keyring {
    Keyring::new(
        KeyEncryptionKey::new("test-kek", &[9; 32]).unwrap(),
        Vec::new(),
    )
}

pub fn action(tick_id: &str, action_idx: u32, tool_name: &str, at: DateTime<Utc>) -> ActionRow {
    ActionRow {
        tick_id: tick_id.to_owned(),
        action_idx,
        tool_use_id: Some(format!("toolu_{action_idx}")),
        tool_name: tool_name.to_owned(),
        input_hash: "0123456789abcdef".to_owned(),
        result: ActionResult::Ok,
        error_message: None,
        failed_by: None,
        latency_ms: 5,
        created_at: at,
    }
}

pub fn feedback(tick_id: &str, module: &str, rating: i64, at: DateTime<Utc>) -> FeedbackRow {
    FeedbackRow {
        tick_id: tick_id.to_owned(),
        module: module.to_owned(),
        rating: Some(Rating::new(rating).expect("rating in range")),
        notes: format!("{module} note"),
        created_at: at,
    }
}
