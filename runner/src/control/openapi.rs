//! `GET /openapi.json`: the control API as an OpenAPI 3.1 document, built
//! from the handlers' own annotations and the answer types in
//! [`super::views`], so it cannot describe routes or fields that are not
//! there. The development-only `/diag` routes and the dashboard's HTML are
//! left out.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "persona runner control API",
        description = "Inspect and steer the persona runner: the fleet, each persona, its ticks, \
                       the kill-switch. Every POST and DELETE and GET /ticks/{tick_id} need \
                       `Authorization: Bearer $RUNNER_ADMIN_TOKEN` when the token is set. \
                       Errors are `{\"error\", \"code\"}`."
    ),
    paths(
        super::health,
        super::metrics,
        super::supervisor,
        super::persona,
        super::pause_persona,
        super::resume_persona,
        super::tick_persona,
        super::persona_memory,
        super::forget_persona_memory,
        super::tick,
        super::pause_all,
        super::resume_all,
        document,
    ),
    modifiers(&AdminToken),
    tags(
        (name = "runner", description = "this replica and what it sees"),
        (name = "personas", description = "one persona: inspect, pause, resume, tick now, its memory"),
        (name = "ticks", description = "stored ticks"),
        (name = "fleet", description = "the kill-switch every replica follows"),
    )
)]
struct ControlApi;

/// The bearer scheme the commands name.
struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("RUNNER_ADMIN_TOKEN"))
                    .build(),
            ),
        );
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "runner",
    responses((status = 200, description = "this document", body = Object)))]
pub(super) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ControlApi::openapi())
}
