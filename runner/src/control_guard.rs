//! The control API's guard against cross-site requests and DNS rebinding,
//! in front of every route:
//!
//! - `Host` must name this machine (`localhost`, `127.0.0.0/8`, `::1`) or a
//!   host the operator allowed (`CONTROL_ALLOWED_HOSTS`): a page on
//!   `evil.example.com` whose name an attacker points at 127.0.0.1 sends its
//!   own name, and is refused;
//! - an `Origin` (browsers send one on every cross-origin request and on
//!   every `POST`) must name an allowed host too, so a page elsewhere
//!   cannot drive the runner through the operator's browser;
//! - a `POST` or `DELETE` with a body must be `application/json`, which a
//!   page cannot send cross-site without a preflight the API never answers;
//!   the routes take no body, so `curl -XPOST` needs no header;
//! - without `RUNNER_ADMIN_TOKEN`, a `POST` or `DELETE` is taken only from a
//!   loopback peer.
//!
//! Refusals are `{"error","code"}` like every other answer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gateway::http::ApiError;
use serde_json::json;

/// What the guard lets through.
#[derive(Debug, Clone)]
pub struct ControlGuard {
    /// Hosts besides this machine's names, lower case, without a port.
    pub allowed_hosts: Vec<String>,
    /// `RUNNER_ADMIN_TOKEN` is set (the routes check it themselves).
    pub token_set: bool,
}

impl ControlGuard {
    /// Whether `host` (a `Host` value or an origin's host, with or without a
    /// port) names this machine or an allowed host.
    fn allows_host(&self, host: &str) -> bool {
        let name = host_name(host).to_ascii_lowercase();
        name == "localhost"
            || name
                .parse::<IpAddr>()
                .is_ok_and(|address| address.is_loopback())
            || self.allowed_hosts.contains(&name)
    }
}

/// The host of a `Host` value or an authority: `[::1]:3070` → `::1`,
/// `localhost:3070` → `localhost`.
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        // One colon: a port. More: an IPv6 address without brackets.
        Some((name, port)) if !name.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// The host an `Origin` names, if it is a URL with one (`null` has none).
fn origin_host(origin: &str) -> Option<&str> {
    let rest = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    (!authority.is_empty()).then_some(authority)
}

/// Whether the request carries a body: over HTTP/1 (the only protocol the
/// servers here speak) a body is announced by its length or its chunking.
fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .is_some_and(|length| length > 0)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
}

/// The middleware: refuses what the module doc lists, passes the rest on.
pub async fn guard(
    State(guard): State<Arc<ControlGuard>>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok());
    if !host.is_some_and(|host| guard.allows_host(host)) {
        return ApiError::Forbidden(format!(
            "the control API answers only for this machine's names and CONTROL_ALLOWED_HOSTS, not Host {:?}",
            host.unwrap_or("(none)")
        ))
        .into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin
            .to_str()
            .ok()
            .and_then(origin_host)
            .is_some_and(|host| guard.allows_host(host));
        if !allowed {
            return ApiError::Forbidden(
                "cross-site requests are refused: the Origin is not this machine or an allowed host"
                    .into(),
            )
            .into_response();
        }
    }
    let mutating = !matches!(*request.method(), Method::GET | Method::HEAD);
    if mutating && has_body(headers) && !is_json(headers) {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            axum::Json(json!({
                "error": "a request with a body must be Content-Type: application/json",
                "code": "unsupported_media_type",
            })),
        )
            .into_response();
    }
    if mutating && !guard.token_set {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip());
        if !peer.is_some_and(|peer| peer.is_loopback()) {
            return ApiError::Forbidden(
                "without RUNNER_ADMIN_TOKEN the control API takes commands only from this machine"
                    .into(),
            )
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::{get, post};
    use tower::ServiceExt as _;

    use super::*;

    /// A router behind the guard, asked as a peer at `peer` would ask.
    async fn status_of(token_set: bool, peer: &str, request: axum::http::Request<Body>) -> u16 {
        let guard = Arc::new(ControlGuard {
            allowed_hosts: vec!["runner.internal".into()],
            token_set,
        });
        let router = Router::new()
            .route("/supervisor", get(|| async { "ok" }))
            .route("/resume", post(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(guard, super::guard));
        let mut request = request;
        let peer: SocketAddr = peer.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        router.oneshot(request).await.unwrap().status().as_u16()
    }

    fn request(
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> axum::http::Request<Body> {
        let mut builder = axum::http::Request::builder().method(method).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(Body::from(body.to_owned())).unwrap()
    }

    #[tokio::test]
    async fn rebinding_cross_site_and_form_requests_are_refused() {
        let local = "127.0.0.1:50000";
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, u16);
        let cases: [Case; 8] = [
            ("GET", &[("host", "localhost:3070")], "", 200),
            ("GET", &[("host", "evil.example.com:3070")], "", 403),
            ("GET", &[], "", 403),
            ("POST", &[("host", "127.0.0.1:3070")], "", 200),
            (
                "POST",
                &[
                    ("host", "127.0.0.1:3070"),
                    ("origin", "http://evil.example.com"),
                ],
                "",
                403,
            ),
            (
                "POST",
                &[
                    ("host", "127.0.0.1:3070"),
                    ("origin", "http://localhost:3070"),
                ],
                "",
                200,
            ),
            (
                "POST",
                &[
                    ("host", "127.0.0.1:3070"),
                    ("content-type", "text/plain"),
                    ("content-length", "1"),
                ],
                "x",
                415,
            ),
            (
                "POST",
                &[
                    ("host", "runner.internal"),
                    ("content-type", "application/json"),
                ],
                "{}",
                200,
            ),
        ];
        for (method, headers, body, expected) in cases {
            let path = if method == "GET" {
                "/supervisor"
            } else {
                "/resume"
            };
            let status = status_of(false, local, request(method, path, headers, body)).await;
            assert_eq!(status, expected, "{method} {headers:?} {body:?}");
        }
    }

    #[tokio::test]
    async fn without_a_token_only_this_machine_may_command() {
        let host = [("host", "runner.internal")];
        let from_afar = || request("POST", "/resume", &host, "");
        assert_eq!(status_of(false, "10.0.0.7:50000", from_afar()).await, 403);
        assert_eq!(status_of(false, "[::1]:50000", from_afar()).await, 200);
        // With a token the routes check it themselves; the guard lets it on.
        assert_eq!(status_of(true, "10.0.0.7:50000", from_afar()).await, 200);
        let read = request("GET", "/supervisor", &host, "");
        assert_eq!(status_of(false, "10.0.0.7:50000", read).await, 200);
    }

    fn guard() -> ControlGuard {
        ControlGuard {
            allowed_hosts: vec!["runner.internal".into()],
            token_set: false,
        }
    }

    #[test]
    fn this_machines_names_and_allowed_hosts_pass_and_others_do_not() {
        let guard = guard();
        for host in [
            "localhost:3070",
            "LOCALHOST",
            "127.0.0.1:3070",
            "127.0.0.2",
            "[::1]:3070",
            "::1",
            "runner.internal:3070",
        ] {
            assert!(guard.allows_host(host), "{host}");
        }
        for host in [
            "evil.example.com",
            "evil.example.com:3070",
            "127.0.0.1.evil.example.com",
            "10.0.0.1:3070",
            "[::2]:3070",
            "",
        ] {
            assert!(!guard.allows_host(host), "{host}");
        }
    }

    #[test]
    fn an_origin_names_its_host() {
        assert_eq!(origin_host("http://localhost:3070"), Some("localhost:3070"));
        assert_eq!(
            origin_host("https://evil.example.com"),
            Some("evil.example.com")
        );
        assert_eq!(origin_host("null"), None);
        assert_eq!(origin_host("file://"), None);
    }
}
