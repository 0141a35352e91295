//! `persona up` as a daemon, driven over its control API: the kill-switch
//! holds a started tick at the gate, a paused persona stays out while the
//! others tick (and the flag is stored), and SIGTERM mid-run exits 0 with
//! every tick finished and its rows stored.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{Process, eventually, exit_status, persona_command, run_ok, send_signal};

/// `persona up` as a daemon, with its working directory (and database).
pub(crate) struct Daemon {
    process: Process,
    pub(crate) control: String,
    dir: tempfile::TempDir,
}

pub(crate) fn start(envs: &[(&str, &str)]) -> Daemon {
    let dir = tempfile::tempdir().unwrap();
    let mut command = persona_command(dir.path());
    command.args([
        "up",
        "--gateway-addr",
        "127.0.0.1:0",
        "--control-addr",
        "127.0.0.1:0",
    ]);
    command
        .env("TICK_INTERVAL_MS", "1000")
        .env("PERSONA_CONCURRENCY", "1")
        .stderr(Stdio::null());
    for (name, value) in envs {
        command.env(name, value);
    }
    let (process, line) =
        Process::start(&mut command, "control API listening on ").expect("the daemon started");
    Daemon {
        process,
        control: first_word(&line),
        dir,
    }
}

/// The address at the start of a ready line ("http://… (token required)").
fn first_word(line: &str) -> String {
    line.split_whitespace().next().unwrap().to_owned()
}

pub(crate) async fn supervisor(http: &reqwest::Client, daemon: &Daemon) -> Value {
    http.get(format!("{}/supervisor", daemon.control))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

pub(crate) fn persona<'a>(snapshot: &'a Value, email: &str) -> &'a Value {
    snapshot["personas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["email"] == email)
        .unwrap()
}

#[tokio::test]
async fn the_kill_switch_and_a_paused_persona_are_honoured_and_stored() {
    let daemon = start(&[
        ("RUNNER_PAUSED", "true"),
        ("RUNNER_ADMIN_TOKEN", "secret-token"),
    ]);
    let http = reqwest::Client::new();
    // Kill-switch on: the schedule starts nothing, and a tick asked for by
    // hand is started but waits at the gate without a permit, so nothing
    // reaches an LLM. (That the schedule skips its rounds while paused is
    // not visible from outside; the waiting tick is.)
    let waiting = "anna.keller@mana.test";
    let asked = http
        .post(format!("{}/personas/{waiting}/tick", daemon.control))
        .bearer_auth("secret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), 200);
    eventually(
        Duration::from_secs(60),
        "Anna's tick to wait at the gate",
        || async { persona(&supervisor(&http, &daemon).await, waiting)["state"] == "ticking" },
    )
    .await;
    let paused = supervisor(&http, &daemon).await;
    assert_eq!(paused["dispatcher"]["paused"], true);
    assert_eq!(
        paused["dispatcher"]["permitsInUse"], 0,
        "the started tick holds no permit"
    );
    assert_eq!(
        paused["dispatcher"]["llmRequests"], 0,
        "no LLM request while paused"
    );
    assert!(
        paused["personas"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["ticks"] == 0)
    );

    // Mutating routes need the admin token.
    let email = "miriam.scholz@mana.test";
    let refused = http
        .post(format!("{}/personas/{email}/pause", daemon.control))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    // So do the diag routes: a login costs the app an argon2 hash.
    let diag_login = format!("{}/diag/login?email={waiting}", daemon.control);
    assert_eq!(http.get(&diag_login).send().await.unwrap().status(), 401);
    let diag_tick = format!("{}/diag/tick", daemon.control);
    assert_eq!(http.post(&diag_tick).send().await.unwrap().status(), 401);
    let logged_in = http
        .get(&diag_login)
        .bearer_auth("secret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(logged_in.status(), 200);
    // So does reading a transcript: it holds what the persona wrote.
    let tick = format!("{}/ticks/no-such-tick", daemon.control);
    assert_eq!(http.get(&tick).send().await.unwrap().status(), 401);
    let unknown = http
        .get(&tick)
        .bearer_auth("secret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    // A rebinding page's Host, a cross-site Origin and a form body are refused
    // before any route runs, even with the token.
    let resume = format!("{}/resume", daemon.control);
    for (header, value, status) in [
        ("host", "evil.example.com:3070", 403),
        ("origin", "http://evil.example.com", 403),
        ("content-type", "application/x-www-form-urlencoded", 415),
    ] {
        let refused = http
            .post(&resume)
            .bearer_auth("secret-token")
            .header(header, value)
            .body("paused=false")
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), status, "{header}: {value}");
    }
    // The scheme is case-insensitive.
    for scheme in ["bearer", "BEARER"] {
        let unknown = http
            .get(&tick)
            .header("authorization", format!("{scheme} secret-token"))
            .send()
            .await
            .unwrap();
        assert_eq!(unknown.status(), 404, "{scheme}");
    }
    let ok = http
        .post(format!("{}/personas/{email}/pause", daemon.control))
        .bearer_auth("secret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let resumed = http
        .post(format!("{}/resume", daemon.control))
        .bearer_auth("secret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 200);

    // The others tick; the paused persona does not.
    eventually(
        Duration::from_secs(60),
        "the other due personas ticked",
        || async {
            let snapshot = supervisor(&http, &daemon).await;
            snapshot["personas"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["email"] != email)
                .filter(|p| p["ticks"] == 1)
                .count()
                >= 6
        },
    )
    .await;
    let snapshot = supervisor(&http, &daemon).await;
    assert_eq!(persona(&snapshot, email)["ticks"], 0);
    assert_eq!(persona(&snapshot, email)["state"], "paused");
    let detail: Value = http
        .get(format!("{}/personas/{email}", daemon.control))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["paused"], true);
    // Asked of the persona's actor itself: nothing running.
    assert!(
        detail.get("runningTick").is_some_and(Value::is_null),
        "{detail}"
    );
    let metrics = http
        .get(format!("{}/metrics", daemon.control))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "persona_ticks_total",
        "persona_tool_calls_total",
        "llm_requests_total",
        "dispatcher_permits_in_use",
        "persistence_pending_rows",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    // Latencies are histograms (they add up across replicas), and series
    // whose label values are known exist from the start, at zero.
    for line in [
        "# TYPE persona_tick_duration_seconds histogram",
        "# TYPE persona_tool_latency_seconds histogram",
        "# TYPE llm_request_duration_seconds histogram",
        "# TYPE gateway_tool_call_seconds histogram",
        "persona_tick_duration_seconds_bucket{le=\"600\"}",
        "persona_budget_refusals_total{scope=\"fleet\"} 0",
        "gateway_logins_total{outcome=\"throttled\"} 0",
        "llm_requests_total{provider=\"scripted\",status=\"error\"} 0",
    ] {
        assert!(
            metrics.contains(line),
            "{line:?} missing from /metrics:\n{metrics}"
        );
    }
    // Every metric has HELP text, and the Grafana dashboard uses only
    // metrics that exist.
    for line in metrics.lines().filter(|line| line.starts_with("# TYPE ")) {
        let name = line.split_whitespace().nth(2).unwrap();
        assert!(
            metrics.contains(&format!("# HELP {name} ")),
            "{name} has no HELP text"
        );
    }
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/grafana/persona-runner.json"
    ))
    .unwrap();
    let dashboard: Value = serde_json::from_str(&dashboard).unwrap();
    let name = regex::Regex::new(
        r"\b((?:persona|llm|dispatcher|persistence|personas|gateway)_[a-z_]+?)(?:_bucket)?\b",
    )
    .unwrap();
    let mut used = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            for found in name.captures_iter(expr) {
                let metric = &found[1];
                assert!(
                    metrics.contains(&format!("# HELP {metric} ")),
                    "the dashboard's {metric:?} ({:?}) is not a metric",
                    panel["title"]
                );
                used += 1;
            }
        }
    }
    assert!(used > 20, "{used} metrics in the dashboard");

    // The pause is in the database.
    let store = gateway::Store::connect(&format!(
        "sqlite://{}",
        daemon.dir.path().join("persona.db").display()
    ))
    .await
    .unwrap();
    assert!(store.persona_by_id_or_email(email).await.unwrap().paused);
    store.close().await;
}

#[tokio::test]
async fn sigterm_mid_run_exits_zero_and_leaves_every_tick_finished_with_its_rows() {
    let mut daemon = start(&[]);
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(60), "a tick is running", || async {
        let snapshot = supervisor(&http, &daemon).await;
        snapshot["personas"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["state"] == "ticking")
    })
    .await;
    let in_flight: Vec<String> = supervisor(&http, &daemon).await["personas"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["currentTick"].as_str().map(str::to_owned))
        .collect();
    send_signal(daemon.process.id(), "TERM");
    let status = exit_status(
        &mut daemon.process.child,
        Duration::from_secs(60),
        "the daemon to exit after SIGTERM",
    )
    .await;
    assert!(status.success(), "{status}");

    let store = gateway::Store::connect(&format!(
        "sqlite://{}",
        daemon.dir.path().join("persona.db").display()
    ))
    .await
    .unwrap();
    // Every tick in flight at the signal either finished with its rows or
    // never started (it was still waiting for a permit).
    let mut finished = 0;
    for tick_id in &in_flight {
        match store.tick(tick_id).await {
            Ok(tick) => {
                assert_eq!(
                    tick.status,
                    catalog::TickStatus::Ok,
                    "{tick_id}: {:?}",
                    tick.error
                );
                assert!(
                    !store.tick_actions(tick_id).await.unwrap().is_empty(),
                    "{tick_id} kept its rows"
                );
                finished += 1;
            }
            Err(gateway::StoreError::NotFound { .. }) => {}
            Err(error) => panic!("{error}"),
        }
    }
    assert!(
        finished >= 1,
        "the running tick finished within the grace period"
    );
    // No tick is left running.
    let aborted = store
        .abort_stale_ticks(chrono::Utc::now(), chrono::Utc::now(), "probe")
        .await
        .unwrap();
    assert_eq!(aborted, 0, "every tick row was finished before exit");
    store.close().await;
}

#[tokio::test]
async fn the_runner_alone_drives_a_separate_gateway() {
    for mode in ["--api", "--db"] {
        runner_alone(mode).await;
    }
}

async fn runner_alone(mode: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (mut gateway, app_url) = Process::start(
        persona_command(dir.path())
            .args([
                "gateway",
                "--addr",
                "127.0.0.1:0",
                "--db",
                "sqlite://shared.db",
            ])
            .stderr(Stdio::null()),
        "gateway listening on ",
    )
    .expect("the gateway printed its address");
    run_ok(persona_command(dir.path()).args(["seed", "--api", &app_url]));

    let backend = match mode {
        "--api" => vec!["--api", &app_url],
        _ => vec!["--db", "sqlite://shared.db", "--app-url", &app_url],
    };
    let (mut runner, line) = Process::start(
        persona_command(dir.path())
            .arg("runner")
            .args(backend)
            .args(["--addr", "127.0.0.1:0"])
            .env("TICK_INTERVAL_MS", "1000")
            .stderr(Stdio::null()),
        "control API listening on ",
    )
    .expect("the runner printed its control address");
    let control = first_word(&line);
    let http = reqwest::Client::new();
    eventually(
        Duration::from_secs(60),
        "the due personas ticked through the separate gateway",
        || async {
            let snapshot: Value = http
                .get(format!("{control}/supervisor"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let ticked = snapshot["personas"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["lastOutcome"]["status"] == "ok")
                .count();
            ticked >= 7
        },
    )
    .await;
    // Every finished tick's row is stored (through the internal API in --api mode).
    let snapshot: Value = http
        .get(format!("{control}/supervisor"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let store = gateway::Store::connect(&format!(
        "sqlite://{}",
        dir.path().join("shared.db").display()
    ))
    .await
    .unwrap();
    for persona in snapshot["personas"].as_array().unwrap() {
        if let Some(tick_id) = persona["lastOutcome"]["tickId"].as_str() {
            let tick = store
                .tick(tick_id)
                .await
                .unwrap_or_else(|error| panic!("{mode}: tick row {tick_id}: {error}"));
            assert_eq!(tick.status, catalog::TickStatus::Ok, "{mode}");
            let actions = store.tick_actions(tick_id).await.unwrap();
            assert!(!actions.is_empty(), "{mode}: rows of {tick_id}");
            // The transcript came with the tick's end, and the control API
            // reads it back over the same backend.
            let detail: catalog::internal_api::TickDetail = http
                .get(format!("{control}/ticks/{tick_id}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let calls = detail
                .transcript
                .iter()
                .filter(|item| matches!(item, catalog::transcript::TranscriptItem::Call { .. }))
                .count();
            assert_eq!(calls, actions.len(), "{mode}: the transcript of {tick_id}");
        }
    }
    // The dashboard lists and sums the stored ticks over the same backend.
    for page in ["/ui/ticks", "/"] {
        let response = http.get(format!("{control}{page}")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{mode}: {page}");
        let html = response.text().await.unwrap();
        let tick_id = snapshot["personas"]
            .as_array()
            .unwrap()
            .iter()
            .find_map(|persona| persona["lastOutcome"]["tickId"].as_str())
            .unwrap();
        let expected = if page == "/" {
            "<table class=\"tools\""
        } else {
            tick_id
        };
        assert!(html.contains(expected), "{mode}: {page} lacks {expected}");
    }
    store.close().await;
    for process in [&mut runner, &mut gateway] {
        send_signal(process.id(), "TERM");
        let status = exit_status(
            &mut process.child,
            Duration::from_secs(60),
            "the process to exit after SIGTERM",
        )
        .await;
        assert!(status.success(), "{mode}: {status}");
    }
}

#[tokio::test]
async fn production_needs_the_admin_token_and_hides_the_diag_routes() {
    let production = [
        ("PERSONA_ENV", "production"),
        ("PERSONA_SEED_SECRET", "a-real-seed-secret"),
        ("MANA_SERVICE_KEY", "a-real-service-key"),
        ("MANA_KEK", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="),
        ("MANA_ADMIN_PASSWORD", "a-real-admin-password"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut command = persona_command(dir.path());
    command.args([
        "up",
        "--gateway-addr",
        "127.0.0.1:0",
        "--control-addr",
        "127.0.0.1:0",
    ]);
    for (name, value) in production {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("RUNNER_ADMIN_TOKEN must be set"));

    let mut envs = production.to_vec();
    envs.push(("RUNNER_ADMIN_TOKEN", "a-real-admin-token"));
    envs.push(("RUNNER_PAUSED", "true"));
    let daemon = start(&envs);
    let http = reqwest::Client::new();
    let login = http
        .get(format!(
            "{}/diag/login?email=anna.keller@mana.test",
            daemon.control
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 404);
    let tick = http
        .post(format!("{}/diag/tick", daemon.control))
        .bearer_auth("a-real-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(tick.status(), 404);
    assert_eq!(
        http.get(format!("{}/health", daemon.control))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// The daemon's first schedule pass runs at start: with an hour between
/// passes, the personas due at start tick within the first minute anyway.
#[tokio::test]
async fn the_first_schedule_pass_runs_at_start() {
    let daemon = start(&[("TICK_INTERVAL_MS", "3600000")]);
    let http = reqwest::Client::new();
    eventually(
        Duration::from_secs(60),
        "a due persona ticked before the first period was over",
        || async {
            let snapshot = supervisor(&http, &daemon).await;
            snapshot["personas"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["ticks"] == 1)
        },
    )
    .await;
}
