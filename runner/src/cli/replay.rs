//! `persona replay`: recorded ticks against the app as it is now.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use actors::app_client::Credentials;
use actors::internal_api::InternalApi;
use actors::mcp_client::{McpEndpoint, ToolSurface as _};
use actors::replay::{RecordedCall, ReplayedCall, Verdict, replay};
use actors::runtime::supervisor::{Directory, PersonaSeed};
use actors::runtime::{BackendError, TickLedger};
use anyhow::Context as _;
use catalog::internal_api::{MAX_TICK_LIST, TickListQuery};
use catalog::target::Target;

use crate::config::Secrets;
use crate::wiring::{StoreDirectory, StoreLedger};

/// Replay recorded ticks against the app as it is now: the same tool calls
/// with the same arguments in the same order, as the same persona, no LLM.
/// Reports each call whose outcome (ok or error) or answer shape (keys and
/// value types) changed: a regression check for a new build of the app
/// that costs no tokens. Ids the app hands out are followed (a call naming
/// an id an earlier call created gets the replay's id).
///
/// Replayed calls do what they did then: they write to the app.
///
/// Exit codes: 0 no outcome changed (shape changes are reported), 1 an
/// outcome changed or a tick is unknown, 2 it could not start.
#[derive(Debug, clap::Args)]
pub struct Replay {
    /// The tick to replay (its id); or use --since.
    #[arg(required_unless_present = "since", conflicts_with = "since")]
    tick_id: Option<String>,
    /// Replay ticks started within this span before now (`7d`, `12h`,
    /// `30m`), newest first, at most --sample of them.
    #[arg(long, value_parser = parse_span)]
    since: Option<Duration>,
    /// How many ticks --since replays at most.
    #[arg(long, default_value_t = 20)]
    sample: u32,
    /// Read ticks and personas through the app's internal API at this URL
    /// (needs MANA_SERVICE_KEY) instead of the database.
    #[arg(long, env = "MANA_API_URL", conflicts_with = "db")]
    api: Option<String>,
    /// The database the ticks are in (default: as `persona up`).
    #[arg(long, env = "DATABASE_URL")]
    db: Option<String>,
    /// The app to replay against, logging in at its routes and calling
    /// `{app}/mcp` (default: the --api URL, else 127.0.0.1:3069).
    #[arg(long, env = "MANA_APP_URL", conflicts_with = "target")]
    app_url: Option<String>,
    /// Replay against the app a target file describes instead.
    #[arg(long)]
    target: Option<std::path::PathBuf>,
}

/// `7d`, `12h`, `30m`: a span of days, hours or minutes.
fn parse_span(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let count: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a span like 7d, 12h or 30m"))?;
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        _ => return Err(format!("{text:?}: the unit is d, h or m")),
    };
    Ok(Duration::from_secs(count * seconds))
}

impl Replay {
    pub async fn run(self) -> anyhow::Result<ExitCode> {
        let secrets = Secrets::from_env()?;
        let (ledger, directory): (Arc<dyn TickLedger>, Arc<dyn Directory>) = match &self.api {
            Some(api) => {
                let internal = Arc::new(
                    InternalApi::new(
                        api,
                        secrets.service_key.clone(),
                        secrets.seed_secret.clone(),
                    )
                    .context("building the internal API client")?,
                );
                (internal.clone(), internal)
            }
            None => {
                let database = super::gateway::DatabaseArgs {
                    url: self.db.clone(),
                };
                let store = match &self.target {
                    Some(path) => database.open_for_target(path).await?,
                    None => database.open_existing().await?,
                };
                (
                    Arc::new(StoreLedger(store.clone())),
                    Arc::new(StoreDirectory {
                        store,
                        seed_secret: secrets.seed_secret.clone(),
                    }),
                )
            }
        };
        let target = match &self.target {
            Some(path) => Target::from_path(path)
                .with_context(|| format!("the target file {}", path.display()))?,
            None => {
                let app = self
                    .app_url
                    .clone()
                    .or_else(|| self.api.clone())
                    .unwrap_or_else(|| format!("http://{}", crate::config::DEFAULT_GATEWAY_ADDR));
                Target::builtin(app.trim_end_matches('/'))
            }
        };
        let app = crate::app_login::for_target(&target)?;
        let mcp = McpEndpoint::for_target(&target).context("the target's MCP server")?;
        let personas = directory.personas().await.context("reading the personas")?;
        let tick_ids = match (&self.tick_id, self.since) {
            (Some(tick_id), _) => vec![tick_id.clone()],
            (None, Some(span)) => recent_ticks(ledger.as_ref(), span, self.sample).await?,
            (None, None) => anyhow::bail!("give a TICK_ID or --since"),
        };
        if tick_ids.is_empty() {
            println!("no finished tick in that span");
            return Ok(ExitCode::SUCCESS);
        }
        let mut outcome_changed = false;
        for tick_id in &tick_ids {
            let detail = match ledger.tick(tick_id).await {
                Ok(detail) => detail,
                Err(BackendError::UnknownTick(_)) => {
                    eprintln!("no tick {tick_id} is stored");
                    outcome_changed = true;
                    continue;
                }
                Err(error) => return Err(error).context("reading the tick"),
            };
            let calls = RecordedCall::from_transcript(&detail.transcript);
            if calls.is_empty() {
                println!(
                    "tick {tick_id} ({}): no recorded call to replay{}",
                    detail.persona_email,
                    if detail.transcript.is_empty() {
                        " (its transcript was forgotten, or it is running)"
                    } else {
                        ""
                    }
                );
                continue;
            }
            let persona = personas
                .iter()
                .find(|seed| seed.profile.id == detail.tick.persona_id)
                .with_context(|| format!("tick {tick_id}'s persona is no longer there"))?;
            let replayed = replay_as(persona, &calls, app.as_ref(), &mcp)
                .await
                .with_context(|| format!("replaying tick {tick_id} as {}", detail.persona_email))?;
            outcome_changed |= report(tick_id, &detail.persona_email, &replayed);
        }
        Ok(if outcome_changed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        })
    }
}

/// The finished ticks started within `span`, newest first, at most `sample`.
async fn recent_ticks(
    ledger: &dyn TickLedger,
    span: Duration,
    sample: u32,
) -> anyhow::Result<Vec<String>> {
    let since = chrono::Utc::now()
        - chrono::TimeDelta::from_std(span).context("the --since span is too long")?;
    let listed = ledger
        .list_ticks(&TickListQuery {
            limit: MAX_TICK_LIST,
            persona: None,
        })
        .await
        .context("listing the ticks")?;
    Ok(listed
        .into_iter()
        .filter(|listed| listed.tick.started_at >= since && listed.tick.finished_at.is_some())
        .filter(|listed| listed.actions > 0)
        .take(sample as usize)
        .map(|listed| listed.tick.tick_id)
        .collect())
}

/// Logs the persona in and replays its calls in one MCP session.
async fn replay_as(
    persona: &PersonaSeed,
    calls: &[RecordedCall],
    app: &dyn actors::app_client::AppLogin,
    mcp: &McpEndpoint,
) -> anyhow::Result<Vec<ReplayedCall>> {
    let session = app
        .login(Credentials {
            persona_id: &persona.profile.id,
            email: &persona.profile.email,
            password: &persona.password,
        })
        .await
        .context("logging in")?;
    let connection = mcp
        .open(&session, &persona.profile)
        .await
        .context("opening the MCP session")?;
    // The tools as listed now; an unlisted one is an outcome of its own.
    let listed = connection.list_tools().await.context("listing the tools")?;
    let mut replayed = replay(calls, &connection).await;
    for call in &mut replayed {
        if !listed.iter().any(|tool| tool.name == call.tool)
            && !matches!(call.verdict, Verdict::NotReplayable(_))
        {
            call.verdict = Verdict::OutcomeChanged {
                was: calls[call.index].result,
                now: catalog::ActionResult::Error,
                answer: format!("{} is no longer listed", call.tool),
            };
        }
    }
    connection.close().await;
    Ok(replayed)
}

/// Prints one tick's replay; `true` when an outcome changed.
fn report(tick_id: &str, email: &str, replayed: &[ReplayedCall]) -> bool {
    println!("tick {tick_id} ({email}), {} calls:", replayed.len());
    let (mut outcomes, mut shapes, mut skipped) = (0, 0, 0);
    for call in replayed {
        let what = match &call.verdict {
            Verdict::Same => "same".to_owned(),
            Verdict::OutcomeChanged { was, now, answer } => {
                outcomes += 1;
                format!(
                    "OUTCOME CHANGED: {} then, {} now: {answer}",
                    was.as_str(),
                    now.as_str()
                )
            }
            Verdict::ShapeChanged(differences) => {
                shapes += 1;
                format!("shape changed: {}", differences.join("; "))
            }
            Verdict::NotReplayable(why) => {
                skipped += 1;
                format!("not replayed: {why}")
            }
        };
        println!("  #{:<3} {:<28} {what}", call.index + 1, call.tool);
    }
    println!(
        "  {outcomes} outcome changed, {shapes} shape changed, {skipped} not replayed, {} the same",
        replayed.len() - outcomes - shapes - skipped
    );
    outcomes > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_are_days_hours_or_minutes() {
        assert_eq!(parse_span("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_span("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert!(parse_span("7w").is_err());
        assert!(parse_span("d").is_err());
    }
}
