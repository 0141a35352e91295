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
