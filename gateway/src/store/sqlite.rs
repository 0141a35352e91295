//! Opening the embedded SQLite database: WAL, a busy timeout, foreign keys on,
//! and the migrations in `migrations/sqlite`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Pool, Store, StoreError};

/// How long a writer waits for another writer's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// SQLite serialises writers anyway; a few connections let readers run
/// beside the one writer (WAL) without piling up file handles.
const MAX_CONNECTIONS: u32 = 8;

pub(super) async fn open(url: &str) -> Result<Store, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?;
    connect(options).await
}

pub(super) async fn open_file(path: &Path) -> Result<Store, StoreError> {
    connect(SqliteConnectOptions::new().filename(path)).await
}

async fn connect(options: SqliteConnectOptions) -> Result<Store, StoreError> {
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
    sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
    Ok(Store::new(Pool::Sqlite(pool)))
}
