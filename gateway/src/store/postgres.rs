//! Opening a PostgreSQL pool, refusing servers that are too old, and running
//! the migrations in `migrations/postgres` (or `migrations/runner/postgres`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};

use super::{Pool, Schema, Store, StoreError};

/// `NULLS FIRST`, `ON CONFLICT` and partial unique indexes all predate this;
/// older servers are out of support anyway.
const MIN_SERVER_VERSION_NUM: i64 = 130_000;
const MIN_SERVER_VERSION: &str = "13";
/// Connections per process; several replicas share one server.
const MAX_CONNECTIONS: u32 = 16;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) async fn open(url: &str, schema: Schema) -> Result<Store, StoreError> {
    let options = PgConnectOptions::from_str(url)?;
    if !plaintext_by_default(
        url,
        std::env::var_os("PGSSLMODE").is_some(),
        options.get_host(),
    ) {
        return open_with(options, schema).await;
    }
    match open_with(options.clone().ssl_mode(PgSslMode::Disable), schema).await {
        // The server's pg_hba.conf may accept only TLS connections
        // (`hostssl`); then sqlx's own default applies.
        Err(StoreError::Database(sqlx::Error::Database(refused)))
            if refused.code().as_deref() == Some(INVALID_AUTHORIZATION) =>
        {
            open_with(options, schema).await
        }
        opened => opened,
    }
}

/// SQLSTATE `28000`, what a server says when no pg_hba.conf line admits the
/// connection (here: a plaintext one).
const INVALID_AUTHORIZATION: &str = "28000";

/// Whether to connect without TLS when nobody chose a mode: only to a server
/// on this machine. sqlx's default (`prefer`) negotiates TLS even over
/// loopback and does not set `TCP_NODELAY`, so a query whose messages span two
/// TLS records waits for a delayed ACK (about 40 ms) — a batch of 100 rows
/// measured slower than a batch of 1. TLS adds nothing on loopback.
fn plaintext_by_default(url: &str, pgsslmode_set: bool, host: &str) -> bool {
    let mode_in_url = url.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            key.eq_ignore_ascii_case("sslmode") || key.eq_ignore_ascii_case("ssl-mode")
        })
    });
    let loopback = host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    !mode_in_url && !pgsslmode_set && loopback
}

pub(super) async fn open_with(
    options: PgConnectOptions,
    schema: Schema,
) -> Result<Store, StoreError> {
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
    let migrator = match schema {
        Schema::App => sqlx::migrate!("../migrations/postgres"),
        Schema::Runner => sqlx::migrate!("../migrations/runner/postgres"),
    };
    migrator
        .run(&pool)
        .await
        .map_err(|error| super::wrong_schema(error, schema))?;
    Ok(Store::new(Pool::Postgres(pool), schema))
}

impl Store {
    /// Opens PostgreSQL from already built options (tests pick the database).
    pub async fn open_postgres(options: PgConnectOptions) -> Result<Store, StoreError> {
        open_with(options, Schema::App).await
    }

    /// [`Store::open_postgres`] with the schema to hold.
    pub async fn open_postgres_schema(
        options: PgConnectOptions,
        schema: Schema,
    ) -> Result<Store, StoreError> {
        open_with(options, schema).await
    }
}

#[cfg(test)]
mod tests {
    use super::plaintext_by_default;

    #[test]
    fn only_a_loopback_server_without_a_chosen_mode_goes_plaintext() {
        let url = "postgres://app@127.0.0.1:5432/app";
        assert!(plaintext_by_default(url, false, "127.0.0.1"));
        assert!(plaintext_by_default(url, false, "localhost"));
        assert!(plaintext_by_default(url, false, "::1"));
        assert!(plaintext_by_default(url, false, "/var/run/postgresql"));
        assert!(!plaintext_by_default(url, false, "db.internal"));
        assert!(!plaintext_by_default(url, false, "10.0.0.7"));
        assert!(!plaintext_by_default(url, true, "127.0.0.1"));
        let chosen = "postgres://app@127.0.0.1/app?application_name=x&sslmode=require";
        assert!(!plaintext_by_default(chosen, false, "127.0.0.1"));
    }
}
