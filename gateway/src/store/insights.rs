//! What the dashboard shows of the stored rows: the latest ticks, and the
//! fleet's ratings, tool calls and costs by day. Rows are read in one query
//! per table and grouped here, by UTC day: the two engines name days
//! differently, and one query for both stays the rule.

use std::collections::BTreeMap;

use catalog::internal_api::{
    CostDay, Insights, ListedTick, MAX_TICK_LIST, ModuleDay, TickListQuery, ToolStats,
};
use catalog::{ActionResult, FailedBy, TickStatus};
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::FromRow;

use super::audit::{TickDbRow, parse_failed_by};
use super::{Store, StoreError, to_u64, with_pool};

#[derive(FromRow)]
struct ListedTickRow {
    #[sqlx(flatten)]
    tick: TickDbRow,
    persona_email: String,
    actions: i64,
    failed_actions: i64,
}

impl Store {
    /// The latest `query.limit` ticks (at most [`MAX_TICK_LIST`]), of one
    /// persona or of all, newest first, with their calls counted.
    pub async fn list_ticks(&self, query: &TickListQuery) -> Result<Vec<ListedTick>, StoreError> {
        let limit = i64::from(query.limit.min(MAX_TICK_LIST));
        let rows: Vec<ListedTickRow> = with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT t.tick_id, t.persona_id, t.status, t.error, t.failed_by, t.finish_reason, \
                     t.provider, t.model, t.turns, t.input_tokens, t.output_tokens, \
                     t.cache_read_tokens, t.cache_write_tokens, t.cost_usd, t.summary, \
                     t.started_at, t.finished_at, {email} AS persona_email, \
                     (SELECT COUNT(*) FROM persona_actions a WHERE a.tick_id = t.tick_id) AS actions, \
                     (SELECT COUNT(*) FROM persona_actions a \
                      WHERE a.tick_id = t.tick_id AND a.result = $3) AS failed_actions \
                 FROM {personas} JOIN persona_ticks t ON t.persona_id = p.user_id \
                 WHERE ($2 IS NULL OR t.persona_id = $2) \
                 ORDER BY t.started_at DESC, t.tick_id DESC LIMIT $1",
                email = self.schema.email(),
                personas = self.schema.personas_from(),
            )))
            .bind(limit)
            .bind(query.persona.as_deref())
            .bind(ActionResult::Error.as_str())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|row| {
                Ok(ListedTick {
                    tick: row.tick.try_into()?,
                    persona_email: row.persona_email,
                    actions: to_u64(row.actions, "action count")?,
                    failed_actions: to_u64(row.failed_actions, "failed action count")?,
                })
            })
            .collect()
    }

    /// The ratings by module and day, the calls by tool and the costs by
    /// day of everything stored since `since`.
    pub async fn insights(&self, since: DateTime<Utc>) -> Result<Insights, StoreError> {
        Ok(Insights {
            since,
            ratings: self.ratings_by_day(since).await?,
            tools: self.tool_stats(since).await?,
            costs: self.costs_by_day(since).await?,
        })
    }

    async fn ratings_by_day(&self, since: DateTime<Utc>) -> Result<Vec<ModuleDay>, StoreError> {
        let rows: Vec<(String, i64, DateTime<Utc>)> = with_pool!(self, |pool| {
            // The parse-failure row has no rating and is no module's.
            sqlx::query_as(
                "SELECT module, rating, created_at FROM persona_feedback \
                 WHERE created_at >= $1 AND rating IS NOT NULL",
            )
            .bind(since)
            .fetch_all(pool)
            .await?
        });
        let mut sums: BTreeMap<(String, NaiveDate), (i64, u64)> = BTreeMap::new();
        for (module, rating, at) in rows {
            let entry = sums.entry((module, at.date_naive())).or_default();
            entry.0 += rating;
            entry.1 += 1;
        }
        Ok(sums
            .into_iter()
            .map(|((module, day), (sum, count))| ModuleDay {
                module,
                day,
                mean: sum as f64 / count as f64,
                ratings: count,
            })
            .collect())
    }

    async fn tool_stats(&self, since: DateTime<Utc>) -> Result<Vec<ToolStats>, StoreError> {
        let rows: Vec<(String, String, Option<String>, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT tool_name, result, failed_by, latency_ms FROM persona_actions \
                 WHERE created_at >= $1",
            )
            .bind(since)
            .fetch_all(pool)
            .await?
        });
        #[derive(Default)]
        struct Tally {
            app_errors: u64,
            agent_errors: u64,
            latencies: Vec<u64>,
        }
        let mut tools: BTreeMap<String, Tally> = BTreeMap::new();
        for (tool, result, failed_by, latency_ms) in rows {
            let tally = tools.entry(tool).or_default();
            tally.latencies.push(to_u64(latency_ms, "latency")?);
            if ActionResult::parse(&result) == Some(ActionResult::Error) {
                // Old rows without the label were all taken for the app's.
                match parse_failed_by(failed_by.as_deref())? {
                    Some(FailedBy::Agent) => tally.agent_errors += 1,
                    _ => tally.app_errors += 1,
                }
            }
        }
        Ok(tools
            .into_iter()
            .map(|(tool, mut tally)| {
                tally.latencies.sort_unstable();
                ToolStats {
                    tool,
                    calls: tally.latencies.len() as u64,
                    app_errors: tally.app_errors,
                    agent_errors: tally.agent_errors,
                    p50_ms: nearest_rank(&tally.latencies, 50),
                    p99_ms: nearest_rank(&tally.latencies, 99),
                }
            })
            .collect())
    }

    async fn costs_by_day(&self, since: DateTime<Utc>) -> Result<Vec<CostDay>, StoreError> {
        let rows: Vec<(DateTime<Utc>, String, Option<f64>, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT started_at, status, cost_usd, \
                     input_tokens + output_tokens + cache_read_tokens + cache_write_tokens \
                 FROM persona_ticks WHERE started_at >= $1",
            )
            .bind(since)
            .fetch_all(pool)
            .await?
        });
        let mut days: BTreeMap<NaiveDate, CostDay> = BTreeMap::new();
        for (started_at, status, cost_usd, tokens) in rows {
            let day = started_at.date_naive();
            let entry = days.entry(day).or_insert_with(|| CostDay {
                day,
                ticks: 0,
                not_ok: 0,
                cost_usd: 0.0,
                tokens: 0,
            });
            entry.ticks += 1;
            if TickStatus::parse(&status) != Some(TickStatus::Ok) {
                entry.not_ok += 1;
            }
            entry.cost_usd += cost_usd.unwrap_or(0.0);
            entry.tokens += to_u64(tokens, "tokens")?;
        }
        Ok(days.into_values().collect())
    }
}

/// The nearest-rank `percent`th percentile of sorted values; 0 for none.
fn nearest_rank(sorted: &[u64], percent: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::nearest_rank;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<u64> = (1..=100).collect();
        assert_eq!(nearest_rank(&values, 50), 50);
        assert_eq!(nearest_rank(&values, 99), 99);
        assert_eq!(nearest_rank(&[7], 99), 7);
        assert_eq!(nearest_rank(&[1, 2, 3], 50), 2);
        assert_eq!(nearest_rank(&[], 50), 0);
    }
}
