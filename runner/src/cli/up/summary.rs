//! The summary table `persona up --once` prints when every tick is done.

use std::collections::BTreeMap;
use std::time::Duration;

use actors::runtime::persona::TickSummary;

/// The table `--once` ends with: one line per tick, then the totals by
/// outcome.
pub(super) fn print_summary(finished: &BTreeMap<String, TickSummary>, took: Duration) {
    println!();
    println!(
        "{:<28} {:>5} {:>6} {:>6} {:>6} {:>6} {:>9} {:>10}  {:<36}  outcome",
        "persona", "turns", "tools", "errors", "agent", "rated", "duration", "cost", "tick"
    );
    for (email, summary) in finished {
        let outcome = outcome(summary);
        println!(
            "{:<28} {:>5} {:>6} {:>6} {:>6} {:>6} {:>8.1}s {:>10}  {:<36}  {}",
            email,
            summary.turns,
            summary.actions,
            summary.failed_actions,
            summary.agent_errors,
            summary.modules_rated,
            summary.duration_ms as f64 / 1000.0,
            dollars(summary.cost_usd),
            summary.tick_id,
            outcome
        );
    }
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for summary in finished.values() {
        *by_status.entry(summary.status.as_str()).or_default() += 1;
    }
    let outcomes: Vec<String> = by_status
        .iter()
        .map(|(status, count)| format!("{count} {status}"))
        .collect();
    let tools: usize = finished.values().map(|summary| summary.actions).sum();
    // Unknown as soon as one tick's cost is (a hosted model without a price).
    let cost = finished
        .values()
        .try_fold(0.0, |total, summary| Some(total + summary.cost_usd?));
    println!(
        "{} ticks ({}), {tools} tool calls in {:.1}s, cost {}",
        finished.len(),
        outcomes.join(", "),
        took.as_secs_f64(),
        dollars(cost)
    );
    if let Some(summary) = finished.values().next() {
        println!(
            "what a persona did, call by call: persona tick show {}",
            summary.tick_id
        );
    }
}

/// `$0.0123`, or `unknown` for a hosted model without a price.
fn dollars(usd: Option<f64>) -> String {
    match usd {
        Some(usd) => format!("${usd:.4}"),
        None => "unknown".to_owned(),
    }
}

/// A tick's outcome in words: its status, and for one not ok who it is down
/// to and why (`failed (llm): the LLM request timed out …`).
pub(super) fn outcome(summary: &TickSummary) -> String {
    match (&summary.error, summary.failed_by) {
        (None, _) => summary.status.as_str().to_owned(),
        (Some(error), Some(who)) => format!("{} ({who}): {error}", summary.status.as_str()),
        (Some(error), None) => format!("{}: {error}", summary.status.as_str()),
    }
}
