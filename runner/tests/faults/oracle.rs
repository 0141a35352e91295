//! Counting what a scenario stored against what the fake model knows was
//! executed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use actors::testing::FakeModel;
use sqlx::Connection as _;

#[derive(Debug, Default)]
pub struct Outcome {
    pub ticks_ok: usize,
    /// Finished but not ok: idle or incomplete.
    pub ticks_short: usize,
    pub ticks_failed: usize,
    pub ticks_aborted: usize,
    pub ticks_running: usize,
    pub rows: usize,
    pub llm_faults: u64,
    /// Answered tool uses of finished ticks without a row: (tick, tool use).
    pub lost: Vec<(String, String)>,
    /// Tool uses stored more than once, with how often.
    pub doubled: Vec<(String, usize)>,
    /// Answered tool uses of aborted ticks without a row: a SIGKILL took
    /// them before persistence acknowledged them.
    pub unacknowledged: usize,
}

pub async fn count(database_url: &str, model: &FakeModel) -> Outcome {
    let mut db = sqlx::PgConnection::connect(database_url).await.unwrap();
    let ticks: Vec<(String, String)> = sqlx::query_as("SELECT tick_id, status FROM persona_ticks")
        .fetch_all(&mut db)
        .await
        .unwrap();
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT tick_id, tool_use_id FROM persona_actions")
            .fetch_all(&mut db)
            .await
            .unwrap();

    let issued = model.issued();
    let conversation_of: HashMap<&str, u64> = issued
        .iter()
        .map(|call| (call.id.as_str(), call.conversation))
        .collect();
    let mut answered: HashMap<u64, BTreeSet<&str>> = HashMap::new();
    for call in issued.iter().filter(|call| call.answered) {
        answered
            .entry(call.conversation)
            .or_default()
            .insert(call.id.as_str());
    }

    let mut outcome = Outcome {
        rows: rows.len(),
        llm_faults: model.stats().faults.values().sum(),
        ..Outcome::default()
    };
    let mut stored: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_tick: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for (tick_id, tool_use_id) in &rows {
        if let Some(id) = tool_use_id {
            *stored.entry(id.as_str()).or_default() += 1;
            by_tick
                .entry(tick_id.as_str())
                .or_default()
                .insert(id.as_str());
        }
    }
    outcome.doubled = stored
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(id, count)| ((*id).to_owned(), *count))
        .collect();

    for (tick_id, status) in &ticks {
        let finished = match status.as_str() {
            "ok" => {
                outcome.ticks_ok += 1;
                true
            }
            "idle" | "incomplete" => {
                outcome.ticks_short += 1;
                true
            }
            "failed" => {
                outcome.ticks_failed += 1;
                true
            }
            "aborted" => {
                outcome.ticks_aborted += 1;
                false
            }
            _ => {
                outcome.ticks_running += 1;
                false
            }
        };
        let Some(ids) = by_tick.get(tick_id.as_str()) else {
            continue;
        };
        // The conversations this tick's rows came from: one, unless the
        // runner mixed ticks up, which would show as rows doubled or lost.
        let conversations: BTreeSet<u64> = ids
            .iter()
            .filter_map(|id| conversation_of.get(id).copied())
            .collect();
        for conversation in conversations {
            for id in answered.get(&conversation).into_iter().flatten() {
                if ids.contains(id) {
                    continue;
                }
                if finished {
                    outcome.lost.push((tick_id.clone(), (*id).to_owned()));
                } else {
                    outcome.unacknowledged += 1;
                }
            }
        }
    }
    outcome
}
