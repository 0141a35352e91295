//! The runner's Prometheus metrics, each described once here (its HELP
//! text and unit) and, where the label values are known before anything
//! happens, registered at zero, so a dashboard or an alert sees `0` rather
//! than no series at all. The recorder (and the histogram buckets) belong
//! to whoever installs it (`gateway::metrics::prometheus`); [`describe`]
//! runs after that.

use catalog::TickStatus;
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};

/// Finished ticks by outcome (`ok`, `idle`, `incomplete`, `failed`, `aborted`).
pub const TICKS_TOTAL: &str = "persona_ticks_total";
/// How long a tick took, start to rows stored.
pub const TICK_DURATION_SECONDS: &str = "persona_tick_duration_seconds";
/// Tool calls by tool and result.
pub const TOOL_CALLS_TOTAL: &str = "persona_tool_calls_total";
/// One tool call's latency as the runner saw it.
pub const TOOL_LATENCY_SECONDS: &str = "persona_tool_latency_seconds";
/// LLM requests by provider and status.
pub const LLM_REQUESTS_TOTAL: &str = "llm_requests_total";
/// One LLM request's latency, retries within it included.
pub const LLM_REQUEST_SECONDS: &str = "llm_request_duration_seconds";
/// LLM tokens by kind.
pub const LLM_TOKENS_TOTAL: &str = "llm_tokens_total";
/// What a persona's LLM use cost so far, by model.
pub const LLM_COST_USD: &str = "llm_cost_usd_total";
pub const BUDGET_REFUSALS_TOTAL: &str = "persona_budget_refusals_total";
pub const BUDGET_SPENT_USD: &str = "persona_budget_spent_usd";
pub const BUDGET_SPENT_TOKENS: &str = "persona_budget_spent_tokens";
pub const FLEET_REPLICAS: &str = "persona_fleet_replicas";
pub const RATING_PARSE_FAILURES_TOTAL: &str = "persona_rating_parse_failures_total";
pub const TRANSCRIPTS_FORGOTTEN_TOTAL: &str = "persona_transcripts_forgotten_total";
pub const PERMITS_IN_USE: &str = "dispatcher_permits_in_use";
pub const PAUSED: &str = "dispatcher_paused";
pub const PAUSED_BY_BUDGET: &str = "dispatcher_paused_by_budget";
pub const PENDING_ROWS: &str = "persistence_pending_rows";
pub const PERSONAS_TICKING: &str = "personas_ticking";

/// The kinds of `llm_tokens_total`.
pub const TOKEN_KINDS: [&str; 4] = ["input", "output", "cache_read", "cache_write"];

/// Describes every runner metric to the installed recorder and registers
/// the counters whose label values are known now at zero (`provider`: the
/// LLM providers this runner uses). Calling it again changes no value.
pub fn describe(providers: &[&'static str]) {
    describe_counter!(
        TICKS_TOTAL,
        "Finished ticks by outcome: ok (tools used, day ended, modules rated), idle (no tool), incomplete, failed, aborted"
    );
    describe_histogram!(
        TICK_DURATION_SECONDS,
        Unit::Seconds,
        "How long a tick took, from its start to its rows being handed to persistence"
    );
    describe_counter!(
        TOOL_CALLS_TOTAL,
        "MCP tool calls by tool and result (ok, error)"
    );
    describe_histogram!(
        TOOL_LATENCY_SECONDS,
        Unit::Seconds,
        "One MCP tool call's latency as the runner saw it, by tool"
    );
    describe_counter!(
        LLM_REQUESTS_TOTAL,
        "LLM requests by provider and status (ok, error; retries inside one request count once)"
    );
    describe_histogram!(
        LLM_REQUEST_SECONDS,
        Unit::Seconds,
        "One LLM request's latency by provider, its retries and rate-limit waits included"
    );
    describe_counter!(
        LLM_TOKENS_TOTAL,
        Unit::Count,
        "LLM tokens by kind (input, output, cache_read, cache_write)"
    );
    describe_gauge!(
        LLM_COST_USD,
        "What a persona's LLM requests cost so far in US dollars, by persona and model (0 for local models)"
    );
    describe_counter!(
        BUDGET_REFUSALS_TOTAL,
        "Ticks refused because a daily budget was spent, by scope (persona, fleet)"
    );
    describe_gauge!(
        BUDGET_SPENT_USD,
        "What the fleet spent today (UTC) in US dollars, against PERSONA_FLEET_DAILY_USD"
    );
    describe_gauge!(
        BUDGET_SPENT_TOKENS,
        "LLM tokens the fleet spent today (UTC), against PERSONA_FLEET_DAILY_TOKENS"
    );
    describe_gauge!(
        FLEET_REPLICAS,
        "Live runner replicas on this database (the LLM quota is split among them)"
    );
    describe_counter!(
        RATING_PARSE_FAILURES_TOTAL,
        "Rating answers that could not be read (stored as a __parse feedback row)"
    );
    describe_counter!(
        TRANSCRIPTS_FORGOTTEN_TOTAL,
        "Tick transcripts deleted after PERSONA_TRANSCRIPT_RETENTION_DAYS"
    );
    describe_gauge!(
        PERMITS_IN_USE,
        "Tick permits held (ticks running) on this replica"
    );
    describe_gauge!(PAUSED, "1 while the fleet's kill-switch holds this replica");
    describe_gauge!(PAUSED_BY_BUDGET, "1 while a daily budget holds every tick");
    describe_gauge!(
        PENDING_ROWS,
        "Action and feedback rows waiting to be stored"
    );
    describe_gauge!(PERSONAS_TICKING, "Personas with a tick running now");

    // IMPORTANT: increment(0) registers a series without touching a value
    // another system in this process may have counted already.
    for status in TickStatus::ALL {
        if status != TickStatus::Running {
            metrics::counter!(TICKS_TOTAL, "outcome" => status.as_str()).increment(0);
        }
    }
    for scope in ["persona", "fleet"] {
        metrics::counter!(BUDGET_REFUSALS_TOTAL, "scope" => scope).increment(0);
    }
    for kind in TOKEN_KINDS {
        metrics::counter!(LLM_TOKENS_TOTAL, "kind" => kind).increment(0);
    }
    for provider in providers {
        for status in ["ok", "error"] {
            metrics::counter!(LLM_REQUESTS_TOTAL, "provider" => *provider, "status" => status)
                .increment(0);
        }
    }
    metrics::counter!(RATING_PARSE_FAILURES_TOTAL).increment(0);
    metrics::counter!(TRANSCRIPTS_FORGOTTEN_TOTAL).increment(0);
}
