//! The personas API: the internal routes (service key, idempotent batches)
//! the runner writes through, and the admin routes that upsert, list and
//! show personas but never delete a human account.

use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, SERVICE_KEY, TestApp, backends, error_body, spawn_app, spec,
    test_config,
};

fn action(tick: &str, index: u32) -> Value {
    json!({
        "tickId": tick, "actionIdx": index, "toolUseId": format!("toolu_{index}"), "toolName": "todo.create",
        "inputHash": "0123456789abcdef", "result": "ok", "latencyMs": 12, "createdAt": "2026-11-20T12:00:00Z"
    })
}

fn internal(app: &TestApp, path: &str, body: &Value) -> reqwest::RequestBuilder {
    app.post(&format!("/api/v1/personas/internal{path}"), body)
        .header("x-service-key", SERVICE_KEY)
}

async fn admin_token(app: &TestApp) -> String {
    app.token(ADMIN_EMAIL, ADMIN_PASSWORD).await
}

async fn upsert(app: &TestApp, token: &str, name: &str) -> (u16, Value) {
    let spec = spec(
        name,
        &format!("{}@mana.test", name.to_lowercase()),
        catalog::Cadence::Daily,
    );
    let response = app
        .post(
            "/api/v1/personas/admin",
            &json!({ "persona": spec, "password": "derived-password-1" }),
        )
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn internal_routes_need_the_service_key_and_keep_batches_idempotent() {
    for db in backends().await {
        let app = spawn_app(db, test_config()).await;
        let admin = admin_token(&app).await;
        let (_, created) = upsert(&app, &admin, "Anna").await;
        let anna = created["id"].as_str().unwrap().to_owned();

        let due = app
            .get("/api/v1/personas/internal/due")
            .send()
            .await
            .unwrap();
        assert_eq!(due.status(), 401);
        let wrong = app
            .get("/api/v1/personas/internal/due")
            .header("x-service-key", "guess")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401);
        let due: Value = app
            .get("/api/v1/personas/internal/due")
            .header("x-service-key", SERVICE_KEY)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(due["personas"][0]["id"], anna.as_str());
        assert_eq!(due["personas"][0]["moduleMix"]["todo"], 0.6);

        let batch = json!({ "actions": [action("t1", 0), action("t1", 1)] });
        let first: Value = internal(&app, &format!("/{anna}/actions"), &batch)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            first,
            json!({ "inserted": 2, "duplicates": 0 }),
            "{}",
            app.db.label
        );
        let again: Value = internal(&app, &format!("/{anna}/actions"), &batch)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(again, json!({ "inserted": 0, "duplicates": 2 }));

        let too_many: Vec<Value> = (0..501).map(|i| action("t2", i)).collect();
        let response = internal(
            &app,
            &format!("/{anna}/actions"),
            &json!({ "actions": too_many }),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 413);
        error_body(response).await;
        let response = internal(&app, "/nobody/actions", &batch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);

        let mut bad = action("t3", 1);
        bad["latencyMs"] = json!("fast");
        let response = internal(
            &app,
            &format!("/{anna}/actions"),
            &json!({ "actions": [action("t3", 0), bad] }),
        )
        .send()
        .await
        .unwrap();
        assert_eq!(response.status(), 400);
        let message = error_body(response).await["error"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.starts_with("row 1: latencyMs:"), "{message}");

        let feedback = json!({ "feedback": [{ "tickId": "t1", "module": "todo", "rating": 9, "notes": "", "createdAt": "2026-11-20T12:00:00Z" }] });
        let response = internal(&app, &format!("/{anna}/feedback"), &feedback)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400);
        assert!(
            error_body(response).await["error"]
                .as_str()
                .unwrap()
                .contains("row 0: rating: rating 9 is outside 1–5")
        );
        let feedback = json!({ "feedback": [{ "tickId": "t1", "module": "todo", "rating": 4, "notes": "gut", "createdAt": "2026-11-20T12:00:00Z" }] });
        let stored: Value = internal(&app, &format!("/{anna}/feedback"), &feedback)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(stored["inserted"], 1);
        app.stop().await;
    }
}

#[tokio::test]
async fn admin_routes_upsert_list_detail_and_refuse_deleting_humans() {
    for db in backends().await {
        let app = spawn_app(db, test_config()).await;
        let human = app.user("mia@example.org").await;
        let forbidden = app
            .get("/api/v1/personas/admin")
            .bearer_auth(&human.token)
            .send()
            .await
            .unwrap();
        assert_eq!(forbidden.status(), 403);

        let admin = admin_token(&app).await;
        let (status, created) = upsert(&app, &admin, "Anna").await;
        assert_eq!(
            (status, created["outcome"].as_str()),
            (201, Some("created")),
            "{}",
            app.db.label
        );
        let (status, again) = upsert(&app, &admin, "Anna").await;
        assert_eq!(
            (status, again["outcome"].as_str()),
            (200, Some("unchanged"))
        );
        upsert(&app, &admin, "Ben").await;

        // The persona logs in with the password it was seeded with.
        assert_eq!(
            app.login("anna@mana.test", "derived-password-1")
                .await
                .status(),
            200
        );

        let list: Value = app
            .get("/api/v1/personas/admin")
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(list["personas"].as_array().unwrap().len(), 2);
        assert_eq!(list["personas"][0]["actionsLast7Days"], 0);
        let detail: Value = app
            .get("/api/v1/personas/admin/anna@mana.test")
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(detail["persona"]["name"], "Anna");
        assert!(detail["recentActions"].as_array().unwrap().is_empty());

        let space = json!({ "name": "Familie", "type": "family", "members": ["anna@mana.test", "ben@mana.test"] });
        let first = app
            .post("/api/v1/personas/admin/spaces", &space)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 201);
        let second: Value = app
            .post("/api/v1/personas/admin/spaces", &space)
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(second["outcome"], "unchanged");

        let refused = app
            .http
            .delete(format!("{}/api/v1/personas/admin/{}", app.url, human.id))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 409);
        assert!(
            error_body(refused).await["error"]
                .as_str()
                .unwrap()
                .contains("not a persona")
        );
        let anna = created["id"].as_str().unwrap();
        let deleted = app
            .http
            .delete(format!("{}/api/v1/personas/admin/{anna}", app.url))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        app.stop().await;
    }
}

/// An action row of the last hours: `failed_by` `None` on an error row is a
/// row from before the label existed.
fn recent_action(tick: &str, index: u32, tool: &str, failed: Option<Option<&str>>) -> Value {
    let created_at = chrono::Utc::now() - chrono::TimeDelta::hours(1);
    let mut row = json!({
        "tickId": tick, "actionIdx": index, "toolName": tool, "inputHash": "0123456789abcdef",
        "result": "ok", "latencyMs": 12, "createdAt": created_at
    });
    if let Some(failed_by) = failed {
        row["result"] = json!("error");
        row["errorMessage"] = json!("refused");
        row["failedBy"] = json!(failed_by);
    }
    row
}

#[tokio::test]
async fn admin_error_rates_count_the_apps_errors_and_name_the_agents_beside_them() {
    const APP: Option<Option<&str>> = Some(Some("app"));
    const AGENT: Option<Option<&str>> = Some(Some("agent"));
    const UNLABELLED: Option<Option<&str>> = Some(None);
    for db in backends().await {
        let app = spawn_app(db, test_config()).await;
        let admin = admin_token(&app).await;
        let anna = upsert(&app, &admin, "Anna").await.1["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let ben = upsert(&app, &admin, "Ben").await.1["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut last_week = recent_action("t0", 0, "todo.list", APP);
        last_week["createdAt"] = json!(chrono::Utc::now() - chrono::TimeDelta::days(8));
        let anna_rows = json!({ "actions": [
            recent_action("t1", 0, "todo.create", None),
            recent_action("t1", 1, "todo.create", None),
            recent_action("t1", 2, "todo.create", APP),
            recent_action("t1", 3, "todo.create", AGENT),
            recent_action("t1", 4, "todo.list", None),
            recent_action("t1", 5, "todo.list", UNLABELLED),
            last_week,
        ]});
        let ben_rows = json!({ "actions": [recent_action("t2", 0, "notes.create", None)] });
        for (persona, rows) in [(&anna, &anna_rows), (&ben, &ben_rows)] {
            let response = internal(&app, &format!("/{persona}/actions"), rows)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{}", app.db.label);
        }
        let entry = |key: &str, name: &str, calls: u64, app_errors: u64, agent_errors: u64| {
            json!({
                key: name, "calls": calls, "appErrors": app_errors, "agentErrors": agent_errors,
                "appErrorRate": app_errors as f64 / calls as f64
            })
        };
        let anna_tools = vec![
            entry("tool", "todo.create", 4, 1, 1),
            entry("tool", "todo.list", 2, 1, 0),
        ];

        let detail: Value = app
            .get(&format!("/api/v1/personas/admin/{anna}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(detail["toolErrors"], json!(anna_tools), "{}", app.db.label);
        assert_eq!(
            detail["moduleErrors"],
            json!([entry("module", "todo", 6, 2, 1)])
        );
        assert_eq!(detail["moduleErrors"][0]["appErrorRate"], json!(1.0 / 3.0));

        let list: Value = app
            .get("/api/v1/personas/admin")
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut fleet_tools = vec![entry("tool", "notes.create", 1, 0, 0)];
        fleet_tools.extend(anna_tools);
        assert_eq!(list["toolErrors"], json!(fleet_tools), "{}", app.db.label);
        assert_eq!(
            list["moduleErrors"],
            json!([
                entry("module", "notes", 1, 0, 0),
                entry("module", "todo", 6, 2, 1)
            ])
        );
        assert_eq!(list["personas"][0]["actionsLast7Days"], 6);

        // A persona without calls has no entries, never a division by zero.
        upsert(&app, &admin, "Carla").await;
        let quiet: Value = app
            .get("/api/v1/personas/admin/carla@mana.test")
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (&quiet["toolErrors"], &quiet["moduleErrors"]),
            (&json!([]), &json!([]))
        );
        app.stop().await;
    }
}
