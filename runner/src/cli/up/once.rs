//! The `--once` run: starts a tick for every due persona (or the ones
//! named with `--persona`), waits for them while showing progress, cancels
//! them on the first signal, and turns the outcomes into an exit code.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use actors::runtime::persona::TickSummary;
use catalog::TickStatus;
use gateway::store::Store;

use anyhow::Context as _;

use super::progress::Progress;
use super::report::{self, Threshold, TickReport};
use super::summary::print_summary;
use crate::system::RunnerSystem;

/// Ticks every due persona once and prints the summary table.
pub(super) async fn run_once(
    store: &Store,
    system: &RunnerSystem,
    only: &[String],
    reporting: &Reporting,
) -> anyhow::Result<ExitCode> {
    let mut due = store.due_personas(gateway::store::now()).await?;
    if !only.is_empty() {
        let known = store.list_personas(gateway::store::now()).await?;
        for email in only {
            if !known
                .iter()
                .any(|known| known.persona.email.eq_ignore_ascii_case(email))
            {
                anyhow::bail!("--persona {email}: no such persona");
            }
        }
        due.retain(|persona| {
            only.iter()
                .any(|email| persona.email.eq_ignore_ascii_case(email))
        });
    }
    if due.is_empty() {
        println!(
            "nobody is due: every persona ticked within its cadence (hourly, daily, weekdays)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    // A run that no pass will ever let go would wait forever.
    let dispatcher = system.handles.dispatcher_status();
    if dispatcher.paused_by_budget {
        anyhow::bail!(
            "the fleet's budget for today is spent; nothing would start before 00:00 UTC"
        );
    }
    if dispatcher.paused {
        let why = match system.handles.fleet().await?.switch {
            Some(switch) => format!(
                "set by {} at {}: {}",
                switch.set_by, switch.set_at, switch.reason
            ),
            None => "set at start".to_owned(),
        };
        anyhow::bail!(
            "the fleet's kill-switch is on ({why}); lift it with `curl -XPOST <control>/resume` on a running daemon first"
        );
    }
    // persona id → tick id while running; the email names it in the output.
    let mut waiting = HashMap::new();
    let mut emails = HashMap::new();
    for persona in &due {
        match system.start_tick(&persona.user_id).await {
            Ok(tick_id) => {
                waiting.insert(persona.user_id.clone(), tick_id);
                emails.insert(persona.user_id.clone(), persona.email.clone());
            }
            Err(error) => eprintln!("{}: not started: {error:#}", persona.email),
        }
    }
    let mut progress = Progress::new(waiting.len());
    let began = Instant::now();
    let mut finished: BTreeMap<String, TickSummary> = BTreeMap::new();
    let interrupted = crate::shutdown::signal();
    tokio::pin!(interrupted);
    let mut cancelled = false;
    while !waiting.is_empty() {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = &mut interrupted, if !cancelled => {
                cancelled = true;
                progress.note(&format!(
                    "interrupted: cancelling {} running ticks (their rows are kept; they end as aborted); \
                     press Ctrl-C again to exit at once",
                    waiting.len()
                ));
                // IMPORTANT: a second signal must not wait for the saves.
                tokio::spawn(async {
                    crate::shutdown::signal().await;
                    std::process::exit(130);
                });
                system.cancel_running("interrupted (SIGINT/SIGTERM) during persona up --once");
            }
        }
        for (persona_id, summary) in system.take_finished(&mut waiting).await? {
            let email = emails
                .remove(&persona_id)
                .unwrap_or_else(|| persona_id.clone());
            progress.finished(&persona_id, &email, &summary);
            finished.insert(email, summary);
        }
        if progress.is_live() {
            let snapshot = system.snapshot().await?;
            progress.show_running(&snapshot, &waiting);
        }
        if began.elapsed() > Duration::from_secs(3600) {
            anyhow::bail!("ticks did not finish within an hour");
        }
    }
    progress.done();
    print_summary(&finished, began.elapsed());
    let not_ok = finished
        .values()
        .filter(|summary| summary.status != TickStatus::Ok)
        .count();
    let breached = reporting.finish(system, finished, began.elapsed()).await?;
    Ok(if cancelled {
        ExitCode::from(130)
    } else if let Some(breached) = breached {
        // With thresholds, they decide: a run may tolerate some ticks
        // that did not end ok.
        if breached {
            ExitCode::from(3)
        } else {
            ExitCode::SUCCESS
        }
    } else if not_ok == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `--report` and `--fail-on`.
#[derive(Debug, Default)]
pub(super) struct Reporting {
    pub report: Option<std::path::PathBuf>,
    pub thresholds: Vec<Threshold>,
}

impl Reporting {
    /// Writes the report and checks the thresholds; `Some(breached)` when
    /// there are thresholds.
    async fn finish(
        &self,
        system: &RunnerSystem,
        finished: BTreeMap<String, TickSummary>,
        took: Duration,
    ) -> anyhow::Result<Option<bool>> {
        if self.report.is_none() && self.thresholds.is_empty() {
            return Ok(None);
        }
        let mut ticks = Vec::with_capacity(finished.len());
        for (email, summary) in finished {
            let ratings = system
                .handles
                .tick(&summary.tick_id)
                .await
                .with_context(|| format!("reading tick {} for the report", summary.tick_id))?
                .feedback
                .into_iter()
                .filter_map(|row| Some((row.module, row.rating?.get())))
                .collect();
            ticks.push(TickReport {
                email,
                summary,
                ratings,
            });
        }
        let checked: Vec<_> = self
            .thresholds
            .iter()
            .map(|threshold| threshold.check(&ticks))
            .collect();
        for checked in &checked {
            let value = checked.value.map_or_else(
                || "could not be measured".to_owned(),
                |value| format!("{value:.4}"),
            );
            println!(
                "--fail-on {}: {value} → {}",
                checked.threshold.text,
                if checked.breached {
                    "the run fails (exit 3)"
                } else {
                    "ok"
                }
            );
        }
        if let Some(path) = &self.report {
            report::write(path, &ticks, &checked, took.as_secs_f64())?;
            println!("report written to {}", path.display());
        }
        Ok((!self.thresholds.is_empty()).then(|| checked.iter().any(|checked| checked.breached)))
    }
}
