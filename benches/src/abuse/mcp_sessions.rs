//! Finding 3: one user must not evict another's MCP sessions. One user
//! opens [`SESSIONS_BY_ONE_USER`] sessions over plain HTTP (`initialize`,
//! then `notifications/initialized`, as a client on protocol 2025-11-25
//! sends them); then every session of both users is asked `tools/list`
//! (200: kept; 404: evicted) and `/metrics` is read for the live gauge.
//!
//! The second user opens its one session *before* the flood, so a global
//! LRU (the code before the fix) would have evicted it first.

use anyhow::{Context as _, bail};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use super::gateway_process::GatewayProcess;

/// Sessions the first user opens.
pub const SESSIONS_BY_ONE_USER: usize = 100;
const PROTOCOL_VERSION: &str = "2025-11-25";
const PASSWORD: &str = "sessions-password-1";

/// A logged-in user and its personal space.
struct User {
    email: &'static str,
    token: String,
    space_id: String,
}

/// What one user's sessions answered.
pub struct UserSessions {
    email: &'static str,
    opened: usize,
    /// `initialize` calls that did not answer 200.
    refused: usize,
    /// Sessions whose `tools/list` answered 200 at the end.
    kept: usize,
    /// Sessions whose `tools/list` answered 404 (closed by the gateway).
    evicted: usize,
    /// Any other answer.
    other: usize,
}

pub struct SessionFigures {
    users: Vec<UserSessions>,
    /// `gateway_mcp_sessions` from `/metrics`; `None` if it was missing.
    gauge: Option<f64>,
    per_user_cap: usize,
    global_cap: usize,
}

pub async fn run(gateway: &GatewayProcess) -> anyhow::Result<SessionFigures> {
    let client = Client::new();
    let flooder = user(&client, &gateway.base_url, "sessions-flooder@example.com").await?;
    let bystander = user(&client, &gateway.base_url, "sessions-bystander@example.com").await?;

    let bystander_sessions = vec![open_session(&client, &gateway.base_url, &bystander).await?];
    let mut flooder_sessions = Vec::with_capacity(SESSIONS_BY_ONE_USER);
    for _ in 0..SESSIONS_BY_ONE_USER {
        flooder_sessions.push(open_session(&client, &gateway.base_url, &flooder).await?);
    }

    // The bystander first: its answer is the figure that matters.
    let mut users = Vec::new();
    for (user, sessions) in [
        (&bystander, bystander_sessions),
        (&flooder, flooder_sessions),
    ] {
        let mut figures = UserSessions {
            email: user.email,
            opened: sessions.len(),
            refused: sessions.iter().filter(|session| session.is_none()).count(),
            kept: 0,
            evicted: 0,
            other: 0,
        };
        for session in sessions.iter().flatten() {
            match list_tools(&client, &gateway.base_url, user, session).await? {
                StatusCode::OK => figures.kept += 1,
                StatusCode::NOT_FOUND => figures.evicted += 1,
                _ => figures.other += 1,
            }
        }
        users.push(figures);
    }
    let metrics = client
        .get(format!("{}/metrics", gateway.base_url))
        .send()
        .await?
        .text()
        .await?;
    let defaults = gateway::config::GatewayConfig::default();
    Ok(SessionFigures {
        users,
        gauge: gauge(&metrics, gateway::mcp::SESSIONS_GAUGE),
        per_user_cap: defaults.mcp_max_sessions_per_user,
        global_cap: defaults.mcp_max_sessions,
    })
}

/// Registers `email`, logs in and finds its personal space.
async fn user(client: &Client, base_url: &str, email: &'static str) -> anyhow::Result<User> {
    let credentials = json!({ "email": email, "password": PASSWORD });
    let registered = client
        .post(format!("{base_url}/api/v1/auth/register"))
        .json(&credentials)
        .send()
        .await?;
    if registered.status() != StatusCode::ACCEPTED {
        bail!("registering {email} answered {}", registered.status());
    }
    let login: Value = client
        .post(format!("{base_url}/api/v1/auth/login"))
        .json(&credentials)
        .send()
        .await?
        .error_for_status()
        .with_context(|| format!("logging {email} in"))?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .context("the login answer has no token")?
        .to_owned();
    let spaces: Value = client
        .get(format!("{base_url}/api/v1/spaces"))
        .bearer_auth(&token)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let space_id = spaces["spaces"][0]["id"]
        .as_str()
        .with_context(|| format!("{email} has no space: {spaces}"))?
        .to_owned();
    Ok(User {
        email,
        token,
        space_id,
    })
}

/// A POST to `/mcp` as a client on [`PROTOCOL_VERSION`] sends it.
fn mcp(
    client: &Client,
    base_url: &str,
    user: &User,
    session: Option<&str>,
    body: &Value,
) -> reqwest::RequestBuilder {
    let mut request = client
        .post(format!("{base_url}/mcp"))
        .bearer_auth(&user.token)
        .header(catalog::SPACE_HEADER, &user.space_id)
        .header("accept", "application/json, text/event-stream")
        .json(body);
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", PROTOCOL_VERSION);
    }
    request
}

/// `initialize` and `notifications/initialized`: the session's id, or
/// `None` when the gateway refused it.
async fn open_session(
    client: &Client,
    base_url: &str,
    user: &User,
) -> anyhow::Result<Option<String>> {
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": { "name": "persona-bench-abuse", "version": "1" }
        }
    });
    let response = mcp(client, base_url, user, None, &initialize)
        .send()
        .await?;
    if response.status() != StatusCode::OK {
        return Ok(None);
    }
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|value| value.to_str().ok())
        .context("initialize answered without mcp-session-id")?
        .to_owned();
    // The answer is an SSE stream that ends after the one event.
    let _ = response.bytes().await;
    let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
    let response = mcp(client, base_url, user, Some(&session), &initialized)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("notifications/initialized answered {}", response.status());
    }
    Ok(Some(session))
}

async fn list_tools(
    client: &Client,
    base_url: &str,
    user: &User,
    session: &str,
) -> anyhow::Result<StatusCode> {
    let body = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    let response = mcp(client, base_url, user, Some(session), &body)
        .send()
        .await?;
    let status = response.status();
    let _ = response.bytes().await;
    Ok(status)
}

/// The value of an unlabelled gauge in Prometheus text.
fn gauge(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|value| value.trim().parse().ok())
    })
}

pub fn print(figures: &SessionFigures) {
    println!(
        "{:<34} {:>7} {:>8} {:>6} {:>8} {:>6}",
        "user", "opened", "refused", "kept", "evicted", "other"
    );
    for user in &figures.users {
        println!(
            "{:<34} {:>7} {:>8} {:>6} {:>8} {:>6}",
            user.email, user.opened, user.refused, user.kept, user.evicted, user.other
        );
    }
    println!(
        "gateway_mcp_sessions = {}; caps (GatewayConfig defaults): {} per user (own least recently \
         used goes), {} in all (new ones refused)",
        figures
            .gauge
            .map_or_else(|| "missing".to_owned(), |value| format!("{value:.0}")),
        figures.per_user_cap,
        figures.global_cap,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gauge_is_read_by_its_exact_name() {
        let text = "# TYPE gateway_mcp_sessions gauge\ngateway_mcp_sessions_total 9\ngateway_mcp_sessions 17\n";
        assert_eq!(gauge(text, "gateway_mcp_sessions"), Some(17.0));
        assert_eq!(gauge("", "gateway_mcp_sessions"), None);
    }
}
