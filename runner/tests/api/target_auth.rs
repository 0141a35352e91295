//! A target's credentials through real HTTP on loopback: an OAuth 2.0
//! authorization server in the test (metadata, a token endpoint issuing
//! short-lived tokens, rotating refresh tokens) guarding the official
//! server-everything behind a resource server that checks every bearer
//! token. The runner discovers the token endpoint, gets a token per persona,
//! and gets a new one before a tick its old one would not outlive; a bearer
//! token from the environment passes, a wrong or missing one is refused at
//! start, naming the setting.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use catalog::target::Target;
use serde_json::json;

use crate::helpers::{gateway_with_personas, persona_command};
use crate::target::{Everything, days_on, everything_server};

/// The token every persona may present under `auth.kind = "bearer"`.
const BEARER_TOKEN: &str = "bearer-token-for-the-fleet";

/// What the authorization server issued and the resource server saw.
#[derive(Default)]
struct Ledger {
    /// Access token → (client id, when it stops being accepted).
    access: HashMap<String, (String, Instant)>,
    /// Refresh tokens still good → client id; a used one is gone (rotation).
    refresh: HashMap<String, String>,
    /// Tokens issued per client, in order.
    issued: HashMap<String, Vec<String>>,
    /// Every access token an MCP request carried, accepted or not.
    presented: Vec<String>,
    /// Requests whose token was refused.
    refused: usize,
    /// `resource` values the token endpoint was sent.
    resources: Vec<String>,
    discovery_reads: usize,
    next: usize,
}

#[derive(Clone)]
struct Guard {
    base: String,
    upstream: String,
    token_life: Duration,
    ledger: Arc<Mutex<Ledger>>,
    http: reqwest::Client,
}

/// The authorization server and the resource server on one port; the
/// resource server forwards what it accepts to `upstream`.
async fn guarded(upstream: &Everything, token_life: Duration) -> Guard {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let guard = Guard {
        base: base.clone(),
        upstream: upstream.url.clone(),
        token_life,
        ledger: Arc::new(Mutex::new(Ledger::default())),
        http: reqwest::Client::new(),
    };
    let app = axum::Router::new()
        .route(
            "/.well-known/oauth-protected-resource/mcp",
            get(resource_metadata),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(server_metadata),
        )
        .route("/token", post(token))
        .route("/mcp", any(mcp))
        .with_state(guard.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    guard
}

async fn resource_metadata(State(guard): State<Guard>) -> Response {
    guard.ledger.lock().unwrap().discovery_reads += 1;
    axum::Json(json!({
        "resource": format!("{}/mcp", guard.base),
        "authorization_servers": [guard.base],
    }))
    .into_response()
}

async fn server_metadata(State(guard): State<Guard>) -> Response {
    guard.ledger.lock().unwrap().discovery_reads += 1;
    axum::Json(json!({
        "issuer": guard.base,
        "token_endpoint": format!("{}/token", guard.base),
        "grant_types_supported": ["client_credentials", "refresh_token"],
    }))
    .into_response()
}

fn oauth_error(code: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": code, "error_description": format!("the test says {code}") })),
    )
        .into_response()
}

/// RFC 6749's token endpoint: HTTP Basic client authentication with the
/// secret `secret-{client_id}`, or a public client naming itself.
async fn token(
    State(guard): State<Guard>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    use base64::Engine as _;
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|value| base64::engine::general_purpose::STANDARD.decode(value).ok())
        .and_then(|value| String::from_utf8(value).ok());
    let client = match (basic, form.get("client_id")) {
        (Some(pair), _) => {
            let Some((id, secret)) = pair.split_once(':') else {
                return oauth_error("invalid_client");
            };
            let id = urlencoding_decode(id);
            if urlencoding_decode(secret) != format!("secret-{id}") {
                return (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({ "error": "invalid_client" })),
                )
                    .into_response();
            }
            id
        }
        (None, Some(id)) => id.clone(),
        (None, None) => return oauth_error("invalid_client"),
    };
    let mut ledger = guard.ledger.lock().unwrap();
    ledger
        .resources
        .push(form.get("resource").cloned().unwrap_or_default());
    let refresh = match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => None,
        Some("refresh_token") => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            if ledger.refresh.remove(&presented).as_ref() != Some(&client) {
                return oauth_error("invalid_grant");
            }
            ledger.next += 1;
            let rotated = format!("refresh-{}", ledger.next);
            ledger.refresh.insert(rotated.clone(), client.clone());
            Some(rotated)
        }
        _ => return oauth_error("unsupported_grant_type"),
    };
    ledger.next += 1;
    let access = format!("access-{}", ledger.next);
    ledger.access.insert(
        access.clone(),
        (client.clone(), Instant::now() + guard.token_life),
    );
    ledger
        .issued
        .entry(client)
        .or_default()
        .push(access.clone());
    let mut answer = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": guard.token_life.as_secs(),
    });
    if let Some(refresh) = refresh {
        answer["refresh_token"] = json!(refresh);
    }
    axum::Json(answer).into_response()
}

fn urlencoding_decode(text: &str) -> String {
    form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

/// The resource server: a good bearer token is forwarded upstream (the
/// answer read whole; no standalone stream is offered), anything else is
/// 401 with the challenge that points at the metadata.
async fn mcp(
    State(guard): State<Guard>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::to_owned);
    let accepted = {
        let mut ledger = guard.ledger.lock().unwrap();
        let accepted = token.as_ref().is_some_and(|token| {
            token == BEARER_TOKEN
                || ledger
                    .access
                    .get(token)
                    .is_some_and(|(_, until)| Instant::now() < *until)
        });
        ledger.presented.extend(token.clone());
        // Discovery asks once without a token, for the challenge.
        if !accepted && token.is_some() {
            ledger.refused += 1;
        }
        accepted
    };
    if !accepted {
        let challenge = format!(
            "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\"",
            guard.base
        );
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, challenge)],
            "no good token",
        )
            .into_response();
    }
    if method == Method::GET {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    let mut request = guard.http.request(method, &guard.upstream).body(body);
    for (name, value) in &headers {
        if name != header::HOST && name != header::AUTHORIZATION && name != header::CONTENT_LENGTH {
            request = request.header(name, value);
        }
    }
    let Ok(answer) = request.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let mut response = Response::builder().status(answer.status().as_u16());
    for (name, value) in answer.headers() {
        if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(Body::from(bytes)).unwrap()
}

fn oauth_target(guard: &Guard, auth: &str) -> String {
    format!(
        r#"
[mcp]
url = "{base}/mcp"

[auth]
kind = "oauth2"
{auth}

[tools]
include = ["echo", "get-sum"]
"#,
        base = guard.base
    )
}

/// Client credentials, the endpoint discovered: every persona gets its own
/// token, with the MCP server named as the resource, and a token that
/// would expire within the runtime's margin is replaced before the next
/// tick — the second round of ticks runs on new tokens, none refused.
#[tokio::test]
async fn oauth2_client_credentials_are_discovered_issued_and_renewed() {
    let Some(server) = everything_server() else {
        return;
    };
    // Shorter than the runtime's margin: every tick needs a new token.
    let guard = guarded(&server, Duration::from_secs(30)).await;
    let gateway = gateway_with_personas().await;
    let dir = tempfile::tempdir().unwrap();
    let personas: Vec<_> = gateway
        .store
        .list_personas(chrono::Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|summary| summary.persona)
        .collect();
    let secrets: String = personas
        .iter()
        .map(|persona| {
            format!(
                "[{:?}]\nclient_secret = \"secret-{}\"\n",
                persona.user_id, persona.user_id
            )
        })
        .collect();
    std::fs::write(dir.path().join("secrets.toml"), secrets).unwrap();
    let file = dir.path().join("target.toml");
    std::fs::write(
        &file,
        oauth_target(
            &guard,
            "grant = \"client_credentials\"\nclient_id = \"{persona.id}\"\nsecrets_file = \"secrets.toml\"\nscope = \"tools\"",
        ),
    )
    .unwrap();
    let target = Target::from_path(&file).unwrap();

    let day = days_on(&gateway, target, 2).await;
    assert!(day.errors.is_empty(), "every tick ran: {:?}", day.errors);
    assert!(!day.tools.is_empty(), "the personas called the tools");
    let ledger = guard.ledger.lock().unwrap();
    assert!(
        ledger.discovery_reads >= 2,
        "both metadata documents were read"
    );
    for persona in &personas {
        let issued = ledger
            .issued
            .get(&persona.user_id)
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            issued.len(),
            2,
            "{}: one token per tick, the second before the first ran out: {issued:?}",
            persona.user_id
        );
        for token in &issued {
            assert!(ledger.presented.contains(token), "{token} was used for MCP");
        }
    }
    let resource = format!("{}/mcp", guard.base);
    assert!(
        ledger.resources.iter().all(|sent| *sent == resource),
        "RFC 8707 resource: {:?}",
        ledger.resources
    );
    assert_eq!(ledger.refused, 0, "no request went out with a bad token");
}

/// The refresh-token grant for a public client: the server rotates the
/// refresh token on every use and refuses a used one, so a second round of
/// ticks passes only if the runner kept the rotated token.
#[tokio::test]
async fn oauth2_refresh_tokens_are_rotated_between_ticks() {
    let Some(server) = everything_server() else {
        return;
    };
    let guard = guarded(&server, Duration::from_secs(30)).await;
    let gateway = gateway_with_personas().await;
    let personas: Vec<_> = gateway
        .store
        .list_personas(chrono::Utc::now())
        .await
        .unwrap()
        .into_iter()
        .map(|summary| summary.persona)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut secrets = String::new();
    {
        let mut ledger = guard.ledger.lock().unwrap();
        for persona in &personas {
            let first = format!("first-refresh-{}", persona.user_id);
            ledger.refresh.insert(first.clone(), "runner".to_owned());
            secrets.push_str(&format!(
                "[{:?}]\nrefresh_token = {first:?}\n",
                persona.email
            ));
        }
    }
    std::fs::write(dir.path().join("secrets.toml"), secrets).unwrap();
    let file = dir.path().join("target.toml");
    std::fs::write(
        &file,
        oauth_target(
            &guard,
            &format!(
                "grant = \"refresh_token\"\nclient_id = \"runner\"\nsecrets_file = \"secrets.toml\"\ntoken_url = \"{}/token\"",
                guard.base
            ),
        ),
    )
    .unwrap();
    let target = Target::from_path(&file).unwrap();

    let day = days_on(&gateway, target, 2).await;
    assert!(day.errors.is_empty(), "every tick ran: {:?}", day.errors);
    let ledger = guard.ledger.lock().unwrap();
    assert_eq!(
        ledger.issued.get("runner").map_or(0, Vec::len),
        2 * personas.len(),
        "two access tokens per persona, from rotated refresh tokens"
    );
    assert_eq!(
        ledger.discovery_reads, 0,
        "auth.token_url needs no discovery"
    );
}

/// `auth.kind = "bearer"` from the environment through the whole binary:
/// the right token ticks every persona; a wrong one and a missing one stop
/// `persona run` at start (exit 2), naming the setting to fix.
#[tokio::test]
async fn a_bearer_token_from_the_environment_is_sent_and_a_bad_one_refused_at_start() {
    let Some(server) = everything_server() else {
        return;
    };
    let guard = guarded(&server, Duration::from_secs(30)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bearer.toml");
    std::fs::write(
        &file,
        format!(
            "[mcp]\nurl = \"{}/mcp\"\n[auth]\nkind = \"bearer\"\ntoken_env = \"FLEET_TOKEN\"\n[tools]\ninclude = [\"echo\", \"get-sum\"]\n",
            guard.base
        ),
    )
    .unwrap();
    let catalog = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/targets/everything-personas.json"
    );
    // The guard serves from this test's runtime: the binary is awaited, not
    // waited for.
    let run = async |token: Option<&str>| {
        let mut command = persona_command(dir.path());
        command
            .args(["run", "--once", "--db"])
            .arg(format!(
                "sqlite://{}",
                dir.path().join("runner.db").display()
            ))
            .arg("--target")
            .arg(&file)
            .arg("--catalog")
            .arg(catalog);
        match token {
            Some(token) => command.env("FLEET_TOKEN", token),
            None => command.env_remove("FLEET_TOKEN"),
        };
        let output = tokio::process::Command::from(command)
            .output()
            .await
            .unwrap();
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(Some(BEARER_TOKEN)).await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("3 ticks (3 ok)"), "{stdout}");

    let (code, _, stderr) = run(Some("not-the-token")).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("refused the persona's credentials"),
        "{stderr}"
    );
    assert!(stderr.contains("auth.token_env"), "{stderr}");

    let (code, _, stderr) = run(None).await;
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("the environment variable FLEET_TOKEN is not set"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(BEARER_TOKEN),
        "no secret in a message: {stderr}"
    );
}
