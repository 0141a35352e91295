//! The runner's control API (bound to 127.0.0.1 by default):
//!
//! | route | does |
//! |---|---|
//! | `GET /health` | up, kill-switch state, persona count |
//! | `GET /metrics` | Prometheus text: ticks, tool calls, LLM requests and tokens, durations, permits, pending rows |
//! | `GET /supervisor` | this replica, the fleet (its kill-switch with who set it, when and why; the live replicas), every persona actor (state, current tick, last outcome, restarts), the dispatcher, persistence |
//! | `GET /personas/{id}` | one persona (`id` is the user id or the email), with its running tick's calls live and what it waits for |
//! | `POST /personas/{id}/pause`, `…/resume` | stored in the database, so it survives a restart |
//! | `POST /pause`, `POST /resume` (`?reason=`) | the fleet's kill-switch: no new tick, no new LLM request, on every replica by its next schedule pass; stored, so it survives restarts (503 when it could not be stored: then only this replica follows it, until a heartbeat reaches the database again and the stored switch rules; ask again) |
//! | `POST /personas/{id}/tick` | start a tick now |
//! | `GET /personas/{id}/memory`, `DELETE …` | the persona's memory ("the story so far"), read or reset |
//! | `GET /ticks/{tick_id}` | one tick as stored: its row, actions, ratings and transcript |
//! | `GET /diag/login?email=`, `POST /diag/tick` | development only (404 in production) |
//! | `GET /openapi.json` | this API as an OpenAPI 3.1 document ([`openapi`]) |
//! | `GET /`, `GET /ui/…` | the web dashboard ([`crate::dashboard`]) |
//!
//! Every `POST` and `DELETE`, `GET /ticks/{tick_id}` (a transcript holds
//! what the persona wrote into the app) and `GET /diag/login` (each login
//! costs the app an argon2 hash) need `Authorization: Bearer
//! $RUNNER_ADMIN_TOKEN` when the token is set (compared in constant time);
//! production requires it set. In front of every route,
//! [`crate::control_guard`] refuses foreign `Host`s and `Origin`s, form
//! bodies, and commands from other machines when no token is set.
//!
//! Every JSON answer is a type of [`views`]: what the route sends, what
//! `/openapi.json` describes and what the dashboard renders.

use std::sync::Arc;

use actors::app_client::AppLogin;
use actors::runtime::supervisor::Directory;
use actors::runtime::{BackendError, CommandRefused, KillSwitchError};
use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use catalog::SeedSecret;
use catalog::internal_api::TickDetail;
use gateway::http::{ApiError, ErrorBody};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::system::RunnerHandles;

mod openapi;
pub mod views;

use views::{
    BudgetView, DispatcherView, FleetAnswer, FleetState, Health, LiveTickView, MemoryView,
    PausedAnswer, PersistenceView, PersonaView, SpendView, SupervisorView, SwitchAnswer,
    TickStarted,
};

pub struct ControlState {
    pub runner: RunnerHandles,
    /// Where pause flags are stored and the due list comes from.
    pub directory: Arc<dyn Directory>,
    /// How `/diag/login` logs a persona in (the runtime's own login is in
    /// its `RuntimeEnv`).
    pub app: Arc<dyn AppLogin>,
    pub seed_secret: SeedSecret,
    /// `RUNNER_ADMIN_TOKEN`: required on every mutating route when set.
    pub admin_token: Option<String>,
    /// Turns the `/diag` routes off.
    pub production: bool,
    /// Host names the control API answers for besides this machine's
    /// (`CONTROL_ALLOWED_HOSTS`), lower case.
    pub allowed_hosts: Vec<String>,
    pub metrics: PrometheusHandle,
}

pub fn router(state: Arc<ControlState>) -> Router {
    let guard = Arc::new(crate::control_guard::ControlGuard {
        allowed_hosts: state.allowed_hosts.clone(),
        token_set: state.admin_token.is_some(),
    });
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/supervisor", get(supervisor))
        .route("/personas/{id}", get(persona))
        .route("/personas/{id}/pause", post(pause_persona))
        .route("/personas/{id}/resume", post(resume_persona))
        .route("/personas/{id}/tick", post(tick_persona))
        .route(
            "/personas/{id}/memory",
            get(persona_memory).delete(forget_persona_memory),
        )
        .route("/ticks/{tick_id}", get(tick))
        .route("/pause", post(pause_all))
        .route("/resume", post(resume_all))
        .route("/diag/login", get(diag_login))
        .route("/diag/tick", post(diag_tick))
        .route("/openapi.json", get(openapi::document))
        .merge(crate::dashboard::routes())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            guard,
            crate::control_guard::guard,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

pub(crate) fn authorize(state: &ControlState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.admin_token else {
        return Ok(());
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        // The scheme is case-insensitive (RFC 9110 §11.1): `bearer`, `BEARER`.
        .and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(token)
        })
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "this route needs Authorization: Bearer $RUNNER_ADMIN_TOKEN".into(),
            )
        })?;
    if !bool::from(given.trim().as_bytes().ct_eq(expected.as_bytes())) {
        return Err(ApiError::Unauthorized("wrong runner admin token".into()));
    }
    Ok(())
}

fn internal(error: anyhow::Error) -> ApiError {
    ApiError::Internal(error)
}

#[utoipa::path(get, path = "/health", tag = "runner",
    responses((status = 200, description = "the runner answers", body = Health)))]
async fn health(State(state): State<Arc<ControlState>>) -> Result<Json<Health>, ApiError> {
    let snapshot = state.runner.snapshot().await.map_err(refusal)?;
    Ok(Json(Health {
        status: "ok",
        paused: snapshot.dispatcher.paused,
        personas: snapshot.personas.len(),
    }))
}

#[utoipa::path(get, path = "/metrics", tag = "runner",
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<Arc<ControlState>>) -> Result<String, ApiError> {
    let snapshot = state.runner.snapshot().await.map_err(refusal)?;
    let persistence = state.runner.persistence_status().await.map_err(refusal)?;
    metrics::gauge!(actors::metrics::PERMITS_IN_USE).set(snapshot.dispatcher.permits_in_use as f64);
    metrics::gauge!(actors::metrics::PAUSED).set(if snapshot.dispatcher.paused {
        1.0
    } else {
        0.0
    });
    metrics::gauge!(actors::metrics::PAUSED_BY_BUDGET).set(
        if snapshot.dispatcher.paused_by_budget {
            1.0
        } else {
            0.0
        },
    );
    metrics::gauge!(actors::metrics::PENDING_ROWS)
        .set((persistence.pending_actions + persistence.pending_feedback) as f64);
    let ticking = snapshot
        .personas
        .iter()
        .filter(|e| {
            e.status
                .as_ref()
                .is_some_and(|s| s.activity == actors::runtime::persona::Activity::Ticking)
        })
        .count();
    metrics::gauge!(actors::metrics::PERSONAS_TICKING).set(ticking as f64);
    Ok(state.metrics.render())
}

#[utoipa::path(get, path = "/supervisor", tag = "runner",
    responses((status = 200, description = "this replica, the fleet, every persona actor, budgets, dispatcher, persistence", body = SupervisorView)))]
async fn supervisor(
    State(state): State<Arc<ControlState>>,
) -> Result<Json<SupervisorView>, ApiError> {
    Ok(Json(supervisor_view(&state).await?))
}

/// What `GET /supervisor` answers; the dashboard renders and streams the
/// same.
pub(crate) async fn supervisor_view(state: &ControlState) -> Result<SupervisorView, ApiError> {
    let snapshot = state.runner.snapshot().await.map_err(refusal)?;
    let persistence = state.runner.persistence_status().await.map_err(refusal)?;
    let due: std::collections::HashSet<String> = state
        .directory
        .due()
        .await
        .map_err(|error| internal(anyhow::anyhow!(error)))?
        .into_iter()
        .collect();
    let spending = state.runner.spending().await.map_err(refusal)?;
    // The fleet as stored; a database that cannot say is shown, not hidden.
    let fleet = match state.runner.fleet().await {
        Ok(view) => FleetAnswer::Known(FleetState::from(&view)),
        Err(error) => FleetAnswer::Unknown {
            error: error.to_string(),
        },
    };
    let dispatcher = &snapshot.dispatcher;
    let personas = snapshot
        .personas
        .iter()
        .map(|entry| {
            let mut view = PersonaView::of(entry);
            view.due_now = Some(due.contains(&entry.persona_id));
            let spent = spending.get(&entry.persona_id).copied().unwrap_or_default();
            view.spent_today = Some(SpendView::of(spent, dispatcher.budgets.persona));
            view
        })
        .collect();
    Ok(SupervisorView {
        replica: state.runner.replica_id.clone(),
        fleet,
        personas,
        budget: BudgetView {
            fleet: SpendView::of(dispatcher.fleet_spent, dispatcher.budgets.fleet),
            per_persona: dispatcher.budgets.persona.into(),
            refusals: dispatcher.budget_refusals,
        },
        dispatcher: DispatcherView::from(dispatcher),
        persistence: PersistenceView::from(&persistence),
    })
}

#[utoipa::path(get, path = "/personas/{id}", tag = "personas", params(("id" = String, Path, description = "the persona's user id or email")),
    responses((status = 200, description = "the persona, with its running tick's calls live (`runningTick`)", body = PersonaView), (status = 404, description = "no such persona", body = ErrorBody)))]
/// One persona, with its running tick's calls as its actor sees them now.
async fn persona(
    State(state): State<Arc<ControlState>>,
    Path(id): Path<String>,
) -> Result<Json<PersonaView>, ApiError> {
    let snapshot = state.runner.snapshot().await.map_err(refusal)?;
    let entry = snapshot
        .personas
        .iter()
        .find(|entry| entry.persona_id == id || entry.email.eq_ignore_ascii_case(&id))
        .ok_or_else(|| ApiError::NotFound(format!("no persona {id}")))?;
    let mut view = PersonaView::of(entry);
    // A persona whose actor is restarting or failed has no live tick to show.
    let live = match state.runner.live_tick(&entry.persona_id).await {
        Ok(live) => live,
        Err(CommandRefused::UnknownPersona(_)) => None,
        Err(refused) => return Err(refusal(refused)),
    };
    view.running_tick = Some(live.as_ref().map(LiveTickView::from));
    Ok(Json(view))
}

/// The one place a refused persona command becomes an HTTP answer.
pub(crate) fn refusal(refused: CommandRefused) -> ApiError {
    match refused {
        CommandRefused::UnknownPersona(_) => ApiError::NotFound(refused.to_string()),
        CommandRefused::Paused { .. } | CommandRefused::Busy { .. } => {
            ApiError::Conflict(refused.to_string())
        }
        CommandRefused::NotStarted(_) | CommandRefused::Unanswered => {
            internal(anyhow::anyhow!(refused))
        }
    }
}

/// The one place a backend error becomes an HTTP answer.
pub(crate) fn backend_failure(error: BackendError) -> ApiError {
    match error {
        BackendError::UnknownPersona(_) | BackendError::UnknownTick(_) => {
            ApiError::NotFound(error.to_string())
        }
        BackendError::Unavailable(_) | BackendError::Malformed(_) => {
            internal(anyhow::anyhow!(error))
        }
    }
}

async fn set_paused(
    state: &ControlState,
    id: &str,
    paused: bool,
) -> Result<Json<PausedAnswer>, ApiError> {
    // The stored flag first: it survives a restart even if the actor is
    // momentarily unreachable.
    let persona = state
        .directory
        .set_paused(id, paused)
        .await
        .map_err(backend_failure)?;
    if let Err(error) = state.runner.set_paused(&persona.id, paused).await {
        tracing::warn!(%error, persona = %persona.email, "the persona actor did not take the pause flag; it applies on the next refresh");
    }
    Ok(Json(PausedAnswer {
        id: persona.id,
        email: persona.email,
        paused,
    }))
}

#[utoipa::path(get, path = "/ticks/{tick_id}", tag = "ticks",
    params(("tick_id" = String, Path, description = "the tick's id")),
    security(("admin_token" = [])),
    responses((status = 200, description = "the tick as stored: its row, calls, ratings and transcript", body = TickDetail), (status = 401, description = "the admin token is missing or wrong", body = ErrorBody),
        (status = 404, description = "no such tick", body = ErrorBody)))]
/// One tick as stored, its transcript included (the same body as the
/// internal API's `GET /ticks/{tick_id}`).
async fn tick(
    State(state): State<Arc<ControlState>>,
    headers: HeaderMap,
    Path(tick_id): Path<String>,
) -> Result<Json<TickDetail>, ApiError> {
    authorize(&state, &headers)?;
    let detail = state.runner.tick(&tick_id).await.map_err(backend_failure)?;
    Ok(Json(detail))
}

#[utoipa::path(get, path = "/personas/{id}/memory", tag = "personas", params(("id" = String, Path, description = "the persona's user id or email")),
    responses((status = 200, description = "the story so far, as the next day prompt carries it", body = MemoryView), (status = 404, description = "no such persona", body = ErrorBody)))]
/// The persona's memory, as its next day prompt will carry it.
async fn persona_memory(
    State(state): State<Arc<ControlState>>,
    Path(id): Path<String>,
) -> Result<Json<MemoryView>, ApiError> {
    let memory = state.directory.memory(&id).await.map_err(backend_failure)?;
    Ok(Json(MemoryView::from(&memory)))
}

#[utoipa::path(delete, path = "/personas/{id}/memory", tag = "personas", params(("id" = String, Path, description = "the persona's user id or email")),
    security(("admin_token" = [])),
    responses((status = 200, description = "forgotten: the next day starts from nothing", body = MemoryView), (status = 401, description = "the admin token is missing or wrong", body = ErrorBody), (status = 404, description = "no such persona", body = ErrorBody)))]
/// Resets it: the persona's next day starts from nothing.
async fn forget_persona_memory(
    State(state): State<Arc<ControlState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<MemoryView>, ApiError> {
    authorize(&state, &headers)?;
    let memory = state
        .directory
        .set_memory(&id, None)
        .await
        .map_err(backend_failure)?;
    Ok(Json(MemoryView::from(&memory)))
}

#[utoipa::path(post, path = "/personas/{id}/pause", tag = "personas", params(("id" = String, Path, description = "the persona's user id or email")),
    security(("admin_token" = [])),
    responses((status = 200, description = "paused; stored, so it survives a restart", body = PausedAnswer), (status = 401, description = "the admin token is missing or wrong", body = ErrorBody), (status = 404, description = "no such persona", body = ErrorBody)))]
async fn pause_persona(
    State(state): State<Arc<ControlState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<PausedAnswer>, ApiError> {
    authorize(&state, &headers)?;
    set_paused(&state, &id, true).await
}

#[utoipa::path(post, path = "/personas/{id}/resume", tag = "personas", params(("id" = String, Path, description = "the persona's user id or email")),
    security(("admin_token" = [])),
    responses((status = 200, description = "resumed; stored", body = PausedAnswer), (status = 401, description = "the admin token is missing or wrong", body = ErrorBody), (status = 404, description = "no such persona", body = ErrorBody)))]
async fn resume_persona(
    State(state): State<Arc<ControlState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<PausedAnswer>, ApiError> {
    authorize(&state, &headers)?;
    set_paused(&state, &id, false).await
}

#[utoipa::path(post, path = "/personas/{id}/tick", tag = "personas", params(("id" = String, Path, description = "the persona's user id or email")),
    security(("admin_token" = [])),
    responses((status = 200, description = "a tick started", body = TickStarted), (status = 401, description = "the admin token is missing or wrong", body = ErrorBody), (status = 404, description = "no such persona", body = ErrorBody),
        (status = 409, description = "the persona is paused or already ticking", body = ErrorBody)))]
async fn tick_persona(
    State(state): State<Arc<ControlState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<TickStarted>, ApiError> {
    authorize(&state, &headers)?;
    match state.runner.start_tick(&id).await {
        Ok(tick_id) => Ok(Json(TickStarted {
            tick_id,
            persona: id,
        })),
        Err(refused) => Err(refusal(refused)),
    }
}

#[utoipa::path(post, path = "/pause", tag = "fleet", params(("reason" = Option<String>, Query, description = "kept with the switch and shown in every replica's /supervisor")),
    security(("admin_token" = [])),
    responses((status = 200, description = "the fleet's kill-switch is on: no new tick, no new LLM request, on every replica by its next schedule pass", body = SwitchAnswer), (status = 401, description = "the admin token is missing or wrong", body = ErrorBody),
        (status = 503, description = "the switch could not be stored: only this replica follows it until its heartbeat reaches the database", body = SwitchAnswer)))]
async fn pause_all(
    State(state): State<Arc<ControlState>>,
    headers: HeaderMap,
    Query(query): Query<SwitchQuery>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let reason = query
        .reason
        .unwrap_or_else(|| "an operator paused the fleet".into());
    set_kill_switch(&state, true, "POST /pause", &reason).await
}

#[utoipa::path(post, path = "/resume", tag = "fleet", params(("reason" = Option<String>, Query, description = "kept with the switch and shown in every replica's /supervisor")),
    security(("admin_token" = [])),
    responses((status = 200, description = "the kill-switch is off", body = SwitchAnswer), (status = 401, description = "the admin token is missing or wrong", body = ErrorBody),
        (status = 503, description = "the switch could not be stored", body = SwitchAnswer)))]
async fn resume_all(
    State(state): State<Arc<ControlState>>,
    headers: HeaderMap,
    Query(query): Query<SwitchQuery>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let reason = query
        .reason
        .unwrap_or_else(|| "an operator resumed the fleet".into());
    set_kill_switch(&state, false, "POST /resume", &reason).await
}

#[derive(Deserialize)]
struct SwitchQuery {
    /// Kept with the switch, shown in every replica's `/supervisor`.
    reason: Option<String>,
}

/// The fleet's kill-switch: this replica follows at once, the others at
/// their next schedule pass. When it cannot be stored, the answer is 503:
/// only this replica follows it, and only until one of its heartbeats
/// reaches the database again (then the stored switch rules).
async fn set_kill_switch(
    state: &ControlState,
    on: bool,
    by: &str,
    reason: &str,
) -> Result<Response, ApiError> {
    match state.runner.set_kill_switch(on, by, reason).await {
        Ok(view) => Ok(Json(SwitchAnswer {
            paused: on,
            fleet_wide: true,
            fleet: Some(FleetState::from(&view)),
            error: None,
            code: None,
        })
        .into_response()),
        Err(KillSwitchError::Local(refused)) => Err(refusal(refused)),
        Err(error @ KillSwitchError::Fleet(_)) => {
            tracing::warn!(%error, "the fleet's kill-switch could not be stored");
            Ok((
                StatusCode::SERVICE_UNAVAILABLE,
                Json(SwitchAnswer {
                    paused: on,
                    fleet_wide: false,
                    fleet: None,
                    error: Some(error.to_string()),
                    code: Some("fleet_unavailable"),
                }),
            )
                .into_response())
        }
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    email: Option<String>,
}

async fn diag_login(
    State(state): State<Arc<ControlState>>,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Json<Value>, ApiError> {
    if state.production {
        return Err(ApiError::NotFound("no such route".into()));
    }
    // IMPORTANT: each login costs the app an argon2 hash; without the token
    // anyone reaching this port could make the app do them at will.
    authorize(&state, &headers)?;
    let email = query
        .email
        .filter(|email| !email.trim().is_empty())
        .ok_or_else(|| ApiError::BadRequest("give ?email=…".into()))?;
    let password = catalog::derive_password(&state.seed_secret, &email);
    // A diagnostic login by email: the email stands for the persona's id.
    let who = actors::app_client::Credentials {
        persona_id: &email,
        email: &email,
        password: &password,
    };
    match state.app.login(who).await {
        Ok(session) => Ok(Json(
            json!({ "userId": session.user_id, "spaceId": session.space_id, "expiresAt": session.expires_at }),
        )),
        Err(error) => Err(ApiError::BadRequest(error.to_string())),
    }
}

async fn diag_tick(
    State(state): State<Arc<ControlState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    if state.production {
        return Err(ApiError::NotFound("no such route".into()));
    }
    authorize(&state, &headers)?;
    let mut started = Vec::new();
    let mut skipped = Vec::new();
    let due = state.directory.due().await.map_err(backend_failure)?;
    for persona_id in due {
        match state.runner.start_tick(&persona_id).await {
            Ok(tick_id) => started.push(json!({ "persona": persona_id, "tickId": tick_id })),
            Err(reason) => {
                skipped.push(json!({ "persona": persona_id, "reason": reason.to_string() }))
            }
        }
    }
    Ok(Json(json!({ "started": started, "skipped": skipped })))
}
