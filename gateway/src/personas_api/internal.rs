//! `/api/v1/personas/internal/*`: what the runner calls — the due list and
//! the idempotent action and feedback batches (DESIGN §3 semantics: over the
//! batch limit 413, unknown persona 404, a bad row 400 naming its index and
//! field).
//!
//! Every body is a `catalog::internal_api` type, the same one the runner's
//! client (`actors::internal_api`) uses, so the wire format is written once.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use catalog::internal_api::{
    AbortStaleAnswer, AbortStaleRequest, ActionBatch, BatchAnswer, ClaimDueAnswer, ClaimDueRequest,
    FeedbackBatch, FleetSwitch, FleetView, ForgetTranscriptsAnswer, ForgetTranscriptsRequest,
    Insights, InsightsQuery, LeaseAnswer, LeaseRequest, ListedPersona, MemoryAnswer, MemoryRequest,
    PausedAnswer, PausedRequest, PersonaList, ReleaseAnswer, ReleaseRequest, ReplicaBeat,
    SpentAnswer, SpentQuery, TickDetail, TickFinishedAnswer, TickList, TickListQuery,
    TickStartedAnswer,
};
use catalog::{ActionRow, FeedbackRow, MAX_ACTIONS_PER_BATCH, MAX_FEEDBACK_PER_BATCH};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::app::AppState;
use crate::auth::ServiceKey;
use crate::http::ErrorBody;
use crate::http::{ApiError, ApiJson};
use crate::store::{BatchOutcome, PersonaRow, now};

#[utoipa::path(get, path = "/api/v1/personas/internal/due", tag = "internal", security(("service_key" = [])), responses((status = 200, description = "the due personas, in due order", body = PersonaList), (status = 401, description = "the service key is missing or wrong", body = ErrorBody)))]
pub async fn due(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
) -> Result<Json<PersonaList>, ApiError> {
    let personas = state.store.due_personas(now()).await?;
    Ok(Json(PersonaList {
        personas: personas.iter().map(listed_persona).collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/personas/internal/personas", tag = "internal", security(("service_key" = [])), responses((status = 200, description = "every persona, paused ones too", body = PersonaList), (status = 401, description = "the service key is missing or wrong", body = ErrorBody)))]
/// Every persona (paused ones too), for a runner that has no database.
pub async fn personas(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
) -> Result<Json<PersonaList>, ApiError> {
    let personas = state.store.list_personas(now()).await?;
    Ok(Json(PersonaList {
        personas: personas
            .iter()
            .map(|summary| listed_persona(&summary.persona))
            .collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/personas/internal/{id}/paused", tag = "internal", security(("service_key" = [])), params(("id" = String, Path, description = "the persona's user id (or email)")), request_body = PausedRequest, responses((status = 200, description = "the stored flag", body = PausedAnswer), (status = 401, description = "the service key is missing or wrong", body = ErrorBody), (status = 404, description = "no such persona", body = ErrorBody)))]
/// Stores a persona's pause flag (`id` is the user id or the email).
pub async fn set_paused(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<PausedRequest>,
) -> Result<Json<PausedAnswer>, ApiError> {
    let persona = state.store.persona_by_id_or_email(&id).await?;
    state
        .store
        .set_persona_paused(&persona.user_id, request.paused)
        .await?;
    Ok(Json(PausedAnswer {
        id: persona.user_id,
        email: persona.email,
        paused: request.paused,
    }))
}

#[utoipa::path(post, path = "/api/v1/personas/internal/{id}/ticks", tag = "internal", security(("service_key" = [])), params(("id" = String, Path, description = "the persona's user id (or email)")), request_body = catalog::NewTick, responses((status = 201, description = "the tick's row is stored (status running)", body = TickStartedAnswer), (status = 401, description = "the service key is missing or wrong", body = ErrorBody), (status = 400, description = "a bad body, naming what is wrong", body = ErrorBody), (status = 404, description = "no such persona", body = ErrorBody)))]
/// Records a tick's start (status `running`).
pub async fn start_tick(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(persona_id): Path<String>,
    ApiJson(tick): ApiJson<catalog::NewTick>,
) -> Result<(StatusCode, Json<TickStartedAnswer>), ApiError> {
    if tick.persona_id != persona_id {
        return Err(ApiError::BadRequest(
            "personaId in the body differs from the path".into(),
        ));
    }
    state.store.start_tick(&tick).await?;
    Ok((
        StatusCode::CREATED,
        Json(TickStartedAnswer {
            tick_id: tick.tick_id,
        }),
    ))
}

#[utoipa::path(post, path = "/api/v1/personas/internal/ticks/{tick_id}/finish", tag = "internal", security(("service_key" = [])), params(("tick_id" = String, Path, description = "the tick's id")), request_body = catalog::TickFinish, responses((status = 200, description = "false when the tick was no longer running", body = TickFinishedAnswer), (status = 401, description = "the service key is missing or wrong", body = ErrorBody), (status = 400, description = "a bad body, naming what is wrong", body = ErrorBody)))]
/// Records how a tick ended; a tick that is no longer running is left alone.
pub async fn finish_tick(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(tick_id): Path<String>,
    ApiJson(finish): ApiJson<catalog::TickFinish>,
) -> Result<Json<TickFinishedAnswer>, ApiError> {
    let finished = state.store.finish_tick(&tick_id, &finish).await?;
    Ok(Json(TickFinishedAnswer { finished }))
}

#[utoipa::path(get, path = "/api/v1/personas/internal/ticks/{tick_id}", tag = "internal", security(("service_key" = [])), params(("tick_id" = String, Path, description = "the tick's id")), responses((status = 200, description = "everything stored of the tick", body = TickDetail), (status = 401, description = "the service key is missing or wrong", body = ErrorBody), (status = 404, description = "no such tick", body = ErrorBody)))]
/// Everything stored of one tick, its transcript included.
pub async fn tick_detail(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(tick_id): Path<String>,
) -> Result<Json<TickDetail>, ApiError> {
    Ok(Json(state.store.tick_detail(&tick_id).await?))
}

#[utoipa::path(get, path = "/api/v1/personas/internal/ticks/spent", tag = "internal", security(("service_key" = [])), params(("since" = String, Query, format = DateTime, description = "RFC 3339")), responses((status = 200, description = "what each persona's ticks started since then spent", body = SpentAnswer), (status = 401, description = "the service key is missing or wrong", body = ErrorBody)))]
/// What each persona's ticks started since the given time spent.
pub async fn spent_since(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Query(query): Query<SpentQuery>,
) -> Result<Json<SpentAnswer>, ApiError> {
    let spent = state.store.spent_since(query.since).await?;
    Ok(Json(SpentAnswer { spent }))
}

#[utoipa::path(get, path = "/api/v1/personas/internal/ticks", tag = "internal", security(("service_key" = [])), params(("limit" = u32, Query, description = "at most 500"), ("persona" = Option<String>, Query, description = "one persona's id")), responses((status = 200, description = "the latest ticks, newest first", body = TickList), (status = 401, description = "the service key is missing or wrong", body = ErrorBody)))]
/// The latest ticks, of one persona or of all, newest first.
pub async fn list_ticks(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Query(query): Query<TickListQuery>,
) -> Result<Json<TickList>, ApiError> {
    let ticks = state.store.list_ticks(&query).await?;
    Ok(Json(TickList { ticks }))
}

#[utoipa::path(get, path = "/api/v1/personas/internal/ticks/insights", tag = "internal", security(("service_key" = [])), params(("since" = String, Query, format = DateTime, description = "RFC 3339")), responses((status = 200, description = "ratings by module and day, calls by tool, costs by day", body = Insights), (status = 401, description = "the service key is missing or wrong", body = ErrorBody)))]
/// The fleet's ratings, tool calls and costs since the given time.
pub async fn insights(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Query(query): Query<InsightsQuery>,
) -> Result<Json<Insights>, ApiError> {
    Ok(Json(state.store.insights(query.since).await?))
}

#[utoipa::path(post, path = "/api/v1/personas/internal/ticks/transcripts/forget", tag = "internal", security(("service_key" = [])), request_body = ForgetTranscriptsRequest, responses((status = 200, description = "how many transcripts were deleted", body = ForgetTranscriptsAnswer), (status = 401, description = "the service key is missing or wrong", body = ErrorBody)))]
/// Deletes the transcripts of ticks that ended before the given time (the
/// runner's retention).
pub async fn forget_transcripts(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    ApiJson(request): ApiJson<ForgetTranscriptsRequest>,
) -> Result<Json<ForgetTranscriptsAnswer>, ApiError> {
    let forgotten = state.store.forget_transcripts(request.before).await?;
    Ok(Json(ForgetTranscriptsAnswer { forgotten }))
}

#[utoipa::path(post, path = "/api/v1/personas/internal/ticks/abort-stale", tag = "internal", security(("service_key" = [])), request_body = AbortStaleRequest, responses((status = 200, description = "how many running ticks without a live lease were aborted", body = AbortStaleAnswer), (status = 401, description = "the service key is missing or wrong", body = ErrorBody)))]
/// Marks ticks still `running` as aborted: a runner that crashed left them.
pub async fn abort_stale_ticks(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    ApiJson(request): ApiJson<AbortStaleRequest>,
) -> Result<Json<AbortStaleAnswer>, ApiError> {
    let aborted = state
        .store
        .abort_stale_ticks(now(), now(), &request.reason)
        .await?;
    Ok(Json(AbortStaleAnswer { aborted }))
}

#[utoipa::path(post, path = "/api/v1/personas/internal/{id}/lease", tag = "internal", security(("service_key" = [])), params(("id" = String, Path, description = "the persona's user id (or email)")), request_body = LeaseRequest, responses((status = 200, description = "whether this owner holds the lease now", body = LeaseAnswer), (status = 401, description = "the service key is missing or wrong", body = ErrorBody), (status = 400, description = "a bad body, naming what is wrong", body = ErrorBody), (status = 404, description = "no such persona", body = ErrorBody)))]
/// Takes or renews a runner's lease on a persona (`{"claimed": bool}`);
/// with `renew`, only renews one the runner still holds.
pub async fn claim_lease(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(persona_id): Path<String>,
    ApiJson(request): ApiJson<LeaseRequest>,
) -> Result<Json<LeaseAnswer>, ApiError> {
    if request.owner.trim().is_empty() || !(1..=86_400).contains(&request.seconds) {
        return Err(ApiError::BadRequest(
            "give an owner and seconds between 1 and 86400".into(),
        ));
    }
    let now = now();
    let until = now + chrono::TimeDelta::seconds(request.seconds as i64);
    let claimed = if request.renew {
        state
            .store
            .renew_lease(&persona_id, &request.owner, until, now)
            .await?
    } else {
        state
            .store
            .claim_lease(&persona_id, &request.owner, until, now)
            .await?
    };
    Ok(Json(LeaseAnswer { claimed }))
}

#[utoipa::path(post, path = "/api/v1/personas/internal/{id}/lease/release", tag = "internal", security(("service_key" = [])), params(("id" = String, Path, description = "the persona's user id (or email)")), request_body = ReleaseRequest, responses((status = 200, description = "released (idempotent)", body = ReleaseAnswer), (status = 401, description = "the service key is missing or wrong", body = ErrorBody)))]
/// Gives a lease back; only its owner's is released.
pub async fn release_lease(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(persona_id): Path<String>,
    ApiJson(request): ApiJson<ReleaseRequest>,
) -> Result<Json<ReleaseAnswer>, ApiError> {
    state
        .store
        .release_lease(&persona_id, &request.owner, request.next_due_at)
        .await?;
    Ok(Json(ReleaseAnswer { released: true }))
}

#[utoipa::path(post, path = "/api/v1/personas/internal/leases/claim-due", tag = "internal", security(("service_key" = [])), request_body = ClaimDueRequest, responses((status = 200, description = "the personas whose leases were claimed", body = ClaimDueAnswer), (status = 401, description = "the service key is missing or wrong", body = ErrorBody), (status = 400, description = "a bad body, naming what is wrong", body = ErrorBody)))]
/// Takes the leases of up to `limit` due personas in one statement.
pub async fn claim_due(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    ApiJson(request): ApiJson<ClaimDueRequest>,
) -> Result<Json<ClaimDueAnswer>, ApiError> {
    if request.owner.trim().is_empty()
        || !(1..=86_400).contains(&request.seconds)
        || !(1..=1000).contains(&request.limit)
    {
        return Err(ApiError::BadRequest(
            "give an owner, seconds between 1 and 86400 and a limit between 1 and 1000".into(),
        ));
    }
    let now = now();
    let until = now + chrono::TimeDelta::seconds(request.seconds as i64);
    let claimed = state
        .store
        .claim_due_personas(&request.owner, until, now, request.limit)
        .await?;
    Ok(Json(ClaimDueAnswer { claimed }))
}

#[utoipa::path(post, path = "/api/v1/personas/internal/fleet/heartbeat", tag = "internal", security(("service_key" = [])), request_body = ReplicaBeat, responses((status = 200, description = "the fleet after this beat", body = FleetView), (status = 401, description = "the service key is missing or wrong", body = ErrorBody), (status = 400, description = "a bad body, naming what is wrong", body = ErrorBody)))]
/// A runner replica's heartbeat; answers the fleet's state.
pub async fn heartbeat(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    ApiJson(beat): ApiJson<ReplicaBeat>,
) -> Result<Json<FleetView>, ApiError> {
    if beat.id.trim().is_empty() || beat.period_ms == 0 {
        return Err(ApiError::BadRequest(
            "give the replica's id and its heartbeat period (periodMs > 0)".into(),
        ));
    }
    let now = now();
    state.store.replica_heartbeat(&beat, now).await?;
    Ok(Json(state.store.fleet_view(now).await?))
}

#[utoipa::path(get, path = "/api/v1/personas/internal/fleet", tag = "internal", security(("service_key" = [])), responses((status = 200, description = "the kill-switch and the live replicas", body = FleetView), (status = 401, description = "the service key is missing or wrong", body = ErrorBody)))]
/// The fleet's kill-switch and live replicas.
pub async fn fleet(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
) -> Result<Json<FleetView>, ApiError> {
    Ok(Json(state.store.fleet_view(now()).await?))
}

#[utoipa::path(put, path = "/api/v1/personas/internal/fleet/switch", tag = "internal", security(("service_key" = [])), request_body = FleetSwitch, responses((status = 200, description = "the fleet after the switch", body = FleetView), (status = 401, description = "the service key is missing or wrong", body = ErrorBody), (status = 400, description = "a bad body, naming what is wrong", body = ErrorBody)))]
/// Sets or lifts the fleet's kill-switch.
pub async fn set_fleet_switch(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    ApiJson(switch): ApiJson<FleetSwitch>,
) -> Result<Json<FleetView>, ApiError> {
    if switch.set_by.trim().is_empty() {
        return Err(ApiError::BadRequest("say who sets it (setBy)".into()));
    }
    state.store.set_fleet_switch(&switch).await?;
    Ok(Json(state.store.fleet_view(now()).await?))
}

#[utoipa::path(delete, path = "/api/v1/personas/internal/fleet/replicas/{id}", tag = "internal", security(("service_key" = [])), params(("id" = String, Path, description = "the replica's id")), responses((status = 204, description = "the replica is gone from the fleet"), (status = 401, description = "the service key is missing or wrong", body = ErrorBody)))]
/// A replica that stopped cleanly leaves the fleet.
pub async fn leave_fleet(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(replica_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.remove_replica(&replica_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/personas/internal/{id}/memory", tag = "internal", security(("service_key" = [])), params(("id" = String, Path, description = "the persona's user id (or email)")), responses((status = 200, description = "the persona's memory", body = MemoryAnswer), (status = 401, description = "the service key is missing or wrong", body = ErrorBody), (status = 404, description = "no such persona", body = ErrorBody)))]
/// A persona's memory ("the story so far"); `id` is the user id or the email.
pub async fn memory(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(id): Path<String>,
) -> Result<Json<MemoryAnswer>, ApiError> {
    let persona = state.store.persona_by_id_or_email(&id).await?;
    let memory = state.store.persona_memory(&persona.user_id).await?;
    Ok(Json(MemoryAnswer {
        id: persona.user_id,
        email: persona.email,
        updated_at: memory.as_ref().map(|(_, at)| *at),
        memory: memory.map(|(text, _)| text),
    }))
}

#[utoipa::path(put, path = "/api/v1/personas/internal/{id}/memory", tag = "internal", security(("service_key" = [])), params(("id" = String, Path, description = "the persona's user id (or email)")), request_body = MemoryRequest, responses((status = 200, description = "the stored memory", body = MemoryAnswer), (status = 401, description = "the service key is missing or wrong", body = ErrorBody), (status = 404, description = "no such persona", body = ErrorBody)))]
/// Replaces (or, with `null`, forgets) a persona's memory.
pub async fn set_memory(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<MemoryRequest>,
) -> Result<Json<MemoryAnswer>, ApiError> {
    let persona = state.store.persona_by_id_or_email(&id).await?;
    let at = now();
    state
        .store
        .set_persona_memory(&persona.user_id, request.memory.as_deref(), at)
        .await?;
    Ok(Json(MemoryAnswer {
        id: persona.user_id,
        email: persona.email,
        updated_at: request.memory.as_ref().map(|_| at),
        memory: request.memory,
    }))
}

/// A persona row as the internal API lists it (the admin API lists the same
/// fields and adds its own).
pub fn listed_persona(persona: &PersonaRow) -> ListedPersona {
    ListedPersona {
        id: persona.user_id.clone(),
        email: persona.email.clone(),
        name: persona.name.clone(),
        archetype: persona.archetype.clone(),
        cadence: persona.cadence,
        module_mix: persona.module_mix.clone(),
        system_prompt: persona.system_prompt.clone(),
        paused: persona.paused,
        last_active_at: persona.last_active_at,
    }
}

#[utoipa::path(post, path = "/api/v1/personas/internal/{id}/actions", tag = "internal", security(("service_key" = [])), params(("id" = String, Path, description = "the persona's user id (or email)")), request_body = ActionBatch, responses((status = 200, description = "inserted and duplicate rows (ids are deterministic)", body = BatchAnswer), (status = 401, description = "the service key is missing or wrong", body = ErrorBody), (status = 400, description = "a bad body, naming what is wrong", body = ErrorBody), (status = 404, description = "no such persona", body = ErrorBody)))]
pub async fn actions(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(persona_id): Path<String>,
    ApiJson(batch): ApiJson<ActionBatch<Vec<Value>>>,
) -> Result<Json<BatchAnswer>, ApiError> {
    let rows: Vec<ActionRow> = rows(&batch.actions, "actions", MAX_ACTIONS_PER_BATCH)?;
    let outcome = state
        .store
        .insert_actions(&persona_id, &rows, now())
        .await?;
    Ok(Json(batch_answer(outcome)))
}

#[utoipa::path(post, path = "/api/v1/personas/internal/{id}/feedback", tag = "internal", security(("service_key" = [])), params(("id" = String, Path, description = "the persona's user id (or email)")), request_body = FeedbackBatch, responses((status = 200, description = "inserted and duplicate rows", body = BatchAnswer), (status = 401, description = "the service key is missing or wrong", body = ErrorBody), (status = 400, description = "a bad body, naming what is wrong", body = ErrorBody), (status = 404, description = "no such persona", body = ErrorBody)))]
pub async fn feedback(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(persona_id): Path<String>,
    ApiJson(batch): ApiJson<FeedbackBatch<Vec<Value>>>,
) -> Result<Json<BatchAnswer>, ApiError> {
    let rows: Vec<FeedbackRow> = rows(&batch.feedback, "feedback", MAX_FEEDBACK_PER_BATCH)?;
    let outcome = state
        .store
        .insert_feedback(&persona_id, &rows, now())
        .await?;
    Ok(Json(batch_answer(outcome)))
}

fn batch_answer(outcome: BatchOutcome) -> BatchAnswer {
    BatchAnswer {
        inserted: outcome.inserted,
        duplicates: outcome.duplicates,
    }
}

/// Parses a batch's rows one by one, so a bad row is reported with its index
/// and the field serde tripped over, and the limit is checked before any
/// row is parsed. (Parsing the whole `ActionBatch` at once would name the
/// field as `actions[1].latencyMs` only after parsing every row of an
/// oversized batch.)
fn rows<T: DeserializeOwned>(
    items: &[Value],
    key: &'static str,
    limit: usize,
) -> Result<Vec<T>, ApiError> {
    if items.len() > limit {
        return Err(ApiError::TooLarge(format!(
            "a batch of {} {key} rows is over the limit of {limit}; send at most {limit} per request",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            serde_path_to_error::deserialize(item).map_err(|error| {
                let field = error.path().to_string();
                ApiError::BadRequest(format!("row {index}: {field}: {}", error.inner()))
            })
        })
        .collect()
}
