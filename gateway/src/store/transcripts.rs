//! Reading ticks back: their transcripts (written with the tick's end by
//! `Store::finish_tick`, in the same transaction), forgotten once older than
//! the runner's retention, and what the ticks of a day spent.

use catalog::internal_api::{PersonaSpend, TickDetail};
use catalog::transcript::TranscriptItem;
use chrono::{DateTime, Utc};

use super::{Store, StoreError, to_u64, with_pool};

impl Store {
    /// A tick's transcript; empty when none was stored (a tick still
    /// running, or one whose transcript was forgotten).
    pub async fn tick_transcript(&self, tick_id: &str) -> Result<Vec<TranscriptItem>, StoreError> {
        let row: Option<(String,)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT items FROM tick_transcripts WHERE tick_id = $1")
                .bind(tick_id)
                .fetch_optional(pool)
                .await?
        });
        match row {
            None => Ok(Vec::new()),
            Some((items,)) => serde_json::from_str(&items).map_err(|error| {
                StoreError::Corrupt(format!("tick {tick_id}'s transcript: {error}"))
            }),
        }
    }

    /// Everything stored of one tick: its row, its persona's email, its
    /// actions and feedback, and its transcript.
    pub async fn tick_detail(&self, tick_id: &str) -> Result<TickDetail, StoreError> {
        let tick = self.tick(tick_id).await?;
        let persona_email = self.persona(&tick.persona_id).await?.email;
        Ok(TickDetail {
            actions: self.tick_actions(tick_id).await?,
            feedback: self.tick_feedback(tick_id).await?,
            transcript: self.tick_transcript(tick_id).await?,
            persona_email,
            tick,
        })
    }

    /// Deletes the transcripts of ticks that ended before `before`; the tick
    /// rows, actions and feedback stay. Returns how many were deleted.
    pub async fn forget_transcripts(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM tick_transcripts WHERE created_at < $1")
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted)
    }

    /// What each persona's ticks started at or after `since` spent: the sum
    /// of their known costs and of all their tokens.
    pub async fn spent_since(&self, since: DateTime<Utc>) -> Result<Vec<PersonaSpend>, StoreError> {
        let rows: Vec<(String, Option<f64>, Option<i64>)> = with_pool!(self, |pool| {
            sqlx::query_as(
                // IMPORTANT: PostgreSQL sums BIGINT into NUMERIC, which does
                // not decode as i64; the cast keeps one query for both engines.
                "SELECT persona_id, SUM(COALESCE(cost_usd, 0.0)), \
                     CAST(SUM(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens) AS BIGINT) \
                 FROM persona_ticks WHERE started_at >= $1 GROUP BY persona_id",
            )
            .bind(since)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(persona_id, cost_usd, tokens)| {
                Ok(PersonaSpend {
                    cost_usd: cost_usd.unwrap_or(0.0),
                    tokens: to_u64(tokens.unwrap_or(0), "tokens")?,
                    persona_id,
                })
            })
            .collect()
    }
}
