//! What an attacker tries against the auth routes (issue 16): a login flood
//! is refused with `retry-after` instead of costing memory, failed logins
//! block the account, register does not tell which emails exist, bad emails
//! and blank passwords are refused naming the field, and a deleted user's
//! token stops working at once.

use gateway::config::GatewayConfig;
use registry::store::MasterKeys;
use reqwest::Response;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, backends, error_body, initialize, spawn_app, spec,
    test_config,
};

async fn register(app: &TestApp, email: &str, password: &str) -> Response {
    app.post(
        "/api/v1/auth/register",
        &json!({ "email": email, "password": password }),
    )
    .send()
    .await
    .unwrap()
}

/// The `retry-after` seconds of a 429 or 503.
fn retry_after(response: &Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_login_flood_is_refused_with_retry_after_and_health_still_answers() {
    let db = backends().await.remove(0);
    let config = GatewayConfig {
        password_hashes_at_once: 1,
        password_hashes_waiting: 2,
        ..test_config()
    };
    let app = spawn_app(db, config).await;
    app.user("mia@example.org").await;
    let flood: Vec<_> = (0..64)
        .map(|n| {
            let http = app.http.clone();
            let url = format!("{}/api/v1/auth/login", app.url);
            // Half on the account, half on emails nobody has.
            let email = if n % 2 == 0 {
                "mia@example.org".to_owned()
            } else {
                format!("guess{n}@example.org")
            };
            tokio::spawn(async move {
                http.post(url)
                    .json(&json!({ "email": email, "password": "wrong-password" }))
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    // The flood is in flight; health does not wait behind it.
    let health = app.get("/health").send().await.unwrap();
    assert_eq!(health.status(), 200);
    let mut refused = 0;
    for request in flood {
        let response = request.await.unwrap();
        match response.status().as_u16() {
            401 => {}
            429 | 503 => {
                assert!(retry_after(&response) >= 1);
                error_body(response).await;
                refused += 1;
            }
            other => panic!("a flooded login answered {other}"),
        }
    }
    // Refused either for want of a slot (only 1 + 2 argon2 runs are
    // admitted at once) or by the throttle (64 failures from one address).
    assert!(refused > 0, "64 wrong logins at once: some refused");
    // The slots are free again; the account may be blocked by now.
    let after = app.login("mia@example.org", "password-123").await;
    match after.status().as_u16() {
        200 => {}
        429 => assert!(retry_after(&after) >= 1),
        other => panic!("a login after the flood answered {other}"),
    }
    assert_eq!(app.get("/health").send().await.unwrap().status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn failed_logins_block_the_account_even_for_the_right_password() {
    let db = backends().await.remove(0);
    let app = spawn_app(db, test_config()).await;
    app.user("mia@example.org").await;
    for _ in 0..gateway::auth::throttle::FREE_ACCOUNT_FAILURES {
        let wrong = app.login("mia@example.org", "wrong-password").await;
        assert_eq!(wrong.status(), 401);
    }
    let blocked = app.login("MIA@example.org ", "password-123").await;
    assert_eq!(blocked.status(), 429);
    let wait = retry_after(&blocked);
    assert!((1..=10).contains(&wait), "{wait}");
    assert_eq!(error_body(blocked).await["code"], "too_many_attempts");
    // The address is not blocked yet: another account logs in.
    app.user("leo@example.org").await;
    app.stop().await;
}

#[tokio::test]
async fn register_answers_alike_for_a_new_and_a_taken_email() {
    for db in backends().await {
        let app = spawn_app(db, test_config()).await;
        let new = register(&app, "mia@example.org", "password-123").await;
        let (new_status, new_body): (u16, Value) =
            (new.status().as_u16(), new.json().await.unwrap());
        let taken = register(&app, "MIA@example.org", "another-password").await;
        let (taken_status, taken_body): (u16, Value) =
            (taken.status().as_u16(), taken.json().await.unwrap());
        assert_eq!((new_status, &new_body), (taken_status, &taken_body));
        assert_eq!(new_status, 202);
        assert_eq!(new_body["email"], "mia@example.org");
        // The owner's password still works; the second caller's does not.
        assert_eq!(
            app.login("mia@example.org", "password-123").await.status(),
            200
        );
        assert_eq!(
            app.login("mia@example.org", "another-password")
                .await
                .status(),
            401
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn bad_emails_and_blank_passwords_are_refused_naming_the_field() {
    let db = backends().await.remove(0);
    let app = spawn_app(db, test_config()).await;
    let long = format!("{}@example.org", "a".repeat(10_000));
    for email in [
        "a@b@c.com",
        "a@b.",
        "a\u{0}b@example.org",
        &long,
        "",
        "not-an-email",
    ] {
        let response = register(&app, email, "password-123").await;
        assert_eq!(response.status(), 400, "{email:?}");
        let error = error_body(response).await["error"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(error.starts_with("email: "), "{error}");
        assert!(
            error.len() < 200,
            "the refused email is not echoed: {error}"
        );
    }
    let blank = register(&app, "mia@example.org", "        ").await;
    assert_eq!(blank.status(), 400);
    assert_eq!(
        error_body(blank).await["error"],
        "password: must not be only whitespace"
    );
    let kept_lower = register(&app, " Mia@Example.ORG ", "password-123").await;
    assert_eq!(kept_lower.status(), 202);
    assert!(
        app.db
            .store
            .user_by_email("mia@example.org")
            .await
            .unwrap()
            .is_some()
    );

    let admin = app.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    for email in ["", "not-an-email"] {
        let persona = spec("Anna", email, catalog::Cadence::Daily);
        let response = app
            .post(
                "/api/v1/personas/admin",
                &json!({ "persona": persona, "password": "derived-password-1" }),
            )
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{email:?}");
        let error = error_body(response).await["error"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(error.starts_with("persona.email: "), "{error}");
    }
    let persona = spec("Anna", "anna@mana.test", catalog::Cadence::Daily);
    let response = app
        .post(
            "/api/v1/personas/admin",
            &json!({ "persona": persona, "password": "          " }),
        )
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        error_body(response).await["error"],
        "password: must not be only whitespace"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_users_token_is_refused_at_once_and_its_key_forgotten() {
    for db in backends().await {
        let app = spawn_app(db, test_config()).await;
        let admin = app.token(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let persona = spec("Anna", "anna@mana.test", catalog::Cadence::Daily);
        let created: Value = app
            .post(
                "/api/v1/personas/admin",
                &json!({ "persona": persona, "password": "derived-password-1" }),
            )
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let anna_id = created["id"].as_str().unwrap().to_owned();
        let anna = app.token("anna@mana.test", "derived-password-1").await;
        let human = app.user("mia@example.org").await;
        let get = |path: &'static str, token: String| app.get(path).bearer_auth(token).send();
        for token in [&anna, &human.token] {
            assert_eq!(
                get("/api/v1/spaces", token.clone()).await.unwrap().status(),
                200
            );
            // Caches the master key in the vault.
            let vault = get("/api/v1/me/encryption-vault/key", token.clone());
            assert_eq!(vault.await.unwrap().status(), 200);
        }

        // Through the admin API.
        let deleted = app
            .http
            .delete(format!("{}/api/v1/personas/admin/{anna_id}", app.url))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(deleted.status(), 204);
        // Through the store directly (as another part of the process would).
        app.db.store.delete_user(&human.id).await.unwrap();

        for (token, space_id) in [(&anna, None), (&human.token, Some(&human.space_id))] {
            for path in ["/api/v1/spaces", "/api/v1/me/encryption-vault/key"] {
                let response = get(path, token.clone()).await.unwrap();
                assert_eq!(response.status(), 401, "{path} ({})", app.db.label);
                error_body(response).await;
            }
            if let Some(space_id) = space_id {
                let mcp = app.mcp(token, space_id, None, &initialize()).send();
                assert_eq!(mcp.await.unwrap().status(), 401);
            }
        }
        for user_id in [&anna_id, &human.id] {
            assert!(
                app.state.vault.master_key(user_id).await.is_err(),
                "no cached key survives its user"
            );
        }
        app.stop().await;
    }
}
