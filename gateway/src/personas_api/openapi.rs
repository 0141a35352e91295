//! `GET /openapi.json`: the personas API as an OpenAPI 3.1 document, built
//! from the handlers' annotations and the wire types of
//! `catalog::internal_api`, so it describes what the routes send and take.

use axum::Json;
use catalog::internal_api::SERVICE_KEY_HEADER;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{admin, internal};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "personas API",
        description = "The app's personas API: `admin` routes for operators (an admin JWT from \
                       POST /api/v1/auth/login) and `internal` routes for the persona runner \
                       (the X-Service-Key header). Errors are `{\"error\", \"code\"}`."
    ),
    paths(
        admin::upsert,
        admin::list,
        admin::detail,
        admin::delete,
        admin::shared_space,
        internal::due,
        internal::personas,
        internal::set_paused,
        internal::start_tick,
        internal::finish_tick,
        internal::tick_detail,
        internal::spent_since,
        internal::list_ticks,
        internal::insights,
        internal::forget_transcripts,
        internal::abort_stale_ticks,
        internal::claim_lease,
        internal::release_lease,
        internal::claim_due,
        internal::heartbeat,
        internal::fleet,
        internal::set_fleet_switch,
        internal::leave_fleet,
        internal::memory,
        internal::set_memory,
        internal::actions,
        internal::feedback,
        document,
    ),
    modifiers(&Credentials),
    tags(
        (name = "admin", description = "operators: upsert, list, inspect and delete personas; shared spaces"),
        (name = "internal", description = "the persona runner: personas, leases, ticks, rows, the fleet"),
    )
)]
struct PersonasApi;

/// The two ways in: an admin JWT, the runner's service key.
struct Credentials;

impl Modify for Credentials {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_jwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "service_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(SERVICE_KEY_HEADER))),
        );
    }
}

#[utoipa::path(get, path = "/openapi.json", tag = "admin",
    responses((status = 200, description = "this document", body = Object)))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(PersonasApi::openapi())
}
