//! Opening a PostgreSQL pool, refusing servers that are too old, and running
//! the migrations in `migrations/postgres`.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{Pool, Store, StoreError};

/// `NULLS FIRST`, `ON CONFLICT` and partial unique indexes all predate this;
/// older servers are out of support anyway.
const MIN_SERVER_VERSION_NUM: i64 = 130_000;
const MIN_SERVER_VERSION: &str = "13";
/// Connections per process; several replicas share one server.
const MAX_CONNECTIONS: u32 = 16;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn open(url: &str) -> Result<Store, StoreError> {
    open_with(PgConnectOptions::from_str(url)?).await
}

pub(super) async fn open_with(options: PgConnectOptions) -> Result<Store, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?;
    let (version_num,): (String,) = sqlx::query_as("SHOW server_version_num")
        .fetch_one(&pool)
        .await?;
    let version_num: i64 = version_num
        .trim()
        .parse()
        .map_err(|_| StoreError::Corrupt(format!("server_version_num {version_num:?}")))?;
    if version_num < MIN_SERVER_VERSION_NUM {
        return Err(StoreError::PostgresTooOld {
            found: version_num.to_string(),
            required: MIN_SERVER_VERSION,
        });
    }
    sqlx::migrate!("../migrations/postgres").run(&pool).await?;
    Ok(Store {
        pool: Pool::Postgres(pool),
    })
}

impl Store {
    /// Opens PostgreSQL from already built options (tests pick the database).
    pub async fn open_postgres(options: PgConnectOptions) -> Result<Store, StoreError> {
        open_with(options).await
    }
}
