//! The web dashboard, served on the control address beside the control API:
//!
//! | route | shows |
//! |---|---|
//! | `GET /` | the fleet (every persona: state, the running tick's turn and calls, last outcome, next due, cost today; pause, resume and tick-now buttons; the kill-switch), and over the last `?days=` (14): ratings per module and day, cost per day, calls per tool with app and agent errors and p50/p99 latency |
//! | `GET /ui/ticks` (`?persona=ID`) | the latest ticks |
//! | `GET /ui/ticks/{tick_id}` | one tick; its body (calls, ratings, transcript) comes from `…/body` |
//! | `GET /ui/ticks/{tick_id}/body` | that body as an HTML fragment; needs the admin token when one is set, like `GET /ticks/{tick_id}` |
//! | `GET /ui/live` | server-sent events: the fleet section again whenever it changed (checked every second) |
//! | `GET /ui/dashboard.js`, `/ui/dashboard.css` | the page's own script and style (no CDN: it works offline) |
//!
//! Pages are rendered on the server ([`pages`], maud, which escapes every
//! text: transcripts hold what a model and an app wrote) with SVG charts
//! ([`charts`]). The buttons call the control API itself (`POST
//! /personas/{id}/pause`, `POST /pause`, …). A browser cannot put a
//! bearer token on a navigation, so when `RUNNER_ADMIN_TOKEN` is set the
//! script asks for it in a form, keeps it in the tab's `sessionStorage`
//! only, and sends it on the commands and on the tick body's fetch.
//! Every page answers with a `Content-Security-Policy` allowing only this
//! origin's script and style.

mod charts;
mod pages;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use catalog::internal_api::{MAX_TICK_LIST, TickListQuery};
use chrono::{TimeDelta, Utc};
use gateway::http::ApiError;
use serde::Deserialize;

use crate::control::{ControlState, authorize, backend_failure, supervisor_view};

/// How often the live view looks for a change.
const LIVE_EVERY: Duration = Duration::from_secs(1);
/// The charts' window unless `?days=` says otherwise, and the most it may.
const DEFAULT_DAYS: u32 = 14;
const MAX_DAYS: u32 = 90;
/// The tick list's length.
const TICKS_LISTED: u32 = 100;

const SCRIPT: &str = include_str!("assets/dashboard.js");
const STYLE: &str = include_str!("assets/dashboard.css");
/// Only this origin's script and style; no inline script, no frames.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub fn routes() -> Router<Arc<ControlState>> {
    Router::new()
        .route("/", get(fleet_page))
        .route("/ui/ticks", get(ticks_page))
        .route("/ui/ticks/{tick_id}", get(tick_page))
        .route("/ui/ticks/{tick_id}/body", get(tick_body))
        .route("/ui/live", get(live))
        .route("/ui/dashboard.js", get(script))
        .route("/ui/dashboard.css", get(style))
}

/// A rendered page with the dashboard's security headers.
fn page(markup: maud::Markup) -> Response {
    let mut response = Html(markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[derive(Deserialize)]
struct WindowQuery {
    days: Option<u32>,
}

async fn fleet_page(
    State(state): State<Arc<ControlState>>,
    Query(query): Query<WindowQuery>,
) -> Result<Response, ApiError> {
    let days = query.days.unwrap_or(DEFAULT_DAYS);
    if days == 0 || days > MAX_DAYS {
        return Err(ApiError::BadRequest(format!(
            "days must be between 1 and {MAX_DAYS}, not {days}"
        )));
    }
    let view = supervisor_view(&state).await?;
    let since = Utc::now() - TimeDelta::days(i64::from(days));
    // The charts read the database; one that cannot answer is shown on the
    // page, and the live fleet still is.
    let insights = state
        .runner
        .insights(since)
        .await
        .map_err(|error| error.to_string());
    Ok(page(pages::fleet(
        &pages::Chrome::of(&state),
        &view,
        days,
        insights.as_ref(),
    )))
}

#[derive(Deserialize)]
struct TicksQuery {
    persona: Option<String>,
}

async fn ticks_page(
    State(state): State<Arc<ControlState>>,
    Query(query): Query<TicksQuery>,
) -> Result<Response, ApiError> {
    let list_query = TickListQuery {
        limit: TICKS_LISTED.min(MAX_TICK_LIST),
        persona: query.persona.filter(|persona| !persona.is_empty()),
    };
    let ticks = state
        .runner
        .list_ticks(&list_query)
        .await
        .map_err(backend_failure)?;
    Ok(page(pages::ticks(
        &pages::Chrome::of(&state),
        list_query.persona.as_deref(),
        &ticks,
    )))
}

async fn tick_page(
    State(state): State<Arc<ControlState>>,
    Path(tick_id): Path<String>,
) -> Response {
    page(pages::tick_shell(&pages::Chrome::of(&state), &tick_id))
}

async fn tick_body(
    State(state): State<Arc<ControlState>>,
    headers: HeaderMap,
    Path(tick_id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let detail = state.runner.tick(&tick_id).await.map_err(backend_failure)?;
    Ok(page(pages::tick_body(&detail)))
}

/// The fleet section, sent again whenever it changed; the stream ends when
/// the runner stops answering (it is shutting down), so an open page never
/// holds the control API's shutdown.
async fn live(State(state): State<Arc<ControlState>>) -> impl IntoResponse {
    struct Live {
        state: Arc<ControlState>,
        last: Option<String>,
        first: bool,
    }
    let start = Live {
        state,
        last: None,
        first: true,
    };
    let stream = futures_util::stream::unfold(start, |mut live| async move {
        loop {
            if !live.first {
                tokio::time::sleep(LIVE_EVERY).await;
            }
            live.first = false;
            let view = match supervisor_view(&live.state).await {
                Ok(view) => view,
                Err(error) => {
                    tracing::debug!(%error, "the live view ends: the runner does not answer");
                    return None;
                }
            };
            let html = pages::fleet_section(&pages::Chrome::of(&live.state), &view).into_string();
            if live.last.as_deref() == Some(html.as_str()) {
                continue;
            }
            let event = Event::default().event("fleet").data(&html);
            live.last = Some(html);
            return Some((Ok::<_, std::convert::Infallible>(event), live));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn script() -> Response {
    asset(SCRIPT, "text/javascript; charset=utf-8")
}

async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        body,
    )
        .into_response()
}
