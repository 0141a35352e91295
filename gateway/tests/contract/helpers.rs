//! Opening one fresh store per backend for a test, and the fixtures tests share.

use std::str::FromStr;
use std::sync::Once;

use catalog::{ActionResult, ActionRow, FeedbackRow, PersonaSpec, Rating};
use chrono::{DateTime, Utc};
use gateway::Store;
use registry::crypto::{KeyEncryptionKey, Keyring};
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
    let mut stores = vec![sqlite().await];
    match std::env::var("TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => stores.push(postgres(&url).await),
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!(
                "CI=true but TEST_POSTGRES_URL is not set: the PostgreSQL contract tests must run in CI"
            )
        }
        _ => warn_postgres_skipped(),
    }
    stores
}

async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let store = Store::open_sqlite_file(&dir.path().join("persona.db"))
        .await
        .expect("open SQLite");
    TestDb {
        store,
        label: "sqlite",
        postgres: None,
        _dir: Some(dir),
    }
}

async fn postgres(admin_url: &str) -> TestDb {
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
    let store = Store::open_postgres(options)
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

pub fn spec(name: &str, email: &str, cadence: catalog::Cadence) -> PersonaSpec {
    let mut weights = std::collections::BTreeMap::new();
    weights.insert("todo".to_owned(), 0.6);
    weights.insert("notes".to_owned(), 0.4);
    PersonaSpec {
        name: name.to_owned(),
        email: email.to_owned(),
        archetype: catalog::Archetype::SoloDev,
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
