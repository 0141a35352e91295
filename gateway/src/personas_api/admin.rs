//! `/api/v1/personas/admin*`: operator routes behind an admin JWT — upsert a
//! persona by email (through the normal register path, with register's
//! email and password rules: 400 naming `persona.email` or `password`),
//! list, detail, delete (personas only; its tokens stop working at once),
//! and ensure a shared space between personas.
//!
//! The list and the detail say who failed over the last 7 days (the window
//! of `actionsLast7Days`), per tool and per module (the text before the
//! first `.`): `{"tool"|"module", "calls", "appErrors", "agentErrors",
//! "appErrorRate"}`, where `appErrorRate = appErrors / calls`. Only the
//! app's errors count in the rate (rows from before `failedBy` existed are
//! taken for the app's); the agent's (bad arguments, an unknown tool) are
//! reported beside it, so a clumsy model does not make a module look broken.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use catalog::internal_api::ListedPersona;
use catalog::{PersonaSpec, SpaceType};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::internal::listed_persona;
use crate::accounts::{self, UpsertOutcome};
use crate::app::AppState;
use crate::auth::AdminUser;
use crate::credentials::{Email, check_new_password};
use crate::http::{ApiError, ApiJson};
use crate::store::{ErrorCounts, now};

#[derive(Debug, Deserialize)]
pub struct UpsertRequest {
    persona: PersonaSpec,
    /// The persona's derived password (see `catalog::derive_password`).
    password: String,
}

pub async fn upsert(
    State(state): State<Arc<AppState>>,
    _: AdminUser,
    ApiJson(request): ApiJson<UpsertRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut spec = request.persona;
    let mut problems = Vec::new();
    match Email::parse(&spec.email) {
        // Kept lower-cased, as register keeps every email.
        Ok(email) => spec.email = email.into_string(),
        Err(problem) => problems.push(format!("persona.email: {problem}")),
    }
    if spec.name.trim().is_empty() {
        problems.push("persona.name: must not be empty".into());
    }
    if spec.system_prompt.trim().is_empty() {
        problems.push("persona.systemPrompt: must not be empty".into());
    }
    if let Err(problem) = check_new_password(&request.password) {
        problems.push(format!("password: {problem}"));
    }
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems.join("; ")));
    }
    let upsert =
        accounts::upsert_persona(&state.store, &state.keyring, &spec, &request.password).await?;
    let (status, outcome) = match upsert.outcome {
        UpsertOutcome::Created => (StatusCode::CREATED, "created"),
        UpsertOutcome::Updated => (StatusCode::OK, "updated"),
        UpsertOutcome::Unchanged => (StatusCode::OK, "unchanged"),
    };
    Ok((
        status,
        Json(json!({ "id": upsert.user_id, "outcome": outcome })),
    ))
}

/// A persona in the admin list: the internal API's listing plus how busy it
/// was lately.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct AdminListedPersona {
    #[serde(flatten)]
    persona: ListedPersona,
    actions_last_7_days: u64,
}

/// `GET /api/v1/personas/admin`: every persona with its calls of the last 7
/// days (`actionsLast7Days`), and the fleet's error rates over the same
/// days (`toolErrors`, `moduleErrors`).
pub async fn list(
    State(state): State<Arc<AppState>>,
    _: AdminUser,
) -> Result<Json<Value>, ApiError> {
    let now = now();
    let personas = state.store.list_personas(now).await?;
    let personas: Vec<AdminListedPersona> = personas
        .iter()
        .map(|summary| AdminListedPersona {
            persona: listed_persona(&summary.persona),
            actions_last_7_days: summary.actions_last_7_days,
        })
        .collect();
    let rates = state.store.error_rates(None, now).await?;
    Ok(Json(json!({
        "personas": personas,
        "toolErrors": error_entries("tool", &rates.tools),
        "moduleErrors": error_entries("module", &rates.modules),
    })))
}

/// `GET /api/v1/personas/admin/{id}` (a user id or an email): the persona,
/// its newest actions, its module ratings and its error rates of the last 7
/// days (`toolErrors`, `moduleErrors`).
pub async fn detail(
    State(state): State<Arc<AppState>>,
    _: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let persona = state.store.persona_by_id_or_email(&id).await?;
    let detail = state.store.persona_detail(&persona.user_id).await?;
    let rates = state
        .store
        .error_rates(Some(&persona.user_id), now())
        .await?;
    let ratings: Vec<Value> = detail
        .module_ratings
        .iter()
        .map(|rating| json!({ "module": rating.module, "average": rating.average, "count": rating.count }))
        .collect();
    Ok(Json(json!({
        "persona": listed_persona(&detail.persona),
        "recentActions": detail.recent_actions,
        "moduleRatings": ratings,
        "toolErrors": error_entries("tool", &rates.tools),
        "moduleErrors": error_entries("module", &rates.modules),
    })))
}

/// One entry per tool or module (`key` names which), leaving out any
/// without calls, whose rate would divide by zero.
fn error_entries(key: &str, counts: &[ErrorCounts]) -> Vec<Value> {
    counts
        .iter()
        .filter_map(|count| {
            let rate = count.app_error_rate()?;
            Some(json!({
                key: count.name,
                "calls": count.calls,
                "appErrors": count.app_errors,
                "agentErrors": count.agent_errors,
                "appErrorRate": rate,
            }))
        })
        .collect()
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    _: AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_persona(&id).await?;
    // The store's deletion count already stops its tokens at the next
    // request; this drops what is remembered of the user now.
    state.forget_user(&id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub struct SharedSpaceRequest {
    name: String,
    #[serde(rename = "type")]
    space_type: SpaceType,
    /// Emails of the member personas; the first owns the space.
    members: Vec<String>,
}

/// Ensures a shared space with these members exists; idempotent.
pub async fn shared_space(
    State(state): State<Arc<AppState>>,
    _: AdminUser,
    ApiJson(request): ApiJson<SharedSpaceRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if request.space_type == SpaceType::Personal
        || request.name.trim().is_empty()
        || request.members.len() < 2
    {
        return Err(ApiError::BadRequest(
            "a shared space needs a name, a type other than personal and at least two members"
                .into(),
        ));
    }
    let mut member_ids = Vec::new();
    for email in &request.members {
        let persona = state.store.persona_by_id_or_email(email).await?;
        member_ids.push(persona.user_id);
    }
    let (space_id, changed) =
        accounts::ensure_shared_space(&state.store, &request.name, request.space_type, &member_ids)
            .await?;
    let status = if changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({ "id": space_id, "outcome": if changed { "created" } else { "unchanged" } })),
    ))
}
