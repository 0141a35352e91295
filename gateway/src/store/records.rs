//! The tools' documents: JSON objects keyed by (space, collection, id).
//!
//! Each field carries its own clock (`field_updated_at`, unix milliseconds),
//! so two devices editing different fields of one record both win, and for
//! the same field the later write wins (a write at the same instant as the
//! stored one wins too, so a retried write is not lost). Deleting is soft:
//! `deleted_at` is set and the record disappears from lists and reads.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::FromRow;
use sqlx::types::Json;

pub use registry::store::{NewRecord, Record, RecordUpdate};

use super::{Store, StoreError, WritePool, is_unique_violation, with_pool};

#[derive(FromRow)]
struct RecordRow {
    space_id: String,
    collection: String,
    id: String,
    data: Json<Map<String, Value>>,
    field_updated_at: Json<BTreeMap<String, i64>>,
    created_by: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    deleted_at: Option<DateTime<Utc>>,
}

impl From<RecordRow> for Record {
    fn from(row: RecordRow) -> Record {
        Record {
            space_id: row.space_id,
            collection: row.collection,
            id: row.id,
            data: row.data.0,
            field_updated_at: row.field_updated_at.0,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
            deleted_at: row.deleted_at,
        }
    }
}

const RECORD_COLUMNS: &str = "space_id, collection, id, data, field_updated_at, created_by, \
     created_at, updated_at, deleted_at";

fn record_key(space_id: &str, collection: &str, id: &str) -> String {
    format!("{collection}/{id} in space {space_id}")
}

/// Applies `patch` at `at_millis` to `data` under per-field clocks.
fn merge(
    data: &mut Map<String, Value>,
    clocks: &mut BTreeMap<String, i64>,
    patch: Map<String, Value>,
    at_millis: i64,
) -> (Vec<String>, Vec<String>) {
    let mut applied = Vec::new();
    let mut stale = Vec::new();
    for (field, value) in patch {
        let newer_or_same = clocks.get(&field).is_none_or(|stored| at_millis >= *stored);
        if newer_or_same {
            data.insert(field.clone(), value);
            clocks.insert(field.clone(), at_millis);
            applied.push(field);
        } else {
            stale.push(field);
        }
    }
    (applied, stale)
}

impl Store {
    /// Inserts a new record; an existing key (even soft-deleted) is a conflict.
    pub async fn insert_record(
        &self,
        new: NewRecord,
        at: DateTime<Utc>,
    ) -> Result<Record, StoreError> {
        let at_millis = at.timestamp_millis();
        let clocks: BTreeMap<String, i64> = new
            .data
            .keys()
            .map(|field| (field.clone(), at_millis))
            .collect();
        let result = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO records (space_id, collection, id, data, field_updated_at, created_by, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(&new.space_id)
            .bind(&new.collection)
            .bind(&new.id)
            .bind(Json(&new.data))
            .bind(Json(&clocks))
            .bind(&new.created_by)
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ())
        });
        let key = record_key(&new.space_id, &new.collection, &new.id);
        match result {
            Ok(_) => {}
            Err(error) if is_unique_violation(&error) => {
                return Err(StoreError::Conflict(format!("record {key} already exists")));
            }
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                return Err(StoreError::not_found("space", &new.space_id));
            }
            Err(error) => return Err(error.into()),
        }
        self.record(&new.space_id, &new.collection, &new.id)
            .await?
            .ok_or_else(|| StoreError::not_found("record", key))
    }

    /// A live (not deleted) record.
    pub async fn record(
        &self,
        space_id: &str,
        collection: &str,
        id: &str,
    ) -> Result<Option<Record>, StoreError> {
        let row: Option<RecordRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {RECORD_COLUMNS} FROM records \
                 WHERE space_id = $1 AND collection = $2 AND id = $3 AND deleted_at IS NULL"
            )))
            .bind(space_id)
            .bind(collection)
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(Record::from))
    }

    /// Live records of a collection in a space, oldest first.
    pub async fn list_records(
        &self,
        space_id: &str,
        collection: &str,
    ) -> Result<Vec<Record>, StoreError> {
        let rows: Vec<RecordRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {RECORD_COLUMNS} FROM records \
                 WHERE space_id = $1 AND collection = $2 AND deleted_at IS NULL \
                 ORDER BY created_at, id"
            )))
            .bind(space_id)
            .bind(collection)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(Record::from).collect())
    }

    /// Writes the fields of `patch` that are not older than what is stored.
    /// A missing or deleted record is [`StoreError::NotFound`], never a no-op.
    pub async fn update_record(
        &self,
        space_id: &str,
        collection: &str,
        id: &str,
        patch: Map<String, Value>,
        at: DateTime<Utc>,
    ) -> Result<RecordUpdate, StoreError> {
        let key = record_key(space_id, collection, id);
        // Row-locks the record on PostgreSQL; on SQLite `BEGIN IMMEDIATE`
        // already holds the database write lock.
        let lock = match self.backend() {
            super::Backend::Postgres => " FOR UPDATE",
            super::Backend::Sqlite => "",
        };
        let select = format!(
            "SELECT {RECORD_COLUMNS} FROM records \
             WHERE space_id = $1 AND collection = $2 AND id = $3 AND deleted_at IS NULL{lock}"
        );
        let update = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let row: Option<RecordRow> = sqlx::query_as(sqlx::AssertSqlSafe(select.clone()))
                .bind(space_id)
                .bind(collection)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                return Err(StoreError::not_found("record", key));
            };
            let mut record = Record::from(row);
            let (applied, stale) = merge(
                &mut record.data,
                &mut record.field_updated_at,
                patch,
                at.timestamp_millis(),
            );
            if !applied.is_empty() {
                record.updated_at = record.updated_at.max(at);
                sqlx::query(
                    "UPDATE records SET data = $1, field_updated_at = $2, updated_at = $3 \
                     WHERE space_id = $4 AND collection = $5 AND id = $6",
                )
                .bind(Json(&record.data))
                .bind(Json(&record.field_updated_at))
                .bind(record.updated_at)
                .bind(space_id)
                .bind(collection)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            RecordUpdate {
                record,
                applied,
                stale,
            }
        });
        Ok(update)
    }

    /// Soft-deletes a live record; a missing or already deleted one is
    /// [`StoreError::NotFound`].
    pub async fn delete_record(
        &self,
        space_id: &str,
        collection: &str,
        id: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE records SET deleted_at = $1, updated_at = $1 \
                 WHERE space_id = $2 AND collection = $3 AND id = $4 AND deleted_at IS NULL",
            )
            .bind(at)
            .bind(space_id)
            .bind(collection)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::not_found(
                "record",
                record_key(space_id, collection, id),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn later_write_wins_per_field() {
        let mut data = object(json!({ "title": "a", "done": false }));
        let mut clocks = BTreeMap::from([("title".to_owned(), 100), ("done".to_owned(), 300)]);
        let (applied, stale) = merge(
            &mut data,
            &mut clocks,
            object(json!({ "title": "b", "done": true, "new": 1 })),
            200,
        );
        assert_eq!(applied, vec!["new", "title"]);
        assert_eq!(stale, vec!["done"]);
        assert_eq!(
            data,
            object(json!({ "title": "b", "done": false, "new": 1 }))
        );
        assert_eq!(clocks["title"], 200);
        assert_eq!(clocks["done"], 300);
    }

    #[test]
    fn same_instant_write_wins() {
        let mut data = object(json!({ "title": "a" }));
        let mut clocks = BTreeMap::from([("title".to_owned(), 100)]);
        let (applied, _) = merge(&mut data, &mut clocks, object(json!({ "title": "b" })), 100);
        assert_eq!(applied, vec!["title"]);
        assert_eq!(data["title"], "b");
    }
}
