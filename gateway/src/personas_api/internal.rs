//! `/api/v1/personas/internal/*`: what the runner calls — the due list and
//! the idempotent action and feedback batches (DESIGN §3 semantics: over the
//! batch limit 413, unknown persona 404, a bad row 400 naming its index and
//! field).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use catalog::{ActionRow, FeedbackRow, MAX_ACTIONS_PER_BATCH, MAX_FEEDBACK_PER_BATCH};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::app::AppState;
use crate::auth::ServiceKey;
use crate::http::{ApiError, ApiJson};
use crate::store::{BatchOutcome, PersonaRow, now};

pub async fn due(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
) -> Result<Json<Value>, ApiError> {
    let personas = state.store.due_personas(now()).await?;
    Ok(Json(
        json!({ "personas": personas.iter().map(persona_json).collect::<Vec<_>>() }),
    ))
}

/// Every persona (paused ones too), for a runner that has no database.
pub async fn personas(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
) -> Result<Json<Value>, ApiError> {
    let personas = state.store.list_personas(now()).await?;
    Ok(Json(
        json!({ "personas": personas.iter().map(|summary| persona_json(&summary.persona)).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, serde::Deserialize)]
pub struct PausedRequest {
    paused: bool,
}

/// Stores a persona's pause flag (`id` is the user id or the email).
pub async fn set_paused(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<PausedRequest>,
) -> Result<Json<Value>, ApiError> {
    let persona = state.store.persona_by_id_or_email(&id).await?;
    state
        .store
        .set_persona_paused(&persona.user_id, request.paused)
        .await?;
    Ok(Json(
        json!({ "id": persona.user_id, "email": persona.email, "paused": request.paused }),
    ))
}

/// Records a tick's start (status `running`).
pub async fn start_tick(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(persona_id): Path<String>,
    ApiJson(tick): ApiJson<catalog::NewTick>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    if tick.persona_id != persona_id {
        return Err(ApiError::BadRequest(
            "personaId in the body differs from the path".into(),
        ));
    }
    state.store.start_tick(&tick).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(json!({ "tickId": tick.tick_id })),
    ))
}

/// Records how a tick ended; a tick that is no longer running is left alone.
pub async fn finish_tick(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(tick_id): Path<String>,
    ApiJson(finish): ApiJson<catalog::TickFinish>,
) -> Result<Json<Value>, ApiError> {
    let finished = state.store.finish_tick(&tick_id, &finish).await?;
    Ok(Json(json!({ "finished": finished })))
}

#[derive(Debug, serde::Deserialize)]
pub struct AbortStaleRequest {
    reason: String,
}

/// Marks ticks still `running` as aborted: a runner that crashed left them.
pub async fn abort_stale_ticks(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    ApiJson(request): ApiJson<AbortStaleRequest>,
) -> Result<Json<Value>, ApiError> {
    let aborted = state
        .store
        .abort_stale_ticks(now(), now(), &request.reason)
        .await?;
    Ok(Json(json!({ "aborted": aborted })))
}

#[derive(Debug, serde::Deserialize)]
pub struct LeaseRequest {
    owner: String,
    #[serde(default)]
    seconds: u64,
}

/// Takes or renews a runner's lease on a persona (`{"claimed": bool}`).
pub async fn claim_lease(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(persona_id): Path<String>,
    ApiJson(request): ApiJson<LeaseRequest>,
) -> Result<Json<Value>, ApiError> {
    if request.owner.trim().is_empty() || !(1..=86_400).contains(&request.seconds) {
        return Err(ApiError::BadRequest(
            "give an owner and seconds between 1 and 86400".into(),
        ));
    }
    let now = now();
    let until = now + chrono::TimeDelta::seconds(request.seconds as i64);
    let claimed = state
        .store
        .claim_lease(&persona_id, &request.owner, until, now)
        .await?;
    Ok(Json(json!({ "claimed": claimed })))
}

/// Gives a lease back; only its owner's is released.
pub async fn release_lease(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(persona_id): Path<String>,
    ApiJson(request): ApiJson<LeaseRequest>,
) -> Result<Json<Value>, ApiError> {
    state
        .store
        .release_lease(&persona_id, &request.owner)
        .await?;
    Ok(Json(json!({ "released": true })))
}

pub fn persona_json(persona: &PersonaRow) -> Value {
    json!({
        "id": persona.user_id,
        "email": persona.email,
        "name": persona.name,
        "archetype": persona.archetype.as_str(),
        "cadence": persona.cadence.as_str(),
        "moduleMix": persona.module_mix,
        "systemPrompt": persona.system_prompt,
        "paused": persona.paused,
        "lastActiveAt": persona.last_active_at,
    })
}

pub async fn actions(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(persona_id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let rows: Vec<ActionRow> = rows(&body, "actions", MAX_ACTIONS_PER_BATCH)?;
    let outcome = state
        .store
        .insert_actions(&persona_id, &rows, now())
        .await?;
    Ok(Json(outcome_json(outcome)))
}

pub async fn feedback(
    State(state): State<Arc<AppState>>,
    _: ServiceKey,
    Path(persona_id): Path<String>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Json<Value>, ApiError> {
    let rows: Vec<FeedbackRow> = rows(&body, "feedback", MAX_FEEDBACK_PER_BATCH)?;
    let outcome = state
        .store
        .insert_feedback(&persona_id, &rows, now())
        .await?;
    Ok(Json(outcome_json(outcome)))
}

fn outcome_json(outcome: BatchOutcome) -> Value {
    json!({ "inserted": outcome.inserted, "duplicates": outcome.duplicates })
}

/// Parses `body[key]` row by row, so a bad row is reported with its index
/// and the field serde tripped over, and the limit is checked before any
/// row is parsed.
fn rows<T: DeserializeOwned>(
    body: &Value,
    key: &'static str,
    limit: usize,
) -> Result<Vec<T>, ApiError> {
    let items = body.get(key).and_then(Value::as_array).ok_or_else(|| {
        ApiError::BadRequest(format!("expected a JSON object with a {key:?} array"))
    })?;
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
