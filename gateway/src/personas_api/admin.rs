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

use super::internal::listed_persona;
use crate::accounts::{self, UpsertOutcome};
use crate::app::AppState;
use crate::auth::AdminUser;
use crate::credentials::{Email, check_new_password};
use crate::http::{ApiError, ApiJson, ErrorBody};
use crate::store::{ErrorCounts, now};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UpsertRequest {
    persona: PersonaSpec,
    /// The persona's derived password (see `catalog::derive_password`).
    password: String,
}

/// What an upsert or a shared space did: `created`, `updated` or `unchanged`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub id: String,
    pub outcome: &'static str,
}

#[utoipa::path(post, path = "/api/v1/personas/admin", tag = "admin", security(("admin_jwt" = [])),
    request_body = UpsertRequest,
    responses(
        (status = 201, description = "created", body = Outcome),
        (status = 200, description = "updated or unchanged", body = Outcome),
        (status = 400, description = "a bad field, named (persona.email, password, …)", body = ErrorBody),
        (status = 401, description = "no admin token", body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody)))]
pub async fn upsert(
    State(state): State<Arc<AppState>>,
    _: AdminUser,
    ApiJson(request): ApiJson<UpsertRequest>,
) -> Result<(StatusCode, Json<Outcome>), ApiError> {
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
        Json(Outcome {
            id: upsert.user_id,
            outcome,
        }),
    ))
}

/// A persona in the admin list: the internal API's listing plus how busy it
/// was lately.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminListedPersona {
    #[serde(flatten)]
    persona: ListedPersona,
    actions_last_7_days: u64,
}

/// `GET /api/v1/personas/admin`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminList {
    pub personas: Vec<AdminListedPersona>,
    pub tool_errors: Vec<ToolErrors>,
    pub module_errors: Vec<ModuleErrors>,
}

/// One tool's calls of the last 7 days and whose errors they were.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolErrors {
    pub tool: String,
    #[serde(flatten)]
    pub counts: ErrorFigures,
}

/// One module's calls of the last 7 days and whose errors they were.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModuleErrors {
    pub module: String,
    #[serde(flatten)]
    pub counts: ErrorFigures,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorFigures {
    pub calls: u64,
    pub app_errors: u64,
    pub agent_errors: u64,
    /// `appErrors / calls`.
    pub app_error_rate: f64,
}

/// `GET /api/v1/personas/admin/{id}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminDetail {
    pub persona: ListedPersona,
    pub recent_actions: Vec<catalog::ActionRow>,
    pub module_ratings: Vec<ModuleRatingView>,
    pub tool_errors: Vec<ToolErrors>,
    pub module_errors: Vec<ModuleErrors>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModuleRatingView {
    pub module: String,
    pub average: f64,
    pub count: u64,
}

/// `GET /api/v1/personas/admin`: every persona with its calls of the last 7
/// days (`actionsLast7Days`), and the fleet's error rates over the same
/// days (`toolErrors`, `moduleErrors`).
#[utoipa::path(get, path = "/api/v1/personas/admin", tag = "admin", security(("admin_jwt" = [])),
    responses(
        (status = 200, description = "every persona and the fleet's error rates of the last 7 days", body = AdminList),
        (status = 401, description = "no admin token", body = ErrorBody),
        (status = 403, description = "not an admin", body = ErrorBody)))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    _: AdminUser,
) -> Result<Json<AdminList>, ApiError> {
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
    Ok(Json(AdminList {
        personas,
        tool_errors: tool_errors(&rates.tools),
        module_errors: module_errors(&rates.modules),
    }))
}

/// `GET /api/v1/personas/admin/{id}` (a user id or an email): the persona,
/// its newest actions, its module ratings and its error rates of the last 7
/// days (`toolErrors`, `moduleErrors`).
#[utoipa::path(get, path = "/api/v1/personas/admin/{id}", tag = "admin", security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "the persona's user id or email")),
    responses(
        (status = 200, description = "the persona, its newest actions, ratings and error rates", body = AdminDetail),
        (status = 401, description = "no admin token", body = ErrorBody),
        (status = 404, description = "no such persona", body = ErrorBody)))]
pub async fn detail(
    State(state): State<Arc<AppState>>,
    _: AdminUser,
    Path(id): Path<String>,
) -> Result<Json<AdminDetail>, ApiError> {
    let persona = state.store.persona_by_id_or_email(&id).await?;
    let detail = state.store.persona_detail(&persona.user_id).await?;
    let rates = state
        .store
        .error_rates(Some(&persona.user_id), now())
        .await?;
    Ok(Json(AdminDetail {
        persona: listed_persona(&detail.persona),
        recent_actions: detail.recent_actions,
        module_ratings: detail
            .module_ratings
            .iter()
            .map(|rating| ModuleRatingView {
                module: rating.module.clone(),
                average: rating.average,
                count: rating.count,
            })
            .collect(),
        tool_errors: tool_errors(&rates.tools),
        module_errors: module_errors(&rates.modules),
    }))
}

/// The figures of one tool or module; `None` without calls, whose rate
/// would divide by zero (such entries are left out).
fn figures(count: &ErrorCounts) -> Option<ErrorFigures> {
    Some(ErrorFigures {
        app_error_rate: count.app_error_rate()?,
        calls: count.calls,
        app_errors: count.app_errors,
        agent_errors: count.agent_errors,
    })
}

fn tool_errors(counts: &[ErrorCounts]) -> Vec<ToolErrors> {
    counts
        .iter()
        .filter_map(|count| {
            Some(ToolErrors {
                counts: figures(count)?,
                tool: count.name.clone(),
            })
        })
        .collect()
}

fn module_errors(counts: &[ErrorCounts]) -> Vec<ModuleErrors> {
    counts
        .iter()
        .filter_map(|count| {
            Some(ModuleErrors {
                counts: figures(count)?,
                module: count.name.clone(),
            })
        })
        .collect()
}

#[utoipa::path(delete, path = "/api/v1/personas/admin/{id}", tag = "admin", security(("admin_jwt" = [])),
    params(("id" = String, Path, description = "the persona's user id or email")),
    responses(
        (status = 204, description = "deleted; its tokens stop working at once"),
        (status = 401, description = "no admin token", body = ErrorBody),
        (status = 404, description = "no such persona", body = ErrorBody)))]
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

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SharedSpaceRequest {
    name: String,
    #[serde(rename = "type")]
    space_type: SpaceType,
    /// Emails of the member personas; the first owns the space.
    members: Vec<String>,
}

/// Ensures a shared space with these members exists; idempotent.
#[utoipa::path(post, path = "/api/v1/personas/admin/spaces", tag = "admin", security(("admin_jwt" = [])),
    request_body = SharedSpaceRequest,
    responses(
        (status = 201, description = "created", body = Outcome),
        (status = 200, description = "it existed with these members", body = Outcome),
        (status = 400, description = "no name, a personal type or fewer than two members", body = ErrorBody),
        (status = 401, description = "no admin token", body = ErrorBody),
        (status = 404, description = "a member is no persona", body = ErrorBody)))]
pub async fn shared_space(
    State(state): State<Arc<AppState>>,
    _: AdminUser,
    ApiJson(request): ApiJson<SharedSpaceRequest>,
) -> Result<(StatusCode, Json<Outcome>), ApiError> {
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
        Json(Outcome {
            id: space_id,
            outcome: if changed { "created" } else { "unchanged" },
        }),
    ))
}
