//! `GET /openapi.json` describes the control API and (on the app) the
//! personas API as they answer: each document is valid
//! (openapi-spec-validator), names every JSON route, and real requests and
//! answers validate against it strictly (jsonschema, every object closed to
//! fields the document does not name), by
//! `runner/tests/openapi/check_answers.py`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::daemon::Daemon;
use crate::dashboard::{TOKEN, daemon_after_ticks};

/// An answer as the checker reads it.
async fn answer(
    http: &reqwest::Client,
    daemon: &Daemon,
    method: &str,
    template: &str,
    url: &str,
) -> Value {
    let request = match method {
        "get" => http.get(format!("{}{url}", daemon.control)),
        "post" => http.post(format!("{}{url}", daemon.control)),
        _ => http.delete(format!("{}{url}", daemon.control)),
    };
    let response = request.bearer_auth(TOKEN).send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    json!({ "path": template, "method": method, "status": status, "body": body })
}

fn checker_missing(stderr: &str) -> bool {
    stderr.contains("No module named 'openapi_spec_validator'")
        || stderr.contains("No module named 'jsonschema'")
}

#[tokio::test]
async fn the_document_names_every_route_and_real_answers_match_it() {
    let http = reqwest::Client::new();
    let (daemon, snapshot) = daemon_after_ticks(&http).await;
    let spec: Value = http
        .get(format!("{}/openapi.json", daemon.control))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented: BTreeSet<&str> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let routes = BTreeSet::from([
        "/health",
        "/metrics",
        "/supervisor",
        "/personas/{id}",
        "/personas/{id}/pause",
        "/personas/{id}/resume",
        "/personas/{id}/tick",
        "/personas/{id}/memory",
        "/ticks/{tick_id}",
        "/pause",
        "/resume",
        "/openapi.json",
    ]);
    assert_eq!(documented, routes, "every JSON route, and only those");

    let persona = &snapshot["personas"][0];
    let id = persona["id"].as_str().unwrap();
    let tick_id = snapshot["personas"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|persona| persona["lastOutcome"]["tickId"].as_str())
        .unwrap();
    let answers = vec![
        answer(&http, &daemon, "get", "/health", "/health").await,
        answer(&http, &daemon, "get", "/supervisor", "/supervisor").await,
        answer(
            &http,
            &daemon,
            "get",
            "/personas/{id}",
            &format!("/personas/{id}"),
        )
        .await,
        answer(
            &http,
            &daemon,
            "get",
            "/personas/{id}",
            "/personas/nobody@mana.test",
        )
        .await,
        answer(
            &http,
            &daemon,
            "get",
            "/personas/{id}/memory",
            &format!("/personas/{id}/memory"),
        )
        .await,
        answer(
            &http,
            &daemon,
            "get",
            "/ticks/{tick_id}",
            &format!("/ticks/{tick_id}"),
        )
        .await,
        answer(
            &http,
            &daemon,
            "get",
            "/ticks/{tick_id}",
            "/ticks/no-such-tick",
        )
        .await,
        answer(
            &http,
            &daemon,
            "post",
            "/personas/{id}/pause",
            &format!("/personas/{id}/pause"),
        )
        .await,
        answer(
            &http,
            &daemon,
            "post",
            "/personas/{id}/tick",
            &format!("/personas/{id}/tick"),
        )
        .await,
        answer(
            &http,
            &daemon,
            "post",
            "/personas/{id}/resume",
            &format!("/personas/{id}/resume"),
        )
        .await,
        answer(
            &http,
            &daemon,
            "post",
            "/pause",
            "/pause?reason=openapi+test",
        )
        .await,
        answer(&http, &daemon, "post", "/resume", "/resume").await,
        answer(
            &http,
            &daemon,
            "delete",
            "/personas/{id}/memory",
            &format!("/personas/{id}/memory"),
        )
        .await,
    ];
    // The paused persona's tick is refused: an error body is checked too.
    assert_eq!(answers[8]["status"], 409, "{}", answers[8]);
    let supervisor_after = answer(&http, &daemon, "get", "/supervisor", "/supervisor").await;
    let mut all = answers;
    all.push(supervisor_after);
    check(&spec, all).await;
}

/// Runs the independent checker on a document and answers.
async fn check(spec: &Value, answers: Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let spec_file = dir.path().join("openapi.json");
    let answers_file = dir.path().join("answers.json");
    std::fs::write(&spec_file, spec.to_string()).unwrap();
    std::fs::write(&answers_file, Value::Array(answers).to_string()).unwrap();
    let checked = tokio::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/openapi/check_answers.py"
        ))
        .arg(&spec_file)
        .arg(&answers_file)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&checked.stderr);
    if checker_missing(&stderr) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but openapi-spec-validator is not installed (.ci/run installs it)"
        );
        eprintln!("\n*** SKIPPED the OpenAPI check: pip install openapi-spec-validator ***\n");
        return;
    }
    assert!(
        checked.status.success(),
        "answers that do not match /openapi.json:\n{}{stderr}",
        String::from_utf8_lossy(&checked.stdout)
    );
}

/// One call of the personas API, as the checker reads it.
struct Call<'a> {
    http: &'a reqwest::Client,
    url: &'a str,
    auth: (&'static str, String),
}

impl Call<'_> {
    async fn send(
        &self,
        method: &str,
        template: &str,
        path: &str,
        request: Option<Value>,
    ) -> Value {
        let url = format!("{}{path}", self.url);
        let builder = match method {
            "get" => self.http.get(url),
            "post" => self.http.post(url),
            "put" => self.http.put(url),
            _ => self.http.delete(url),
        }
        .header(self.auth.0, &self.auth.1);
        let builder = match &request {
            Some(body) => builder.json(body),
            None => builder,
        };
        let response = builder.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body: Value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: {text}"))
        };
        let mut answer =
            json!({ "path": template, "method": method, "status": status, "body": body });
        if let Some(request) = request {
            answer["request"] = request;
        }
        answer
    }
}

#[tokio::test]
async fn the_personas_api_document_names_every_route_and_real_calls_match_it() {
    use std::process::Stdio;

    use crate::helpers::{Process, persona_command, run_ok};

    let dir = tempfile::tempdir().unwrap();
    let (_gateway, url) = Process::start(
        persona_command(dir.path())
            .args([
                "gateway",
                "--addr",
                "127.0.0.1:0",
                "--db",
                "sqlite://persona.db",
            ])
            .stderr(Stdio::null()),
        "gateway listening on ",
    )
    .expect("the gateway printed its address");
    run_ok(persona_command(dir.path()).args(["seed", "--api", &url]));
    let http = reqwest::Client::new();
    let spec: Value = http
        .get(format!("{url}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let documented: BTreeSet<String> = spec["paths"].as_object().unwrap().keys().cloned().collect();
    let internal = [
        "due",
        "personas",
        "{id}/paused",
        "{id}/ticks",
        "ticks/{tick_id}/finish",
        "ticks/{tick_id}",
        "ticks/spent",
        "ticks",
        "ticks/insights",
        "ticks/transcripts/forget",
        "ticks/abort-stale",
        "{id}/lease",
        "{id}/lease/release",
        "leases/claim-due",
        "fleet/heartbeat",
        "fleet",
        "fleet/switch",
        "fleet/replicas/{id}",
        "{id}/memory",
        "{id}/actions",
        "{id}/feedback",
    ];
    let mut routes: BTreeSet<String> = internal
        .iter()
        .map(|route| format!("/api/v1/personas/internal/{route}"))
        .collect();
    for route in ["", "/spaces", "/{id}"] {
        routes.insert(format!("/api/v1/personas/admin{route}"));
    }
    routes.insert("/openapi.json".into());
    assert_eq!(
        documented, routes,
        "every personas API route, and only those"
    );

    let email = "admin@mana.test";
    let password = catalog::derive_password(&catalog::SeedSecret::dev_fallback(), email);
    let login: Value = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin = Call {
        http: &http,
        url: &url,
        auth: (
            "authorization",
            format!("Bearer {}", login["token"].as_str().unwrap()),
        ),
    };
    let runner = Call {
        http: &http,
        url: &url,
        auth: ("x-service-key", "dev-service-key-rotate-in-prod".into()),
    };
    const A: &str = "/api/v1/personas/admin";
    const I: &str = "/api/v1/personas/internal";
    let mut answers = vec![
        admin.send("get", A, A, None).await,
        admin
            .send(
                "get",
                &format!("{A}/{{id}}"),
                &format!("{A}/anna.keller@mana.test"),
                None,
            )
            .await,
        admin
            .send(
                "get",
                &format!("{A}/{{id}}"),
                &format!("{A}/nobody@mana.test"),
                None,
            )
            .await,
        runner
            .send("get", &format!("{I}/due"), &format!("{I}/due"), None)
            .await,
        runner
            .send(
                "get",
                &format!("{I}/personas"),
                &format!("{I}/personas"),
                None,
            )
            .await,
    ];
    let anna = answers[4]["body"]["personas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == "anna.keller@mana.test")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = chrono::Utc::now();
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let id = |route: &str| format!("{I}/{}", route.replace("{id}", &anna));
    let tick = |route: &str| format!("{I}/{}", route.replace("{tick_id}", "openapi-tick"));
    let t = |route: &str| format!("{I}/{route}");
    answers.extend([
        runner.send("post", &t("{id}/lease"), &id("{id}/lease"), Some(json!({ "owner": "openapi", "seconds": 60, "renew": false }))).await,
        runner.send("post", &t("{id}/ticks"), &id("{id}/ticks"), Some(json!({ "tickId": "openapi-tick", "personaId": anna, "provider": "scripted", "model": "scripted-v1", "startedAt": at }))).await,
        runner.send("post", &t("{id}/actions"), &id("{id}/actions"), Some(json!({ "actions": [{ "tickId": "openapi-tick", "actionIdx": 0, "toolUseId": "toolu_1", "toolName": "todo.list", "inputHash": "0123456789abcdef", "result": "ok", "latencyMs": 4, "createdAt": at }] }))).await,
        runner.send("post", &t("{id}/feedback"), &id("{id}/feedback"), Some(json!({ "feedback": [{ "tickId": "openapi-tick", "module": "todo", "rating": 4, "notes": "fine", "createdAt": at }] }))).await,
        runner.send("post", &t("ticks/{tick_id}/finish"), &tick("ticks/{tick_id}/finish"), Some(json!({ "status": "ok", "turns": 2, "tokens": { "input": 10, "output": 5, "cacheRead": 0, "cacheWrite": 0 }, "costUsd": 0.001, "finishedAt": at, "transcript": [{ "kind": "prompt", "phase": "day", "system": "s", "text": "t" }] }))).await,
        runner.send("get", &t("ticks/{tick_id}"), &tick("ticks/{tick_id}"), None).await,
        runner.send("get", &t("ticks"), &t("ticks?limit=5"), None).await,
        runner.send("get", &t("ticks/insights"), &t("ticks/insights?since=2026-01-01T00:00:00Z"), None).await,
        runner.send("get", &t("ticks/spent"), &t("ticks/spent?since=2026-01-01T00:00:00Z"), None).await,
        runner.send("post", &t("{id}/lease/release"), &id("{id}/lease/release"), Some(json!({ "owner": "openapi" }))).await,
        runner.send("post", &t("leases/claim-due"), &t("leases/claim-due"), Some(json!({ "owner": "openapi", "seconds": 60, "limit": 2 }))).await,
        runner.send("post", &t("ticks/abort-stale"), &t("ticks/abort-stale"), Some(json!({ "reason": "openapi test" }))).await,
        runner.send("post", &t("ticks/transcripts/forget"), &t("ticks/transcripts/forget"), Some(json!({ "before": "2000-01-01T00:00:00Z" }))).await,
        runner.send("post", &t("{id}/paused"), &id("{id}/paused"), Some(json!({ "paused": true }))).await,
        runner.send("put", &t("{id}/memory"), &id("{id}/memory"), Some(json!({ "memory": "Gestern: Einkauf geplant." }))).await,
        runner.send("get", &t("{id}/memory"), &id("{id}/memory"), None).await,
        runner.send("post", &t("fleet/heartbeat"), &t("fleet/heartbeat"), Some(json!({ "id": "openapi-replica", "host": "test", "startedAt": at, "ticking": 0, "periodMs": 1000 }))).await,
        runner.send("put", &t("fleet/switch"), &t("fleet/switch"), Some(json!({ "paused": false, "reason": "test", "setBy": "openapi", "setAt": at }))).await,
        runner.send("get", &t("fleet"), &t("fleet"), None).await,
        runner.send("delete", &t("fleet/replicas/{id}"), &t("fleet/replicas/openapi-replica"), None).await,
        runner.send("get", &t("due"), &t("due"), None).await,
    ]);
    for answer in &answers {
        let status = answer["status"].as_u64().unwrap();
        let expected_error = answer["path"] == format!("{A}/{{id}}") && status == 404;
        assert!(status < 300 || expected_error, "{answer}");
    }
    check(&spec, answers).await;
}
