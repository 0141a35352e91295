//! A throwaway PostgreSQL database on the server `TEST_POSTGRES_URL` names,
//! so a benchmark starts empty and leaves the server as it found it.

use anyhow::{Context as _, bail};
use sqlx::{Connection as _, PgConnection};

pub struct ScratchPostgres {
    admin_url: String,
    database: String,
    url: String,
}

impl ScratchPostgres {
    /// Creates `persona_bench_<uuid>` next to the database `admin_url` names.
    pub async fn create(admin_url: &str) -> anyhow::Result<ScratchPostgres> {
        let database = format!("persona_bench_{}", uuid::Uuid::new_v4().simple());
        let url = with_database(admin_url, &database)?;
        let mut admin = PgConnection::connect(admin_url)
            .await
            .context("connecting to TEST_POSTGRES_URL")?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{database}\""
        )))
        .execute(&mut admin)
        .await
        .with_context(|| format!("creating the database {database}"))?;
        Ok(ScratchPostgres {
            admin_url: admin_url.to_owned(),
            database,
            url,
        })
    }

    /// The scratch database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn drop_database(self) -> anyhow::Result<()> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.database
        )))
        .execute(&mut admin)
        .await
        .with_context(|| format!("dropping the database {}", self.database))?;
        Ok(())
    }
}

/// `url` with its database (the path) replaced, the query kept.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let Some(scheme_end) = url.find("://") else {
        bail!("TEST_POSTGRES_URL is not a URL: expected postgres://user@host:port/database");
    };
    let after_scheme = scheme_end + 3;
    let (base, rest) = match url[after_scheme..].find('/') {
        Some(slash) => url.split_at(after_scheme + slash),
        None => (url, ""),
    };
    let query = rest.split_once('?').map(|(_, query)| query);
    Ok(match query {
        Some(query) => format!("{base}/{database}?{query}"),
        None => format!("{base}/{database}"),
    })
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_only_the_database() {
        assert_eq!(
            with_database(
                "postgres://u:p@127.0.0.1:5432/postgres?sslmode=disable",
                "x"
            )
            .unwrap(),
            "postgres://u:p@127.0.0.1:5432/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:1", "x").unwrap(),
            "postgres://u@h:1/x"
        );
        assert!(with_database("nonsense", "x").is_err());
    }
}
