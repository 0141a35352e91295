//! The dashboard's HTML. The fleet is rendered from `/supervisor`'s own
//! answer, so the page, its live updates and the JSON API never disagree.

use catalog::internal_api::{Insights, ListedTick, TickDetail, ToolStats};
use catalog::transcript::TranscriptItem;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

use super::charts;
use crate::control::ControlState;
use crate::control::views::{FleetAnswer, PersonaState, PersonaView, SupervisorView};

/// What every page's frame needs.
pub struct Chrome {
    /// `RUNNER_ADMIN_TOKEN` is set: commands and transcripts need it.
    pub token_required: bool,
    pub replica: String,
}

impl Chrome {
    pub fn of(state: &ControlState) -> Chrome {
        Chrome {
            token_required: state.admin_token.is_some(),
            replica: state.runner.replica_id.clone(),
        }
    }
}

/// An app error rate above this marks a tool's row.
const APP_ERROR_WARNING: f64 = 0.05;

fn layout(chrome: &Chrome, title: &str, current: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · persona runner" }
                // No favicon request: the page needs none.
                link rel="icon" href="data:,";
                link rel="stylesheet" href="/ui/dashboard.css";
                script src="/ui/dashboard.js" defer {}
            }
            body data-token-required=(chrome.token_required) {
                header {
                    nav aria-label="Dashboard" {
                        strong { "persona runner" }
                        a href="/" aria-current=[(current == "fleet").then_some("page")] { "Fleet" }
                        a href="/ui/ticks" aria-current=[(current == "ticks").then_some("page")] { "Ticks" }
                        a href="/supervisor" { "JSON" }
                        a href="/metrics" { "Metrics" }
                    }
                    span.replica { "replica " code { (chrome.replica) } }
                    form #login hidden aria-label="Admin token" {
                        label for="token" { "Admin token" }
                        input #token type="password" autocomplete="off" required;
                        button type="submit" { "Use for this tab" }
                        span #login-message {}
                    }
                    button #logout type="button" hidden { "Forget token" }
                }
                p #status role="status" aria-live="polite" {}
                main { (body) }
            }
        }
    }
}

fn usd(amount: f64) -> String {
    format!("${amount:.4}")
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A table's header row: one column header per name.
fn column_heads(names: &[&str]) -> Markup {
    html! {
        thead { tr { @for name in names { th scope="col" { (name) } } } }
    }
}

/// A tick status as a badge; its class colours it.
fn status_badge(status: &str, failed_by: Option<&str>) -> Markup {
    html! {
        span class={ "badge " (status) } {
            (status)
            @if let Some(by) = failed_by { " (" (by) ")" }
        }
    }
}

pub fn fleet(
    chrome: &Chrome,
    view: &SupervisorView,
    days: u32,
    insights: Result<&Insights, &String>,
) -> Markup {
    let body = html! {
        section #fleet aria-labelledby="fleet-title" {
            (fleet_section(chrome, view))
        }
        section aria-labelledby="trends-title" {
            h2 #trends-title { "The last " (days) " days" }
            @match insights {
                Ok(insights) => (trends(insights, days)),
                Err(error) => p.error role="alert" { "The stored ticks could not be read: " (error) },
            }
        }
    };
    layout(chrome, "Fleet", "fleet", body)
}

/// The part of the fleet page the live view replaces.
pub fn fleet_section(chrome: &Chrome, view: &SupervisorView) -> Markup {
    let dispatcher = &view.dispatcher;
    let why = match &view.fleet {
        FleetAnswer::Known(fleet) => fleet.switch.as_ref().map(|switch| switch.reason.as_str()),
        FleetAnswer::Unknown { .. } => None,
    };
    html! {
        h2 #fleet-title { "Fleet" }
        @if let FleetAnswer::Unknown { error } = &view.fleet {
            p.error role="alert" { "The fleet's stored state could not be read: " (error) }
        }
        div.summary {
            p {
                @if dispatcher.paused {
                    strong.paused { "Paused" }
                    @if let Some(reason) = dispatcher.pause_reason { " (" (reason) ")" }
                    @if let Some(why) = why { ": " (why) }
                    " "
                    button type="button" data-post="/resume?reason=resumed%20from%20the%20dashboard" { "Resume the fleet" }
                } @else {
                    strong.running { "Running" }
                    " "
                    button.danger type="button" data-post="/pause?reason=paused%20from%20the%20dashboard" { "Pause the fleet (kill-switch)" }
                }
            }
            dl {
                dt { "Ticking" } dd { (dispatcher.permits_in_use) " of " (dispatcher.concurrency) }
                dt { "Waiting for a permit" } dd { (dispatcher.waiting_for_permit) }
                dt { "LLM requests" } dd { (dispatcher.llm_requests) }
                dt { "Spent today" } dd { (usd(view.budget.fleet.usd)) }
                dt { "Rows waiting to be stored" } dd {
                    (view.persistence.pending_actions + view.persistence.pending_feedback)
                }
            }
        }
        table.personas {
            caption { (view.personas.len()) " personas on replica " (chrome.replica) }
            (column_heads(&["Persona", "State", "Running tick", "Last outcome", "Next due", "Cost today", "Actions"]))
            tbody {
                @for persona in &view.personas { (persona_row(persona)) }
            }
        }
    }
}

/// A state's word, as the page and its CSS classes say it.
fn state_word(persona: &PersonaView) -> &'static str {
    match persona.state {
        Some(PersonaState::Idle) => "idle",
        Some(PersonaState::Ticking) => "ticking",
        Some(PersonaState::Paused) => "paused",
        None => match persona.actor {
            crate::control::views::ActorHealth::Running => "starting",
            crate::control::views::ActorHealth::Restarting => "restarting",
            crate::control::views::ActorHealth::Failed => "failed",
        },
    }
}

fn persona_row(persona: &PersonaView) -> Markup {
    let id = persona.id.as_str();
    let name = persona.name.as_deref().unwrap_or(&persona.email);
    let state = state_word(persona);
    let paused = persona.paused.unwrap_or(false);
    html! {
        tr data-persona=(id) data-state=(state) {
            th scope="row" {
                a href={ "/ui/ticks?persona=" (id) } { (name) }
                br;
                small { (persona.email) }
            }
            td {
                span class={ "state " (state) } { (state) }
                @if let Some(failure) = &persona.failure { br; small.error { (failure) } }
            }
            td {
                @if let Some(tick) = &persona.current_tick {
                    "turn " (persona.current_turn.unwrap_or(0))
                    ", " (persona.current_tool_calls.unwrap_or(0)) " calls"
                    @if let Some(waiting) = persona.waiting_for { ", waiting for " (waiting) }
                    br;
                    a href={ "/ui/ticks/" (tick) } { small { (tick) } }
                } @else { "—" }
            }
            td {
                @if let Some(last) = &persona.last_outcome {
                    (status_badge(last.status, last.failed_by))
                    " " (last.actions) " calls"
                    @if last.failed_actions > 0 { ", " (last.failed_actions) " app errors" }
                    @if last.agent_errors > 0 { ", " (last.agent_errors) " agent errors" }
                    br;
                    a href={ "/ui/ticks/" (last.tick_id) } aria-label={ "last tick of " (name) } { small { (last.tick_id) } }
                } @else { "no tick yet" }
            }
            td {
                @if persona.due_now.unwrap_or(false) { "due now" }
                @else if let Some(next) = persona.next_due_at {
                    (time(next))
                    @if persona.next_attempt_at.is_some() { br; small { "after a failure (backoff)" } }
                }
                @else { "—" }
            }
            td { (usd(persona.spent_today.as_ref().map(|spent| spent.usd).unwrap_or(0.0))) }
            td.actions {
                @if paused {
                    button type="button" data-post={ "/personas/" (id) "/resume" } aria-label={ "Resume " (name) } { "Resume" }
                } @else {
                    button type="button" data-post={ "/personas/" (id) "/pause" } aria-label={ "Pause " (name) } { "Pause" }
                }
                button type="button" data-post={ "/personas/" (id) "/tick" } aria-label={ "Tick " (name) " now" } disabled[paused || state == "ticking"] { "Tick now" }
            }
        }
    }
}

fn trends(insights: &Insights, days: u32) -> Markup {
    let today = Utc::now().date_naive();
    html! {
        div.charts {
            figure {
                figcaption { "Mean rating per module and day (1–5)" }
                (charts::ratings(&insights.ratings, today, days))
            }
            figure {
                figcaption { "Cost per day (US dollars)" }
                (charts::costs(&insights.costs, today, days))
            }
        }
        h3 { "Tools" }
        @if insights.tools.is_empty() {
            p { "No tool calls in this window." }
        } @else {
            table.tools {
                caption { "Calls per tool: whose errors they were and how long they took" }
                (column_heads(&["Tool", "Calls", "App errors", "Agent errors", "p50", "p99"]))
                tbody {
                    @for tool in &insights.tools { (tool_row(tool)) }
                }
            }
        }
    }
}

fn rate(errors: u64, calls: u64) -> String {
    if calls == 0 {
        return "—".into();
    }
    format!("{errors} ({:.1} %)", errors as f64 * 100.0 / calls as f64)
}

fn tool_row(tool: &ToolStats) -> Markup {
    let app_rate = if tool.calls == 0 {
        0.0
    } else {
        tool.app_errors as f64 / tool.calls as f64
    };
    html! {
        tr.warning[app_rate > APP_ERROR_WARNING] {
            th scope="row" { code { (tool.tool) } }
            td { (tool.calls) }
            td { (rate(tool.app_errors, tool.calls)) }
            td { (rate(tool.agent_errors, tool.calls)) }
            td { (tool.p50_ms) " ms" }
            td { (tool.p99_ms) " ms" }
        }
    }
}

pub fn ticks(chrome: &Chrome, persona: Option<&str>, ticks: &[ListedTick]) -> Markup {
    let body = html! {
        h2 {
            "Latest ticks"
            @if let Some(persona) = persona { " of " (ticks.first().map(|t| t.persona_email.as_str()).unwrap_or(persona)) }
        }
        @if persona.is_some() { p { a href="/ui/ticks" { "All personas" } } }
        @if ticks.is_empty() {
            p { "No tick stored yet." }
        } @else {
            table.ticks {
                caption { "Newest first" }
                (column_heads(&["Started", "Persona", "Outcome", "Turns", "Calls", "Duration", "Cost", "Tick"]))
                tbody {
                    @for listed in ticks {
                        @let tick = &listed.tick;
                        tr {
                            td { (time(tick.started_at)) }
                            td { a href={ "/ui/ticks?persona=" (tick.persona_id) } { (listed.persona_email) } }
                            td { (status_badge(tick.status.as_str(), tick.failed_by.map(catalog::FailedBy::as_str))) }
                            td { (tick.turns) }
                            td {
                                (listed.actions)
                                @if listed.failed_actions > 0 { " (" (listed.failed_actions) " failed)" }
                            }
                            td { (duration(tick.started_at, tick.finished_at)) }
                            td { (tick.cost_usd.map(usd).unwrap_or_else(|| "unknown".into())) }
                            td { a href={ "/ui/ticks/" (tick.tick_id) } { code { (tick.tick_id) } } }
                        }
                    }
                }
            }
        }
    };
    layout(chrome, "Ticks", "ticks", body)
}

fn duration(started: DateTime<Utc>, finished: Option<DateTime<Utc>>) -> String {
    match finished {
        Some(finished) => {
            let millis = (finished - started).num_milliseconds().max(0);
            format!("{:.1} s", millis as f64 / 1000.0)
        }
        None => "running".into(),
    }
}

/// The tick page's frame; its body is fetched with the admin token.
pub fn tick_shell(chrome: &Chrome, tick_id: &str) -> Markup {
    let body = html! {
        h2 { "Tick " code { (tick_id) } }
        div #tick-body data-fragment={ "/ui/ticks/" (tick_id) "/body" } aria-live="polite" {
            p { "Loading…" }
        }
    };
    layout(chrome, "Tick", "ticks", body)
}

pub fn tick_body(detail: &TickDetail) -> Markup {
    let tick = &detail.tick;
    html! {
        dl.tick {
            dt { "Persona" } dd { a href={ "/ui/ticks?persona=" (tick.persona_id) } { (detail.persona_email) } }
            dt { "Outcome" } dd { (status_badge(tick.status.as_str(), tick.failed_by.map(catalog::FailedBy::as_str))) }
            @if let Some(error) = &tick.error { dt { "Error" } dd.error { (error) } }
            dt { "Started" } dd { (time(tick.started_at)) }
            dt { "Duration" } dd { (duration(tick.started_at, tick.finished_at)) }
            dt { "Model" } dd { (tick.provider) " / " (tick.model) }
            dt { "Turns" } dd { (tick.turns) }
            dt { "Tokens" } dd { (tick.tokens.input) " in, " (tick.tokens.output) " out" }
            dt { "Cost" } dd { (tick.cost_usd.map(usd).unwrap_or_else(|| "unknown".into())) }
            @if let Some(summary) = &tick.summary { dt { "Summary" } dd { (summary) } }
        }
        h3 { "Calls" }
        @if detail.actions.is_empty() {
            p { "No tool was called." }
        } @else {
            table.calls {
                caption { (detail.actions.len()) " calls in order" }
                (column_heads(&["#", "Tool", "Result", "Latency", "Error"]))
                tbody {
                    @for action in &detail.actions {
                        tr.error[action.result == catalog::ActionResult::Error] {
                            td { (action.action_idx) }
                            td { code { (action.tool_name) } }
                            td {
                                (action.result.as_str())
                                @if let Some(by) = action.failed_by { " (" (by.as_str()) ")" }
                            }
                            td { (action.latency_ms) " ms" }
                            td { (action.error_message.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        h3 { "Ratings" }
        @if detail.feedback.is_empty() {
            p { "No module was rated." }
        } @else {
            ul.ratings {
                @for feedback in &detail.feedback {
                    li {
                        strong { (feedback.module) } ": "
                        @match feedback.rating {
                            Some(rating) => { (rating.get()) " / 5" },
                            None => { "no rating (the answer could not be read)" },
                        }
                        @if !feedback.notes.is_empty() { " — " (feedback.notes) }
                    }
                }
            }
        }
        h3 { "Transcript" }
        @if detail.transcript.is_empty() {
            p { "No transcript: the tick is running, or its transcript was forgotten after the retention." }
        } @else {
            ol.transcript {
                @for item in &detail.transcript { li { (transcript_item(item)) } }
            }
        }
    }
}

fn transcript_item(item: &TranscriptItem) -> Markup {
    match item {
        TranscriptItem::Prompt {
            phase,
            system,
            text,
        } => html! {
            details {
                summary { "Prompt (" (phase.as_str()) ")" }
                h4 { "System" } pre { (system) }
                h4 { "Prompt" } pre { (text) }
            }
        },
        TranscriptItem::Answer {
            phase,
            turn,
            text,
            finish_reason,
            tokens,
        } => html! {
            p.meta { "Answer, " (phase.as_str()) " turn " (turn) " (" (finish_reason) ", " (tokens.output) " tokens out)" }
            @if text.is_empty() { p.meta { small { "(no text: only tool calls)" } } } @else { pre { (text) } }
        },
        TranscriptItem::Call {
            tool_use_id,
            tool,
            input,
            result,
            failed_by,
            output,
            latency_ms,
        } => html! {
            p.meta {
                "Call " code { (tool) } " → " (result.as_str())
                @if let Some(by) = failed_by { " (" (by.as_str()) ")" }
                ", " (latency_ms) " ms "
                small { (tool_use_id) }
            }
            div.call {
                h4 { "Arguments" } pre { (input) }
                h4 { "Answer" } pre { (output) }
            }
        },
    }
}
