//! Opening the embedded SQLite database: WAL, a busy timeout, foreign keys on,
//! and the migrations in `migrations/sqlite` (or `migrations/runner/sqlite`).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Pool, Schema, Store, StoreError};

/// How long a writer waits for another writer's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// SQLite serialises writers anyway; a few connections let readers run
/// beside the one writer (WAL) without piling up file handles.
const MAX_CONNECTIONS: u32 = 8;

pub(super) async fn open(url: &str, schema: Schema) -> Result<Store, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?;
    connect(options, schema).await
}

pub(super) async fn open_file(path: &Path) -> Result<Store, StoreError> {
    connect(SqliteConnectOptions::new().filename(path), Schema::App).await
}

async fn connect(options: SqliteConnectOptions, schema: Schema) -> Result<Store, StoreError> {
    let options = options
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // WAL with NORMAL is durable across application crashes; only a power
        // loss can drop the last commits, which FULL would cost an fsync each.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(BUSY_TIMEOUT)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .connect_with(options)
        .await?;
    let migrator = match schema {
        Schema::App => sqlx::migrate!("../migrations/sqlite"),
        Schema::Runner => sqlx::migrate!("../migrations/runner/sqlite"),
    };
    migrator
        .run(&pool)
        .await
        .map_err(|error| super::wrong_schema(error, schema))?;
    Ok(Store::new(Pool::Sqlite(pool), schema))
}
