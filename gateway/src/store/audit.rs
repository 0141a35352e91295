//! Tick rows and the append-only, idempotent action and feedback batches.
//!
//! A batch is written in one transaction: every row is checked first (a bad
//! row rejects the whole batch with its index, so nothing half-lands), rows go
//! in with `ON CONFLICT (id) DO NOTHING` under their deterministic ids, and
//! the persona's `last_active_at` is bumped. Sending the same batch again
//! therefore inserts nothing and reports the rows as duplicates.

use catalog::{
    ActionResult, ActionRow, FailedBy, FeedbackRow, MAX_ACTIONS_PER_BATCH, MAX_FEEDBACK_PER_BATCH,
    NewTick, TickFinish, TickStatus, TokenUsage,
};
use chrono::{DateTime, Utc};
use sqlx::{FromRow, QueryBuilder};

use super::{Store, StoreError, WritePool, to_u64, with_pool};

/// How a batch landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BatchOutcome {
    /// Rows written now.
    pub inserted: u64,
    /// Rows that were already stored under the same id.
    pub duplicates: u64,
}

/// A tick row as stored; the same shape the internal API answers.
pub type TickRow = catalog::StoredTick;

#[derive(FromRow)]
pub(super) struct TickDbRow {
    tick_id: String,
    persona_id: String,
    status: String,
    error: Option<String>,
    failed_by: Option<String>,
    finish_reason: Option<String>,
    provider: String,
    model: String,
    turns: i64,
    input_tokens: i64,
    output_tokens: i64,
    cache_read_tokens: i64,
    cache_write_tokens: i64,
    cost_usd: Option<f64>,
    summary: Option<String>,
    started_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
}

/// Why a tick still marked running is ended when its persona's next tick
/// starts.
pub const ORPHANED_TICK_REASON: &str =
    "the runner running this tick stopped (its persona's next tick started)";

impl TryFrom<TickDbRow> for TickRow {
    type Error = StoreError;
    fn try_from(row: TickDbRow) -> Result<TickRow, StoreError> {
        Ok(TickRow {
            status: TickStatus::parse(&row.status)
                .ok_or_else(|| StoreError::Corrupt(format!("tick status {:?}", row.status)))?,
            failed_by: parse_failed_by(row.failed_by.as_deref())?,
            finish_reason: row.finish_reason,
            turns: to_u64(row.turns, "turns")?,
            tokens: TokenUsage {
                input: to_u64(row.input_tokens, "input tokens")?,
                output: to_u64(row.output_tokens, "output tokens")?,
                cache_read: to_u64(row.cache_read_tokens, "cache read tokens")?,
                cache_write: to_u64(row.cache_write_tokens, "cache write tokens")?,
            },
            cost_usd: row.cost_usd,
            tick_id: row.tick_id,
            persona_id: row.persona_id,
            error: row.error,
            provider: row.provider,
            model: row.model,
            summary: row.summary,
            started_at: row.started_at,
            finished_at: row.finished_at,
        })
    }
}

/// An action row as stored.
#[derive(FromRow)]
pub(super) struct ActionDbRow {
    tick_id: String,
    action_idx: i64,
    tool_use_id: Option<String>,
    tool_name: String,
    input_hash: String,
    result: String,
    error_message: Option<String>,
    failed_by: Option<String>,
    latency_ms: i64,
    created_at: DateTime<Utc>,
}

pub(super) fn parse_failed_by(text: Option<&str>) -> Result<Option<FailedBy>, StoreError> {
    text.map(|text| {
        FailedBy::parse(text).ok_or_else(|| StoreError::Corrupt(format!("failed_by {text:?}")))
    })
    .transpose()
}

impl TryFrom<ActionDbRow> for ActionRow {
    type Error = StoreError;
    fn try_from(row: ActionDbRow) -> Result<ActionRow, StoreError> {
        Ok(ActionRow {
            action_idx: u32::try_from(row.action_idx)
                .map_err(|_| StoreError::Corrupt(format!("action index {}", row.action_idx)))?,
            result: ActionResult::parse(&row.result)
                .ok_or_else(|| StoreError::Corrupt(format!("action result {:?}", row.result)))?,
            latency_ms: to_u64(row.latency_ms, "latency")?,
            failed_by: parse_failed_by(row.failed_by.as_deref())?,
            tick_id: row.tick_id,
            tool_use_id: row.tool_use_id,
            tool_name: row.tool_name,
            input_hash: row.input_hash,
            error_message: row.error_message,
            created_at: row.created_at,
        })
    }
}

/// Values SQLite and PostgreSQL both store as a signed 64-bit integer.
fn to_i64(value: u64, index: usize, field: &'static str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::InvalidRow {
        index,
        field,
        message: format!("{value} is too large"),
    })
}

fn require(index: usize, field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.trim().is_empty() {
        return Err(StoreError::InvalidRow {
            index,
            field,
            message: "must not be empty".into(),
        });
    }
    Ok(())
}

fn check_action(index: usize, row: &ActionRow) -> Result<(), StoreError> {
    require(index, "tickId", &row.tick_id)?;
    require(index, "toolName", &row.tool_name)?;
    require(index, "inputHash", &row.input_hash)?;
    to_i64(row.latency_ms, index, "latencyMs")?;
    Ok(())
}

fn check_feedback(index: usize, row: &FeedbackRow) -> Result<(), StoreError> {
    require(index, "tickId", &row.tick_id)?;
    require(index, "module", &row.module)?;
    match (row.is_parse_failure(), row.rating) {
        (true, Some(_)) => Err(StoreError::InvalidRow {
            index,
            field: "rating",
            message: format!(
                "the {} row records a failure and carries no rating",
                row.module
            ),
        }),
        (false, None) => Err(StoreError::InvalidRow {
            index,
            field: "rating",
            message: "missing; give a rating from 1 to 5".into(),
        }),
        _ => Ok(()),
    }
}

impl Store {
    /// Stores a batch of at most [`MAX_ACTIONS_PER_BATCH`] action rows for a
    /// persona and bumps its `last_active_at` to `now`.
    pub async fn insert_actions(
        &self,
        persona_id: &str,
        rows: &[ActionRow],
        now: DateTime<Utc>,
    ) -> Result<BatchOutcome, StoreError> {
        if rows.len() > MAX_ACTIONS_PER_BATCH {
            return Err(StoreError::BatchTooLarge {
                what: "action",
                got: rows.len(),
                limit: MAX_ACTIONS_PER_BATCH,
            });
        }
        for (index, row) in rows.iter().enumerate() {
            check_action(index, row)?;
        }
        let inserted = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if !persona_exists(&mut tx, persona_id).await? {
                return Err(StoreError::not_found("persona", persona_id));
            }
            let mut inserted = 0;
            if !rows.is_empty() {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO persona_actions (id, persona_id, tick_id, action_idx, tool_use_id, \
                     tool_name, input_hash, result, error_message, failed_by, latency_ms, created_at) ",
                );
                insert.push_values(rows, |mut values, row| {
                    values
                        .push_bind(row.id())
                        .push_bind(persona_id)
                        .push_bind(&row.tick_id)
                        .push_bind(i64::from(row.action_idx))
                        .push_bind(&row.tool_use_id)
                        .push_bind(&row.tool_name)
                        .push_bind(&row.input_hash)
                        .push_bind(row.result.as_str())
                        .push_bind(&row.error_message)
                        .push_bind(row.failed_by.map(FailedBy::as_str))
                        // Checked above: fits.
                        .push_bind(i64::try_from(row.latency_ms).unwrap_or(i64::MAX))
                        .push_bind(row.created_at);
                });
                insert.push(" ON CONFLICT (id) DO NOTHING");
                inserted = insert.build().execute(&mut *tx).await?.rows_affected();
                bump_last_active(&mut tx, persona_id, now).await?;
            }
            tx.commit().await?;
            inserted
        });
        Ok(BatchOutcome {
            inserted,
            duplicates: rows.len() as u64 - inserted,
        })
    }

    /// Stores a batch of at most [`MAX_FEEDBACK_PER_BATCH`] feedback rows for a
    /// persona and bumps its `last_active_at` to `now`.
    pub async fn insert_feedback(
        &self,
        persona_id: &str,
        rows: &[FeedbackRow],
        now: DateTime<Utc>,
    ) -> Result<BatchOutcome, StoreError> {
        if rows.len() > MAX_FEEDBACK_PER_BATCH {
            return Err(StoreError::BatchTooLarge {
                what: "feedback",
                got: rows.len(),
                limit: MAX_FEEDBACK_PER_BATCH,
            });
        }
        for (index, row) in rows.iter().enumerate() {
            check_feedback(index, row)?;
        }
        let inserted = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if !persona_exists(&mut tx, persona_id).await? {
                return Err(StoreError::not_found("persona", persona_id));
            }
            let mut inserted = 0;
            if !rows.is_empty() {
                let mut insert = QueryBuilder::new(
                    "INSERT INTO persona_feedback (id, persona_id, tick_id, module, rating, notes, created_at) ",
                );
                insert.push_values(rows, |mut values, row| {
                    values
                        .push_bind(row.id())
                        .push_bind(persona_id)
                        .push_bind(&row.tick_id)
                        .push_bind(&row.module)
                        .push_bind(row.rating.map(|rating| rating.get()))
                        .push_bind(&row.notes)
                        .push_bind(row.created_at);
                });
                insert.push(" ON CONFLICT (id) DO NOTHING");
                inserted = insert.build().execute(&mut *tx).await?.rows_affected();
                bump_last_active(&mut tx, persona_id, now).await?;
            }
            tx.commit().await?;
            inserted
        });
        Ok(BatchOutcome {
            inserted,
            duplicates: rows.len() as u64 - inserted,
        })
    }

    /// Every action of a tick, in call order.
    pub async fn tick_actions(&self, tick_id: &str) -> Result<Vec<ActionRow>, StoreError> {
        let rows: Vec<ActionDbRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT tick_id, action_idx, tool_use_id, tool_name, input_hash, result, \
                     error_message, failed_by, latency_ms, created_at \
                 FROM persona_actions WHERE tick_id = $1 ORDER BY action_idx",
            )
            .bind(tick_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(ActionRow::try_from).collect()
    }

    /// Every feedback row of a tick, by module.
    pub async fn tick_feedback(&self, tick_id: &str) -> Result<Vec<FeedbackRow>, StoreError> {
        #[derive(FromRow)]
        struct Row {
            tick_id: String,
            module: String,
            rating: Option<i64>,
            notes: String,
            created_at: DateTime<Utc>,
        }
        let rows: Vec<Row> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT tick_id, module, rating, notes, created_at FROM persona_feedback \
                 WHERE tick_id = $1 ORDER BY module",
            )
            .bind(tick_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| {
                let rating = row
                    .rating
                    .map(catalog::Rating::new)
                    .transpose()
                    .map_err(|error| StoreError::Corrupt(error.to_string()))?;
                Ok(FeedbackRow {
                    tick_id: row.tick_id,
                    module: row.module,
                    rating,
                    notes: row.notes,
                    created_at: row.created_at,
                })
            })
            .collect()
    }

    /// Records that a tick started (status `running`), first ending as
    /// `aborted` any tick of the same persona still marked running: a tick
    /// starts only under the persona's lease, so such a tick belongs to a
    /// runner that died holding it (SIGKILL) and will never finish it.
    pub async fn start_tick(&self, tick: &NewTick) -> Result<(), StoreError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE persona_ticks SET status = 'aborted', error = $1, finished_at = $2 \
                 WHERE persona_id = $3 AND status = 'running' AND tick_id <> $4",
            )
            .bind(ORPHANED_TICK_REASON)
            .bind(tick.started_at)
            .bind(&tick.persona_id)
            .bind(&tick.tick_id)
            .execute(pool)
            .await?;
        });
        let result = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO persona_ticks (tick_id, persona_id, started_at, status, provider, model) \
                 VALUES ($1, $2, $3, 'running', $4, $5)",
            )
            .bind(&tick.tick_id)
            .bind(&tick.persona_id)
            .bind(tick.started_at)
            .bind(&tick.provider)
            .bind(&tick.model)
            .execute(pool)
            .await
            .map(|_| ())
        });
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                Err(StoreError::not_found("persona", &tick.persona_id))
            }
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(
                StoreError::Conflict(format!("tick {} already exists", tick.tick_id)),
            ),
            Err(error) => Err(error.into()),
        }
    }

    /// Finishes a running tick and stores its transcript beside it, in one
    /// transaction; returns `false` when it was not running (already
    /// finished or aborted), so a late or repeated finish changes nothing.
    pub async fn finish_tick(
        &self,
        tick_id: &str,
        finish: &TickFinish,
    ) -> Result<bool, StoreError> {
        if finish.status == TickStatus::Running {
            return Err(StoreError::Conflict(
                "a tick cannot finish as running".into(),
            ));
        }
        let transcript = (!finish.transcript.is_empty())
            .then(|| serde_json::to_string(&finish.transcript))
            .transpose()
            .map_err(|error| {
                StoreError::Corrupt(format!("tick {tick_id}'s transcript: {error}"))
            })?;
        let as_i64 = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let updated = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let updated = sqlx::query(
                "UPDATE persona_ticks SET status = $1, error = $2, turns = $3, input_tokens = $4, \
                     output_tokens = $5, cache_read_tokens = $6, cache_write_tokens = $7, \
                     summary = $8, finished_at = $9, failed_by = $11, finish_reason = $12, \
                     cost_usd = $13 \
                 WHERE tick_id = $10 AND status = 'running'",
            )
            .bind(finish.status.as_str())
            .bind(&finish.error)
            .bind(i64::from(finish.turns))
            .bind(as_i64(finish.tokens.input))
            .bind(as_i64(finish.tokens.output))
            .bind(as_i64(finish.tokens.cache_read))
            .bind(as_i64(finish.tokens.cache_write))
            .bind(&finish.summary)
            .bind(finish.finished_at)
            .bind(tick_id)
            .bind(finish.failed_by.map(FailedBy::as_str))
            .bind(&finish.finish_reason)
            .bind(finish.cost_usd)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 1
                && let Some(next_due_at) = finish.next_due_at
            {
                // In the same transaction: a tick that ended is never due
                // again at once because a later write failed.
                sqlx::query(
                    "UPDATE personas SET next_due_at = $1 \
                     WHERE user_id = (SELECT persona_id FROM persona_ticks WHERE tick_id = $2)",
                )
                .bind(next_due_at)
                .bind(tick_id)
                .execute(&mut *tx)
                .await?;
            }
            if updated == 1
                && let Some(items) = &transcript
            {
                sqlx::query(
                    "INSERT INTO tick_transcripts (tick_id, items, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (tick_id) DO NOTHING",
                )
                .bind(tick_id)
                .bind(items)
                .bind(finish.finished_at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            updated
        });
        Ok(updated == 1)
    }

    /// Marks ticks still `running` that started before `started_before` as
    /// `aborted` when no runner holds their persona's lease: the runner that
    /// ran them is gone. A tick whose persona is leased is left alone, since
    /// another replica may be running it. Returns how many.
    pub async fn abort_stale_ticks(
        &self,
        started_before: DateTime<Utc>,
        now: DateTime<Utc>,
        reason: &str,
    ) -> Result<u64, StoreError> {
        let aborted = with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE persona_ticks SET status = 'aborted', error = $1, finished_at = $2 \
                 WHERE status = 'running' AND started_at < $3 AND persona_id IN \
                 (SELECT user_id FROM personas WHERE lease_until IS NULL OR lease_until <= $2)",
            )
            .bind(reason)
            .bind(now)
            .bind(started_before)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(aborted)
    }

    pub async fn tick(&self, tick_id: &str) -> Result<TickRow, StoreError> {
        let row: Option<TickDbRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT tick_id, persona_id, status, error, failed_by, finish_reason, provider, \
                     model, turns, input_tokens, output_tokens, cache_read_tokens, \
                     cache_write_tokens, cost_usd, summary, started_at, finished_at \
                 FROM persona_ticks WHERE tick_id = $1",
            )
            .bind(tick_id)
            .fetch_optional(pool)
            .await?
        });
        row.ok_or_else(|| StoreError::not_found("tick", tick_id))?
            .try_into()
    }
}

async fn persona_exists<'c, DB>(
    tx: &mut sqlx::Transaction<'c, DB>,
    persona_id: &str,
) -> Result<bool, sqlx::Error>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
{
    let found: Option<(i64,)> =
        sqlx::query_as("SELECT COUNT(*) FROM personas WHERE user_id = $1 HAVING COUNT(*) > 0")
            .bind(persona_id)
            .fetch_optional(&mut **tx)
            .await?;
    Ok(found.is_some())
}

async fn bump_last_active<'c, DB>(
    tx: &mut sqlx::Transaction<'c, DB>,
    persona_id: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error>
where
    DB: sqlx::Database,
    for<'e> &'e mut DB::Connection: sqlx::Executor<'e, Database = DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> DateTime<Utc>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
{
    sqlx::query("UPDATE personas SET last_active_at = $1 WHERE user_id = $2")
        .bind(now)
        .bind(persona_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
