//! The web dashboard of `persona up`, after real ticks (the offline
//! scripted LLM against the built-in app): its pages over HTTP, its live
//! view over server-sent events, and the whole of it in headless Chromium
//! driven by Playwright (`runner/tests/browser/dashboard.mjs`), whose
//! screenshots land in `target/tmp/dashboard-screenshots/`.

use std::time::Duration;

use serde_json::Value;

use crate::daemon::{Daemon, persona, start, supervisor};
use crate::helpers::eventually;

pub(crate) const TOKEN: &str = "dashboard-token";

/// A daemon whose every persona has finished a tick.
pub(crate) async fn daemon_after_ticks(http: &reqwest::Client) -> (Daemon, Value) {
    let daemon = start(&[("RUNNER_ADMIN_TOKEN", TOKEN), ("PERSONA_CONCURRENCY", "4")]);
    eventually(
        Duration::from_secs(120),
        "every persona finished a tick",
        || async {
            let snapshot = supervisor(http, &daemon).await;
            snapshot["personas"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["lastOutcome"]["status"].is_string() && p["state"] != "ticking")
        },
    )
    .await;
    let snapshot = supervisor(http, &daemon).await;
    (daemon, snapshot)
}

fn emails(snapshot: &Value) -> Vec<String> {
    let mut emails: Vec<String> = snapshot["personas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["email"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    emails
}

/// A persona whose last tick called tools, and that tick's id.
fn persona_with_calls(snapshot: &Value) -> (String, String) {
    let found = snapshot["personas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["lastOutcome"]["actions"].as_u64().unwrap_or(0) > 0)
        .expect("a tick of the scripted LLM called tools");
    (
        found["email"].as_str().unwrap().to_owned(),
        found["lastOutcome"]["tickId"].as_str().unwrap().to_owned(),
    )
}

/// The tools a stored tick called, in order, from the control API.
async fn called_tools(http: &reqwest::Client, daemon: &Daemon, tick_id: &str) -> Vec<String> {
    let detail: Value = http
        .get(format!("{}/ticks/{tick_id}", daemon.control))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    detail["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|action| action["toolName"].as_str().unwrap().to_owned())
        .collect()
}

async fn page(http: &reqwest::Client, url: String) -> (reqwest::StatusCode, String) {
    let response = http.get(url).send().await.unwrap();
    let status = response.status();
    if status.is_success() {
        let csp = response
            .headers()
            .get("content-security-policy")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'"),
            "a page without its CSP: {csp:?}"
        );
    }
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn the_dashboard_shows_the_fleet_the_ticks_and_a_tick_behind_the_token() {
    let http = reqwest::Client::new();
    let (daemon, snapshot) = daemon_after_ticks(&http).await;
    let control = &daemon.control;

    let (status, fleet) = page(&http, format!("{control}/")).await;
    assert_eq!(status, 200);
    for email in emails(&snapshot) {
        assert!(fleet.contains(&email), "{email} is not on the fleet page");
    }
    assert!(fleet.contains("Mean rating per module and day"));
    assert!(fleet.contains("Cost per day"));
    assert!(fleet.contains("<table class=\"tools\""), "no tool table");
    assert!(
        fleet.contains("data-post=\"/personas/"),
        "no persona buttons"
    );
    let (status, _) = page(&http, format!("{control}/?days=0")).await;
    assert_eq!(status, 400, "a window of no days is refused");

    let (email, tick_id) = persona_with_calls(&snapshot);
    let (status, ticks) = page(&http, format!("{control}/ui/ticks")).await;
    assert_eq!(status, 200);
    assert!(ticks.contains(&tick_id), "the tick list lacks {tick_id}");
    let id = persona(&snapshot, &email)["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, own) = page(&http, format!("{control}/ui/ticks?persona={id}")).await;
    assert!(own.contains(&tick_id) && own.contains(&email));

    // The tick's body holds its transcript: behind the token, like the API.
    let body_url = format!("{control}/ui/ticks/{tick_id}/body");
    assert_eq!(http.get(&body_url).send().await.unwrap().status(), 401);
    let body = http
        .get(&body_url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let tools = called_tools(&http, &daemon, &tick_id).await;
    assert!(!tools.is_empty());
    for tool in &tools {
        assert!(body.contains(tool.as_str()), "the tick page lacks {tool}");
    }
    assert!(body.contains("<ol class=\"transcript\""), "no transcript");
    let (status, shell) = page(&http, format!("{control}/ui/ticks/{tick_id}")).await;
    assert_eq!(status, 200);
    assert!(shell.contains(&format!("data-fragment=\"/ui/ticks/{tick_id}/body\"")));

    // The live view's first event is the fleet section as the page has it.
    let mut live = http.get(format!("{control}/ui/live")).send().await.unwrap();
    assert_eq!(
        live.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    let mut received = String::new();
    while !received.contains("\n\n") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), live.chunk())
            .await
            .expect("the live view sent its first event")
            .unwrap()
            .expect("the live view stayed open");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(received.starts_with("event: fleet\n"), "{received}");
    assert!(received.contains(&email));
}

/// Where the browser test's pieces are: `None` (skipped) when they are not
/// installed, a failure under CI (`.ci/run` installs them).
fn browser() -> Option<(String, String)> {
    let playwright = std::env::var("PERSONA_TEST_PLAYWRIGHT").ok();
    let chromium = std::env::var("PERSONA_TEST_CHROMIUM").ok();
    match (playwright, chromium) {
        (Some(playwright), Some(chromium)) => Some((playwright, chromium)),
        _ => {
            let message = "PERSONA_TEST_PLAYWRIGHT (playwright-core's directory) and \
                           PERSONA_TEST_CHROMIUM (the browser) are not both set";
            if std::env::var("CI").is_ok_and(|value| value == "true") {
                panic!("{message}; .ci/run installs them");
            }
            eprintln!("\n*** SKIPPED: {message} ***\n");
            None
        }
    }
}

#[tokio::test]
async fn in_a_browser_the_fleet_shows_a_persona_paused_by_its_button_and_a_tick_s_calls() {
    let Some((playwright, chromium)) = browser() else {
        return;
    };
    let http = reqwest::Client::new();
    let (daemon, snapshot) = daemon_after_ticks(&http).await;
    let (tick_of, tick_id) = persona_with_calls(&snapshot);
    let to_pause = emails(&snapshot)
        .into_iter()
        .find(|email| *email != tick_of)
        .unwrap();
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/dashboard.mjs");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .env("PLAYWRIGHT", &playwright)
        .env("CHROMIUM", &chromium)
        .env("DASHBOARD", &daemon.control)
        .env("ADMIN_TOKEN", TOKEN)
        .env("PAUSE", &to_pause)
        .env("TICK_OF", &tick_of)
        .env("SCREENSHOTS", &shots)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(180), output)
        .await
        .expect("the browser script finished")
        .unwrap();
    assert!(
        output.status.success(),
        "the browser script failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();

    let mut on_page: Vec<String> = seen["personas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|email| email.as_str().unwrap().to_owned())
        .collect();
    on_page.sort();
    assert_eq!(on_page, emails(&snapshot), "every persona, each once");
    assert_eq!(seen["charts"].as_array().unwrap().len(), 2, "{seen}");
    assert!(!seen["tools"].as_array().unwrap().is_empty(), "{seen}");
    // The button's pause is the stored one the control API reports.
    let after = supervisor(&http, &daemon).await;
    assert_eq!(persona(&after, &to_pause)["paused"], true, "{seen}");
    assert_eq!(seen["tickId"], tick_id.as_str());
    let tools = called_tools(&http, &daemon, &tick_id).await;
    assert_eq!(seen["tickCalls"], serde_json::json!(tools));
    assert!(seen["transcriptItems"].as_u64().unwrap() > 0);
    assert!(seen["listedTicks"].as_u64().unwrap() >= on_page.len() as u64);
    assert_eq!(seen["pageErrors"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["consoleErrors"], serde_json::json!([]), "{seen}");
    for shot in ["1-fleet.png", "2-paused.png", "3-tick.png", "4-ticks.png"] {
        let size = std::fs::metadata(shots.join(shot)).unwrap().len();
        assert!(size > 10_000, "{shot} is {size} bytes");
    }
}
