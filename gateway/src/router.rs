//! Every route of the gateway in one place.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{delete, get, post, put};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::auth::routes as auth;
use crate::http::ApiError;
use crate::mcp::{self, GuardState};
use crate::personas_api::{admin, internal};

pub fn router(state: Arc<AppState>, cancel: CancellationToken) -> Router {
    let mcp_service = mcp::service(&state, cancel);
    let guard_state = GuardState { app: state.clone() };
    // The guard is the outer layer: nobody's body is read before the caller
    // is known.
    let mcp_routes = Router::new()
        .nest_service("/mcp", mcp_service)
        .layer(axum::middleware::from_fn_with_state(
            state.config.max_body_bytes,
            mcp::read_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            guard_state,
            mcp::guard,
        ));
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(crate::personas_api::openapi::document))
        .route("/api/v1/auth/register", post(auth::register))
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/jwks", get(auth::jwks))
        .route("/api/v1/spaces", get(auth::spaces))
        .route("/api/v1/me/encryption-vault/key", get(auth::vault_key))
        .route("/api/v1/personas/internal/due", get(internal::due))
        .route(
            "/api/v1/personas/internal/{id}/actions",
            post(internal::actions),
        )
        .route(
            "/api/v1/personas/internal/{id}/feedback",
            post(internal::feedback),
        )
        .route(
            "/api/v1/personas/internal/{id}/lease",
            post(internal::claim_lease),
        )
        .route(
            "/api/v1/personas/internal/{id}/lease/release",
            post(internal::release_lease),
        )
        .route(
            "/api/v1/personas/internal/leases/claim-due",
            post(internal::claim_due),
        )
        .route("/api/v1/personas/internal/fleet", get(internal::fleet))
        .route(
            "/api/v1/personas/internal/fleet/heartbeat",
            post(internal::heartbeat),
        )
        .route(
            "/api/v1/personas/internal/fleet/switch",
            put(internal::set_fleet_switch),
        )
        .route(
            "/api/v1/personas/internal/fleet/replicas/{id}",
            delete(internal::leave_fleet),
        )
        .route(
            "/api/v1/personas/internal/personas",
            get(internal::personas),
        )
        .route(
            "/api/v1/personas/internal/{id}/paused",
            post(internal::set_paused),
        )
        .route(
            "/api/v1/personas/internal/{id}/memory",
            get(internal::memory).put(internal::set_memory),
        )
        .route(
            "/api/v1/personas/internal/{id}/ticks",
            post(internal::start_tick),
        )
        .route(
            "/api/v1/personas/internal/ticks/{tick_id}/finish",
            post(internal::finish_tick),
        )
        .route(
            "/api/v1/personas/internal/ticks/{tick_id}",
            get(internal::tick_detail),
        )
        .route(
            "/api/v1/personas/internal/ticks/spent",
            get(internal::spent_since),
        )
        .route("/api/v1/personas/internal/ticks", get(internal::list_ticks))
        .route(
            "/api/v1/personas/internal/ticks/insights",
            get(internal::insights),
        )
        .route(
            "/api/v1/personas/internal/ticks/transcripts/forget",
            post(internal::forget_transcripts),
        )
        .route(
            "/api/v1/personas/internal/ticks/abort-stale",
            post(internal::abort_stale_ticks),
        )
        .route(
            "/api/v1/personas/admin",
            post(admin::upsert).get(admin::list),
        )
        .route("/api/v1/personas/admin/spaces", post(admin::shared_space))
        .route(
            "/api/v1/personas/admin/{id}",
            get(admin::detail).delete(admin::delete),
        )
        .fallback(not_found)
        .with_state(state.clone())
        .merge(mcp_routes)
        .layer(RequestBodyLimitLayer::new(state.config.max_body_bytes))
        .layer(TraceLayer::new_for_http().on_failure(log_failure))
}

/// tower-http logs every 5xx at error. A 503 is the server shedding load
/// on purpose (password hashing queue full, no MCP session left): under a
/// flood that would be one error line per refused request, so an attacker
/// could flood the log; it is counted at debug instead. Other failures keep
/// their error line (an `ApiError::Internal` also logs its cause).
fn log_failure(
    class: tower_http::classify::ServerErrorsFailureClass,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    use tower_http::classify::ServerErrorsFailureClass;
    match class {
        ServerErrorsFailureClass::StatusCode(status)
            if status == axum::http::StatusCode::SERVICE_UNAVAILABLE =>
        {
            tracing::debug!(
                latency_ms = latency.as_millis() as u64,
                "refused: the server is busy (503)"
            );
        }
        other => {
            tracing::error!(classification = %other, latency_ms = latency.as_millis() as u64, "response failed");
        }
    }
}

async fn health(State(state): State<Arc<AppState>>) -> Result<axum::Json<Value>, ApiError> {
    let tools = state.registry.public_tools().count();
    state.store.ping().await?;
    Ok(axum::Json(
        json!({ "status": "ok", "database": state.store.backend().to_string(), "tools": tools }),
    ))
}

async fn metrics(State(state): State<Arc<AppState>>) -> String {
    // Prunes expired sessions, which also sets the sessions gauge.
    state.sessions.prune().await;
    state.metrics.render()
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}
