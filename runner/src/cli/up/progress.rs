//! What `persona up --once` shows while it waits for ticks: live lines
//! (indicatif) on a terminal, plain lines as ticks finish otherwise.

use std::collections::HashMap;
use std::io::IsTerminal as _;

use actors::progress::Waiting;
use actors::runtime::persona::TickSummary;

/// Progress while `--once` waits: on a terminal, one live line per running
/// persona (elapsed time, turn, tool calls so far) under a count of
/// finished ticks; otherwise plain lines as ticks finish.
pub(super) enum Progress {
    Live {
        bars: indicatif::MultiProgress,
        total: indicatif::ProgressBar,
        running: HashMap<String, indicatif::ProgressBar>,
    },
    Plain,
}

impl Progress {
    pub(super) fn new(total: usize) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress::Plain;
        }
        let bars = indicatif::MultiProgress::new();
        crate::telemetry::draw_logs_above(&bars);
        let bar = bars.add(indicatif::ProgressBar::new(total as u64));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} ticks done, {elapsed} elapsed",
        ) {
            bar.set_style(style);
        }
        bar.tick();
        Progress::Live {
            bars,
            total: bar,
            running: HashMap::new(),
        }
    }

    pub(super) fn is_live(&self) -> bool {
        matches!(self, Progress::Live { .. })
    }

    /// A line that stays, above the live ones.
    pub(super) fn note(&self, text: &str) {
        match self {
            Progress::Live { bars, .. } => {
                let _ = bars.println(text);
            }
            Progress::Plain => eprintln!("{text}"),
        }
    }

    /// Redraws the line of every persona still in `waiting`.
    pub(super) fn show_running(
        &mut self,
        snapshot: &actors::runtime::supervisor::Snapshot,
        waiting: &HashMap<String, String>,
    ) {
        let Progress::Live {
            bars,
            running,
            total,
        } = self
        else {
            return;
        };
        // Redrawn on every poll, so its elapsed time moves.
        total.tick();
        for entry in &snapshot.personas {
            if !waiting.contains_key(&entry.persona_id) {
                continue;
            }
            let Some(status) = &entry.status else {
                continue;
            };
            let line = running.entry(entry.persona_id.clone()).or_insert_with(|| {
                let line = bars.add(indicatif::ProgressBar::new_spinner());
                if let Ok(style) = indicatif::ProgressStyle::with_template("  {spinner} {msg}") {
                    line.set_style(style);
                }
                line
            });
            let elapsed = status
                .current_tick_started_at
                .map(|started| (chrono::Utc::now() - started).num_seconds().max(0))
                .unwrap_or(0);
            let message = match status
                .current_progress
                .and_then(|progress| progress.waiting)
            {
                None | Some(Waiting::Permit) => format!(
                    "{:<28} {:>4}s  waiting to start (PERSONA_CONCURRENCY)",
                    entry.email, elapsed
                ),
                Some(waiting) => {
                    let progress = status.current_progress.unwrap_or_default();
                    let doing = match waiting {
                        Waiting::Login => "logging in",
                        Waiting::RateSlot => "waiting for a rate slot (PERSONA_LLM_RPM)",
                        Waiting::Llm => "asking the model",
                        Waiting::Tool => "calling tools",
                        Waiting::Saving | Waiting::Permit => "saving its rows",
                    };
                    format!(
                        "{:<28} {:>4}s  turn {:>2}  {:>2} tool calls  {doing}",
                        entry.email,
                        elapsed,
                        progress.turns + 1,
                        progress.tool_calls
                    )
                }
            };
            line.set_message(message);
            line.tick();
        }
    }

    pub(super) fn finished(&mut self, persona_id: &str, email: &str, summary: &TickSummary) {
        let line = format!(
            "tick {} {email} ({}): {} tools, {} errors, {} agent errors, {} rated in {:.1}s{}",
            summary.status.as_str(),
            summary.tick_id,
            summary.actions,
            summary.failed_actions,
            summary.agent_errors,
            summary.modules_rated,
            summary.duration_ms as f64 / 1000.0,
            summary
                .error
                .as_deref()
                .map(|error| format!(" ({error})"))
                .unwrap_or_default()
        );
        match self {
            Progress::Live {
                bars,
                total,
                running,
            } => {
                if let Some(bar) = running.remove(persona_id) {
                    bar.finish_and_clear();
                    bars.remove(&bar);
                }
                let _ = bars.println(line);
                total.inc(1);
            }
            Progress::Plain => println!("{line}"),
        }
    }

    pub(super) fn done(&self) {
        if let Progress::Live { bars, total, .. } = self {
            total.finish_and_clear();
            let _ = bars.clear();
        }
    }
}
