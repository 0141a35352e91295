//! The one storage API, over SQLite (the embedded default) and PostgreSQL.
//!
//! Every query is written once, in SQL both engines accept (`$n`
//! placeholders, `ON CONFLICT`, `RETURNING`, `NULLS FIRST`), and compiled
//! against each pool type by [`with_pool!`]; the few real differences (how a
//! write transaction starts) sit behind [`WritePool`]. The alternative — one
//! file of queries per backend — doubles every query and lets them drift.
//! Queries are checked at run time (`query_as` + `FromRow`), so building never
//! needs a database. Timestamps are bound from Rust (never `now()` in SQL), so
//! tests control time and both engines compare the same values.
//!
//! # Layout
//!
//! - [`sqlite`], [`postgres`]: opening a pool and running its migrations
//!   (the app's schema, or the runner's own: [`Schema`]).
//! - [`users`]: users, spaces and memberships.
//! - [`personas`]: persona upsert, list, detail, delete, pause and the due query.
//! - [`leases`]: which replica may tick a persona: the atomic claim of due
//!   personas (the one statement whose SQL differs by engine), leases and
//!   the due gate.
//! - [`fleet`]: the fleet's kill-switch and the runner replicas' heartbeats.
//! - [`audit`]: tick rows and the idempotent action/feedback batches.
//! - [`transcripts`]: tick transcripts read back with their tick, and
//!   forgotten after the runner's retention.
//! - [`records`]: the tools' documents with per-field last-writer-wins.
//! - [`keys`]: JWT signing keys, sealed.

mod app_store;
mod audit;
mod error_rates;
mod fleet;
mod insights;
mod keys;
mod leases;
mod personas;
mod postgres;
mod records;
mod sqlite;
mod transcripts;
mod users;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};

pub use audit::{BatchOutcome, ORPHANED_TICK_REASON, TickRow};
pub use catalog::{NewTick, TickFinish};
pub use error_rates::{ErrorCounts, ErrorRates};
pub use keys::SigningKeyRow;
pub use personas::{
    ModuleRating, PersonaDetail, PersonaRow, PersonaSummary, RECENT_ACTIONS_IN_DETAIL,
};
pub use records::{NewRecord, Record, RecordUpdate};
pub use users::{NewUser, Role, Space, StoredMasterKey, User, UserKind};

/// Which tables a database holds.
///
/// The persona tables (personas, ticks, calls, ratings, transcripts, the
/// fleet's) are the same in both, so one set of queries serves both; only
/// where a persona's email and liveness come from differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// The built-in app's (`migrations/sqlite`, `migrations/postgres`):
    /// users, spaces, the tools' records, and the persona tables; a persona
    /// is a user, its email and deletion are the user's.
    App,
    /// The runner's own, for a target other than the built-in app
    /// (`migrations/runner/…`): only the persona tables; a persona is keyed
    /// by its catalog key (the lower-cased email) and carries its email.
    Runner,
}

impl Schema {
    /// The first migration version of the runner's own schema; the app's
    /// versions stay below it.
    const RUNNER_VERSIONS: i64 = 1001;

    /// The persona rows (`p`), with what gives their email.
    fn personas_from(self) -> &'static str {
        match self {
            Schema::App => "personas p JOIN users u ON u.id = p.user_id",
            Schema::Runner => "personas p",
        }
    }

    /// The expression for a persona's email in [`Schema::personas_from`].
    fn email(self) -> &'static str {
        match self {
            Schema::App => "u.email",
            Schema::Runner => "p.email",
        }
    }

    /// The condition that a persona's account still exists.
    fn live(self) -> &'static str {
        match self {
            Schema::App => "u.deleted_at IS NULL",
            Schema::Runner => "1 = 1",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Schema::App => "the built-in app's schema (persona up without a target)",
            Schema::Runner => "the runner's own schema (persona run, or --target)",
        }
    }
}

/// Which engine a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },
    #[error("{0}")]
    Conflict(String),
    #[error(
        "a batch of {got} {what} rows is over the limit of {limit}; send at most {limit} per request"
    )]
    BatchTooLarge {
        what: &'static str,
        got: usize,
        limit: usize,
    },
    #[error("row {index}: {field}: {message}")]
    InvalidRow {
        index: usize,
        field: &'static str,
        message: String,
    },
    #[error("user {id} is a {kind} user, not a persona; the personas API only deletes personas")]
    NotPersona { id: String, kind: String },
    #[error(
        "unsupported database URL {0:?}: use sqlite://PATH (or sqlite::memory:) or postgres://USER@HOST/DB"
    )]
    UnsupportedUrl(String),
    #[error("PostgreSQL {found} is too old; version {required} or newer is required")]
    PostgresTooOld {
        found: String,
        required: &'static str,
    },
    #[error("a stored value is corrupt: {0}")]
    Corrupt(String),
    #[error("password hashing failed")]
    Password(#[from] crate::password::PasswordError),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("this database holds {}, not {}; give it a database of its own (--db)", .holds.describe(), .wanted.describe())]
    WrongSchema { holds: Schema, wanted: Schema },
    #[error("{0} works on the built-in app's schema only")]
    AppOnly(&'static str),
    #[error("database error")]
    Database(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Database(error)
    }
}

impl StoreError {
    fn not_found(what: &'static str, id: impl Into<String>) -> StoreError {
        StoreError::NotFound {
            what,
            id: id.into(),
        }
    }
}

/// The migration error of opening a database with `wanted` when it holds
/// the other schema, named as such.
fn wrong_schema(error: sqlx::migrate::MigrateError, wanted: Schema) -> StoreError {
    match error {
        sqlx::migrate::MigrateError::VersionMissing(version) => StoreError::WrongSchema {
            holds: if version >= Schema::RUNNER_VERSIONS {
                Schema::Runner
            } else {
                Schema::App
            },
            wanted,
        },
        other => StoreError::Migrate(other),
    }
}

/// Whether a database error is a unique-constraint violation.
fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A handle to the database; cheap to clone (it wraps a pool).
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    schema: Schema,
    /// Users deleted through this store or any clone of it. Caches of
    /// per-user facts (the gateway's live users, the vault's keys) compare
    /// it to the count they were filled at, so a deletion anywhere in the
    /// process reaches them at once without the store knowing them.
    user_deletions: Arc<AtomicU64>,
}

#[derive(Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

/// Runs `$body` with `$pool` bound to the concrete pool, so one query text and
/// one block of Rust serve both engines (the block is type-checked for each).
macro_rules! with_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
use with_pool;

/// Starting a transaction that will write.
trait WritePool {
    type Db: sqlx::Database;
    async fn begin_write(&self) -> Result<Transaction<'static, Self::Db>, sqlx::Error>;
}

impl WritePool for SqlitePool {
    type Db = Sqlite;
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        // IMPORTANT: a deferred SQLite transaction that reads and then writes
        // fails with SQLITE_BUSY when another writer got in between, and the
        // busy timeout cannot help; taking the write lock up front makes
        // concurrent writers wait their turn instead.
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl WritePool for PgPool {
    type Db = Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin().await
    }
}

impl Store {
    fn new(pool: Pool, schema: Schema) -> Store {
        Store {
            pool,
            schema,
            user_deletions: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How many users were deleted through this store (or a clone) since it
    /// was opened; see the field's comment.
    pub fn user_deletions(&self) -> u64 {
        self.user_deletions.load(Ordering::Acquire)
    }

    /// Opens the database a URL names and brings the app's schema up to
    /// date.
    ///
    /// `sqlite://PATH` (created if missing) or `postgres://…`/`postgresql://…`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_schema(url, Schema::App).await
    }

    /// Opens the database a URL names with `schema`, brought up to date; a
    /// database that holds the other schema is [`StoreError::WrongSchema`].
    pub async fn connect_schema(url: &str, schema: Schema) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            sqlite::open(url, schema).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            postgres::open(url, schema).await
        } else {
            Err(StoreError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// Opens (creating if missing) the SQLite file at `path`, app schema.
    pub async fn open_sqlite_file(path: &std::path::Path) -> Result<Store, StoreError> {
        sqlite::open_file(path).await
    }

    /// Which tables this database holds.
    pub fn schema(&self) -> Schema {
        self.schema
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        with_pool!(self, |pool| pool.close().await)
    }
}

/// The current time at the precision both engines store (microseconds), so a
/// value read back equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Hides the password of a database URL for logs and error messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Converts a count stored as BIGINT into the unsigned type callers use.
fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} is negative: {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(redact_url("postgres://app@db/x"), "postgres://app@db/x");
        assert_eq!(redact_url("sqlite://persona.db"), "sqlite://persona.db");
    }

    #[tokio::test]
    async fn rejects_unknown_schemes_with_a_hint() {
        let error = Store::connect("mysql://root:pw@localhost/x")
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("mysql://root:***@localhost/x"), "{text}");
        assert!(text.contains("use sqlite://PATH"), "{text}");
    }
}
