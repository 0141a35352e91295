//! `persona tick show TICK_ID`: one tick as stored — its row, every call,
//! its ratings and its transcript — as text for a person or, with `--json`,
//! the same body the control API's `GET /ticks/{tick_id}` answers.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use actors::internal_api::InternalApi;
use actors::runtime::{BackendError, TickLedger};
use anyhow::Context as _;
use catalog::internal_api::TickDetail;
use catalog::transcript::{Phase, TranscriptItem};
use catalog::{ActionResult, TokenUsage};

use super::gateway::DatabaseArgs;
use crate::config::Secrets;
use crate::wiring::StoreLedger;

/// Show what a persona did in one tick: what it was told, what the model
/// answered, every tool call with its input and answer, the ratings and
/// what it cost.
///
/// The tick ids are in the `persona up --once` summary, in `GET /supervisor`
/// (`lastOutcome.tickId`) and in the log. Reads the database (`--db`, the
/// default `persona up` writes) or the app's internal API (`--api`). Exit
/// codes: 0 shown, 1 no such tick, 2 the store could not be read.
#[derive(Debug, clap::Args)]
pub struct Show {
    /// The tick's id.
    tick_id: String,
    /// Print the stored tick as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Read through the app's internal API at this base URL instead of the
    /// database (needs MANA_SERVICE_KEY).
    #[arg(long, env = "MANA_API_URL")]
    api: Option<String>,
    #[command(flatten)]
    database: DatabaseArgs,
}

impl Show {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let ledger: Arc<dyn TickLedger> = match &self.api {
            Some(api) => {
                let secrets = Secrets::from_env()?;
                Arc::new(
                    InternalApi::new(api, secrets.service_key, secrets.seed_secret)
                        .context("building the internal API client")?,
                )
            }
            None => Arc::new(StoreLedger(self.database.open_existing().await?)),
        };
        let detail = match ledger.tick(&self.tick_id).await {
            Ok(detail) => detail,
            Err(BackendError::UnknownTick(_)) => {
                eprintln!("no tick {} is stored", self.tick_id);
                return Ok(ExitCode::from(1));
            }
            Err(error) => return Err(error).context("reading the tick"),
        };
        if self.json {
            println!("{}", serde_json::to_string_pretty(&detail)?);
        } else {
            print!("{}", render(&detail));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The tick as text: a header, the transcript in order (calls numbered as
/// the rating prompt numbers them, so a note's `#2` points at a line here),
/// then the ratings.
pub fn render(detail: &TickDetail) -> String {
    let tick = &detail.tick;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tick {} · {} · {} · {}/{}",
        tick.tick_id,
        detail.persona_email,
        tick.status.as_str(),
        tick.provider,
        tick.model
    );
    let took = tick
        .finished_at
        .map(|end| format!(" ({:.1} s)", (end - tick.started_at).as_seconds_f64()))
        .unwrap_or_else(|| " (still running)".to_owned());
    let _ = writeln!(
        out,
        "started {}{took} · {} turns · {} · cost {}",
        tick.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
        tick.turns,
        tokens(tick.tokens),
        match tick.cost_usd {
            Some(usd) => format!("${usd:.4}"),
            None => "unknown (no price for this model)".to_owned(),
        }
    );
    if let Some(error) = &tick.error {
        let who = tick
            .failed_by
            .map(|who| format!(" (failed by the {who})"))
            .unwrap_or_default();
        let _ = writeln!(out, "why{who}: {error}");
    }
    if let Some(reason) = &tick.finish_reason {
        let _ = writeln!(out, "last finish reason: {reason}");
    }
    if detail.transcript.is_empty() {
        let _ = writeln!(
            out,
            "\n(no transcript: the tick is still running, or its transcript is past its retention)"
        );
    }
    let mut calls = 0;
    let mut last_system: Option<&str> = None;
    for item in &detail.transcript {
        match item {
            TranscriptItem::Prompt {
                phase,
                system,
                text,
            } => {
                let _ = writeln!(out, "\n── {} ──", phase_title(*phase));
                if last_system == Some(system.as_str()) {
                    let _ = writeln!(out, "[system] (as above)");
                } else {
                    let _ = writeln!(out, "[system]\n{}", indented(system));
                }
                last_system = Some(system);
                let _ = writeln!(out, "[prompt]\n{}", indented(text));
            }
            TranscriptItem::Answer {
                turn,
                text,
                finish_reason,
                tokens: used,
                ..
            } => {
                let _ = writeln!(out, "[answer {turn} · {finish_reason} · {}]", tokens(*used));
                if !text.trim().is_empty() {
                    let _ = writeln!(out, "{}", indented(text));
                }
            }
            TranscriptItem::Call {
                tool,
                input,
                result,
                failed_by,
                output,
                latency_ms,
                ..
            } => {
                calls += 1;
                let outcome = match (result, failed_by) {
                    (ActionResult::Ok, _) => "ok".to_owned(),
                    (ActionResult::Error, Some(who)) => format!("error ({who})"),
                    (ActionResult::Error, None) => "error".to_owned(),
                };
                let _ = writeln!(
                    out,
                    "  #{calls} {tool} {input} → {outcome} ({latency_ms} ms)"
                );
                let _ = writeln!(out, "{}", indented(output));
            }
        }
    }
    if !detail.feedback.is_empty() {
        let _ = writeln!(out, "\n── ratings ──");
        for rating in &detail.feedback {
            let score = rating
                .rating
                .map(|rating| format!("{rating}/5"))
                .unwrap_or_else(|| "unreadable".to_owned());
            let _ = writeln!(out, "  {} {score}: {}", rating.module, rating.notes);
        }
    }
    if let Some(summary) = &tick.summary {
        let _ = writeln!(out, "\nthe persona's summary: {summary}");
    }
    out
}

fn phase_title(phase: Phase) -> &'static str {
    match phase {
        Phase::Day => "the day",
        Phase::Rating => "the rating turn",
    }
}

fn tokens(used: TokenUsage) -> String {
    let mut text = format!("{} in / {} out tokens", used.input, used.output);
    if used.cache_read + used.cache_write > 0 {
        let _ = write!(
            text,
            " (cache read {}, written {})",
            used.cache_read, used.cache_write
        );
    }
    text
}

/// Each line of `text` indented by four spaces.
fn indented(text: &str) -> String {
    text.lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}
