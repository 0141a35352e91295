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
