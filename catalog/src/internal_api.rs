//! The bodies of the app's internal personas API
//! (`/api/v1/personas/internal/*`, behind [`SERVICE_KEY_HEADER`]): what the
//! runner sends and what the app answers, defined once so the client
//! (`actors::internal_api`) and the server (`gateway::personas_api::internal`)
//! cannot drift apart. Field names are camelCase on the wire.
//!
//! This module only names shapes; it sends nothing. The routes themselves are
//! listed in the gateway's router and built by the client.
//!
//! # Format
//!
//! | route | request | answer |
//! |---|---|---|
//! | `GET /due` | — | [`PersonaList`] (the due ones, in due order) |
//! | `GET /personas` | — | [`PersonaList`] (every persona, paused ones too) |
//! | `POST /{id}/paused` | [`PausedRequest`] | [`PausedAnswer`] |
//! | `POST /{id}/lease` | [`LeaseRequest`] | [`LeaseAnswer`] |
//! | `POST /{id}/lease/release` | [`ReleaseRequest`] | [`ReleaseAnswer`] |
//! | `POST /leases/claim-due` | [`ClaimDueRequest`] | [`ClaimDueAnswer`] |
//! | `POST /fleet/heartbeat` | [`ReplicaBeat`] | [`FleetView`] |
//! | `GET /fleet` | — | [`FleetView`] |
//! | `PUT /fleet/switch` | [`FleetSwitch`] | [`FleetView`] |
//! | `DELETE /fleet/replicas/{id}` | — | 204 |
//! | `POST /{id}/ticks` | [`NewTick`](crate::NewTick) | 201, [`TickStartedAnswer`] |
//! | `POST /ticks/{tick_id}/finish` | [`TickFinish`](crate::TickFinish) | [`TickFinishedAnswer`] |
//! | `POST /ticks/abort-stale` | [`AbortStaleRequest`] | [`AbortStaleAnswer`] |
//! | `POST /{id}/actions` | [`ActionBatch`] | [`BatchAnswer`] |
//! | `POST /{id}/feedback` | [`FeedbackBatch`] | [`BatchAnswer`] |
//! | `GET /{id}/memory` | — | [`MemoryAnswer`] |
//! | `PUT /{id}/memory` | [`MemoryRequest`] | [`MemoryAnswer`] |
//! | `GET /ticks/{tick_id}` | — | [`TickDetail`] (404 for an unknown tick) |
//! | `GET /ticks/spent?since=RFC3339` | — | [`SpentAnswer`] |
//! | `GET /ticks?limit=N&persona=ID` | — | [`TickList`] (newest first) |
//! | `GET /ticks/insights?since=RFC3339` | — | [`Insights`] |
//! | `POST /ticks/transcripts/forget` | [`ForgetTranscriptsRequest`] | [`ForgetTranscriptsAnswer`] |
//!
//! Unknown fields are ignored on both sides (serde's default), so either side
//! may add a field before the other reads it; a missing field is an error,
//! except where a field says otherwise.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::transcript::TranscriptItem;
use crate::{ActionRow, Archetype, Cadence, FeedbackRow, ModuleMix, StoredTick};

/// The header carrying the service key on every internal API request.
pub const SERVICE_KEY_HEADER: &str = "x-service-key";

/// `GET /due` and `GET /personas`: `{"personas": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PersonaList {
    pub personas: Vec<ListedPersona>,
}

/// A persona as the internal API lists it: enough for a runner without a
/// database to play it (its password is derived, never sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListedPersona {
    /// The persona's user id.
    pub id: String,
    pub email: String,
    pub name: String,
    pub archetype: Archetype,
    pub cadence: Cadence,
    pub module_mix: ModuleMix,
    pub system_prompt: String,
    pub paused: bool,
    /// `null` until the persona's first tick. Serde reads a missing optional
    /// field as `None` too.
    pub last_active_at: Option<DateTime<Utc>>,
}

/// `POST /{id}/paused`: stores the persona's pause flag (`id` is the user id
/// or the email).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PausedRequest {
    pub paused: bool,
}

/// The answer to [`PausedRequest`]: which persona the key named, so a caller
/// that gave an email learns the id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PausedAnswer {
    pub id: String,
    pub email: String,
    pub paused: bool,
}

/// `POST /{id}/lease`: takes or renews `owner`'s lease on a persona for
/// `seconds` (the app accepts 1 to 86 400).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeaseRequest {
    /// The runner replica's name on the lease; must not be blank.
    pub owner: String,
    /// A missing value reads as 0, which the app refuses with a 400 naming
    /// the accepted range rather than a serde message.
    #[serde(default)]
    pub seconds: u64,
    /// Only renew a lease `owner` still holds, unexpired (a scheduled tick
    /// starting); `false` (the default) also takes a free or expired one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub renew: bool,
}

/// The answer to [`LeaseRequest`]: `false` when another owner holds an
/// unexpired lease.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeaseAnswer {
    pub claimed: bool,
}

/// `POST /{id}/lease/release`: gives `owner`'s lease back; another owner's
/// lease is left alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseRequest {
    pub owner: String,
    /// When the schedule may claim the persona again; absent leaves it.
    #[serde(default, rename = "nextDueAt", skip_serializing_if = "Option::is_none")]
    pub next_due_at: Option<DateTime<Utc>>,
}

/// `POST /leases/claim-due`: takes, in one statement, the leases of up to
/// `limit` personas that are due, not paused and not leased, for `owner`
/// for `seconds` (the app accepts 1 to 86 400; `limit` 1 to 1000).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimDueRequest {
    pub owner: String,
    #[serde(default)]
    pub seconds: u64,
    #[serde(default)]
    pub limit: u32,
}

/// The answer to [`ClaimDueRequest`]: the ids claimed (in no particular order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClaimDueAnswer {
    pub claimed: Vec<String>,
}

/// The fleet's kill-switch: on or off, why, who set it and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FleetSwitch {
    pub paused: bool,
    pub reason: String,
    pub set_by: String,
    pub set_at: DateTime<Utc>,
}

/// How many of its heartbeat periods a replica may miss before it counts
/// as dead.
pub const MISSED_BEATS: u32 = 3;

/// `POST /fleet/heartbeat`: a runner replica is alive. It counts as dead
/// once [`MISSED_BEATS`] `periodMs` pass without another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaBeat {
    pub id: String,
    pub host: String,
    pub started_at: DateTime<Utc>,
    /// Ticks running on it now.
    pub ticking: u64,
    #[serde(default)]
    pub period_ms: u64,
}

/// A live runner replica as its last heartbeat left it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Replica {
    pub id: String,
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub ticking: u64,
}

/// What the replicas share: the kill-switch (`None`: never set) and the
/// live replicas, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FleetView {
    pub switch: Option<FleetSwitch>,
    pub replicas: Vec<Replica>,
}

impl FleetView {
    /// Whether the fleet's kill-switch is on.
    pub fn paused(&self) -> bool {
        self.switch.as_ref().is_some_and(|switch| switch.paused)
    }
}

/// The answer to [`ReleaseRequest`]; `released` is `true` whether or not a
/// lease was held (releasing is idempotent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReleaseAnswer {
    pub released: bool,
}

/// The answer to `POST /{id}/ticks` (a [`NewTick`](crate::NewTick) body).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TickStartedAnswer {
    pub tick_id: String,
}

/// The answer to `POST /ticks/{tick_id}/finish` (a
/// [`TickFinish`](crate::TickFinish) body): `false` when the tick was no
/// longer running, and so was left alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TickFinishedAnswer {
    pub finished: bool,
}

/// `POST /ticks/abort-stale`: marks ticks still `running` as aborted, with
/// `reason` as their error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AbortStaleRequest {
    pub reason: String,
}

/// The answer to [`AbortStaleRequest`]: how many ticks were aborted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AbortStaleAnswer {
    pub aborted: u64,
}

/// `POST /{id}/actions`: at most [`MAX_ACTIONS_PER_BATCH`](crate::MAX_ACTIONS_PER_BATCH)
/// rows, stored idempotently.
///
/// Generic over the rows' container so the runner serialises the slice it
/// holds (`ActionBatch<&[ActionRow]>`, no copy) and the app can read the
/// rows unparsed (`ActionBatch<Vec<serde_json::Value>>`), check the batch
/// limit before parsing any row, and name the index of a bad one. The
/// default is the parsed form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionBatch<Rows = Vec<ActionRow>> {
    #[schema(value_type = Vec<ActionRow>)]
    pub actions: Rows,
}

/// `POST /{id}/feedback`: at most
/// [`MAX_FEEDBACK_PER_BATCH`](crate::MAX_FEEDBACK_PER_BATCH) rows, stored
/// idempotently; generic over the rows' container for the reasons given at
/// [`ActionBatch`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeedbackBatch<Rows = Vec<FeedbackRow>> {
    #[schema(value_type = Vec<FeedbackRow>)]
    pub feedback: Rows,
}

/// The answer to [`ActionBatch`] and [`FeedbackBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BatchAnswer {
    /// Rows written now.
    pub inserted: u64,
    /// Rows already stored under the same id (a re-sent batch).
    pub duplicates: u64,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use crate::KnownArchetype;

    use super::*;

    fn anna() -> ListedPersona {
        ListedPersona {
            id: "u1".into(),
            email: "anna@mana.test".into(),
            name: "Anna".into(),
            archetype: Archetype::from(KnownArchetype::SoloDev),
            cadence: Cadence::Daily,
            module_mix: ModuleMix::new(BTreeMap::from([("todo".to_owned(), 1.0)])).unwrap(),
            system_prompt: "Du bist Anna.".into(),
            paused: false,
            last_active_at: None,
        }
    }

    #[test]
    fn a_listed_persona_is_camel_case_on_the_wire() {
        let wire = serde_json::to_value(PersonaList {
            personas: vec![anna()],
        })
        .unwrap();
        assert_eq!(
            wire,
            json!({ "personas": [{
                "id": "u1", "email": "anna@mana.test", "name": "Anna",
                "archetype": "solo-dev", "cadence": "daily", "moduleMix": { "todo": 1.0 },
                "systemPrompt": "Du bist Anna.", "paused": false, "lastActiveAt": null,
            }] })
        );
        let back: PersonaList = serde_json::from_value(wire).unwrap();
        assert_eq!(back.personas, vec![anna()]);
    }

    #[test]
    fn a_missing_field_is_an_error_naming_it_not_a_default() {
        let error = serde_json::from_value::<LeaseAnswer>(json!({ "claim": true })).unwrap_err();
        assert!(
            error.to_string().contains("missing field `claimed`"),
            "{error}"
        );
        let error = serde_json::from_value::<PersonaList>(json!({ "personas": [{ "id": "u1" }] }))
            .unwrap_err();
        assert!(error.to_string().contains("missing field"), "{error}");
    }

    #[test]
    fn the_rest_of_the_bodies_keep_their_wire_names() {
        let cases = [
            (
                serde_json::to_value(LeaseRequest {
                    owner: "r1".into(),
                    seconds: 30,
                    renew: false,
                }),
                json!({ "owner": "r1", "seconds": 30 }),
            ),
            (
                serde_json::to_value(LeaseRequest {
                    owner: "r1".into(),
                    seconds: 30,
                    renew: true,
                }),
                json!({ "owner": "r1", "seconds": 30, "renew": true }),
            ),
            (
                serde_json::to_value(TickStartedAnswer {
                    tick_id: "t1".into(),
                }),
                json!({ "tickId": "t1" }),
            ),
            (
                serde_json::to_value(BatchAnswer {
                    inserted: 2,
                    duplicates: 0,
                }),
                json!({ "inserted": 2, "duplicates": 0 }),
            ),
            (
                serde_json::to_value(ActionBatch::<&[ActionRow]> { actions: &[] }),
                json!({ "actions": [] }),
            ),
            (
                serde_json::to_value(FeedbackBatch::<&[FeedbackRow]> { feedback: &[] }),
                json!({ "feedback": [] }),
            ),
        ];
        for (wire, expected) in cases {
            assert_eq!(wire.unwrap(), expected);
        }
        let lease: LeaseRequest = serde_json::from_value(json!({ "owner": "r1" })).unwrap();
        assert_eq!(
            lease.seconds, 0,
            "a missing duration is left to the range check"
        );
    }
}

/// `PUT /{id}/memory` (`id`: user id or email): the persona's new memory,
/// `null` to forget it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MemoryRequest {
    pub memory: Option<String>,
}

/// `GET` and `PUT /{id}/memory`: the persona and its memory ("the story so
/// far"), `null` when there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryAnswer {
    pub id: String,
    pub email: String,
    pub memory: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// `GET /ticks/{tick_id}`: everything stored of one tick. The runner's
/// control API answers `GET /ticks/{tick_id}` with the same body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TickDetail {
    pub tick: StoredTick,
    pub persona_email: String,
    /// In call order.
    pub actions: Vec<ActionRow>,
    pub feedback: Vec<FeedbackRow>,
    /// Empty while the tick runs, and once its transcript was forgotten.
    pub transcript: Vec<TranscriptItem>,
}

/// `POST /ticks/transcripts/forget`: deletes the transcripts of ticks that
/// ended before `before` (the runner's retention).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForgetTranscriptsRequest {
    pub before: DateTime<Utc>,
}

/// The answer to [`ForgetTranscriptsRequest`]: how many were deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ForgetTranscriptsAnswer {
    pub forgotten: u64,
}

/// `GET /ticks/spent?since=…`: what each persona's ticks started since then
/// spent (the runner's daily budgets start from it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpentAnswer {
    pub spent: Vec<PersonaSpend>,
}

/// One persona's spend: dollars (ticks of unknown cost count 0) and every
/// token its ticks' answers took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PersonaSpend {
    pub persona_id: String,
    pub cost_usd: f64,
    pub tokens: u64,
}

/// The query of `GET /ticks/spent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SpentQuery {
    pub since: DateTime<Utc>,
}

/// The query of `GET /ticks`: the latest `limit` ticks, of one persona
/// (its id) or of all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TickListQuery {
    pub limit: u32,
    #[serde(default)]
    pub persona: Option<String>,
}

/// The most ticks one `GET /ticks` answers with.
pub const MAX_TICK_LIST: u32 = 500;

/// The answer to `GET /ticks`: newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TickList {
    pub ticks: Vec<ListedTick>,
}

/// A tick as a list shows it: its row and its calls counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListedTick {
    pub tick: StoredTick,
    pub persona_email: String,
    pub actions: u64,
    /// Calls that ended in an error, the app's or the agent's.
    pub failed_actions: u64,
}

/// The query of `GET /ticks/insights`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InsightsQuery {
    pub since: DateTime<Utc>,
}

/// What the fleet's stored rows since `since` say, by day (UTC) and by
/// tool: what the dashboard charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Insights {
    pub since: DateTime<Utc>,
    /// By module, then day.
    pub ratings: Vec<ModuleDay>,
    /// By tool name.
    pub tools: Vec<ToolStats>,
    /// By day.
    pub costs: Vec<CostDay>,
}

/// One module's ratings on one day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModuleDay {
    pub module: String,
    pub day: chrono::NaiveDate,
    pub mean: f64,
    pub ratings: u64,
}

/// One tool's calls: whose errors they were and how long they took.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolStats {
    pub tool: String,
    pub calls: u64,
    pub app_errors: u64,
    pub agent_errors: u64,
    /// Nearest-rank percentiles of the calls' latencies.
    pub p50_ms: u64,
    pub p99_ms: u64,
}

/// What the ticks started on one day cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostDay {
    pub day: chrono::NaiveDate,
    pub ticks: u64,
    /// Ticks whose status is not `ok` (running ones included).
    pub not_ok: u64,
    /// Ticks of unknown cost count 0.
    pub cost_usd: f64,
    pub tokens: u64,
}
