//! Accounts over HTTP: register and login (one 401 for an unknown email and
//! a wrong password alike; `abuse.rs` has what an attacker tries), the tokens the gateway refuses, the JWKS and
//! tokens across a restart, the vault key, and the ensured admin account
//! beside the health and metrics routes.

use gateway::auth::Claims;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, backends, error_body, spawn_app, test_config};

#[tokio::test]
async fn register_login_and_the_same_401_for_unknown_email_and_wrong_password() {
    for db in backends().await {
        let app = spawn_app(db, test_config()).await;
        let response = app
            .post(
                "/api/v1/auth/register",
                &json!({ "email": "mia@example.org", "password": "password-123" }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let short = app
            .post(
                "/api/v1/auth/register",
                &json!({ "email": "x@example.org", "password": "short" }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(short.status(), 400);
        assert!(
            error_body(short).await["error"]
                .as_str()
                .unwrap()
                .contains("at least 8")
        );
        let malformed = app
            .http
            .post(format!("{}/api/v1/auth/register", app.url))
            .header("content-type", "application/json")
            .body("{nope")
            .send()
            .await
            .unwrap();
        assert_eq!(malformed.status(), 400);
        error_body(malformed).await;

        let login = app.login("mia@example.org", "password-123").await;
        assert_eq!(login.status(), 200);
        let body: Value = login.json().await.unwrap();
        assert_eq!(body["user"]["kind"], "human");
        assert!(body["expiresAt"].is_string());

        let wrong = app.login("mia@example.org", "wrong-password").await;
        let unknown = app.login("nobody@example.org", "password-123").await;
        assert_eq!(
            (wrong.status().as_u16(), unknown.status().as_u16()),
            (401, 401)
        );
        assert_eq!(
            error_body(wrong).await,
            error_body(unknown).await,
            "indistinguishable"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn tampered_expired_and_foreign_audience_tokens_are_401() {
    let db = backends().await.remove(0);
    let app = spawn_app(db, test_config()).await;
    let user = app.user("mia@example.org").await;
    let spaces = |token: String| app.get("/api/v1/spaces").bearer_auth(token).send();
    assert_eq!(spaces(user.token.clone()).await.unwrap().status(), 200);

    let mut tampered = user.token.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        spaces(String::from_utf8(tampered).unwrap())
            .await
            .unwrap()
            .status(),
        401
    );

    let claims = app.state.jwt.verify(&user.token).unwrap();
    // A token verified before is remembered, but its expiry still counts.
    assert_eq!(
        app.state.jwt.verify_at(&user.token, claims.exp).unwrap(),
        claims
    );
    let late = app
        .state
        .jwt
        .verify_at(&user.token, claims.exp + 6)
        .unwrap_err();
    assert!(late.to_string().contains("xpired"), "{late}");
    let now = chrono::Utc::now().timestamp();
    let expired = Claims {
        iat: now - 7200,
        exp: now - 3600,
        ..claims.clone()
    };
    let response = spaces(app.state.jwt.sign(&expired).unwrap()).await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        error_body(response).await["error"]
            .as_str()
            .unwrap()
            .contains("xpired")
    );
    let foreign = Claims {
        aud: "another-app".into(),
        ..claims.clone()
    };
    assert_eq!(
        spaces(app.state.jwt.sign(&foreign).unwrap())
            .await
            .unwrap()
            .status(),
        401
    );
    let response = app.get("/api/v1/spaces").send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    app.stop().await;
}

#[tokio::test]
async fn jwks_publishes_the_key_and_tokens_survive_a_restart() {
    let db = backends().await.remove(0);
    let app = spawn_app(db, test_config()).await;
    let user = app.user("mia@example.org").await;
    let jwks: Value = app
        .get("/api/v1/auth/jwks")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["alg"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
    );
    let header = jsonwebtoken::decode_header(&user.token).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());

    // A second gateway on the same database loads the same signing key.
    let restarted = gateway::app::AppState::build(
        test_config(),
        app.db.store.clone(),
        crate::helpers::keyring(),
    )
    .await
    .unwrap();
    assert_eq!(restarted.jwt.verify(&user.token).unwrap().sub, user.id);
    app.stop().await;
}

#[tokio::test]
async fn vault_key_and_zero_knowledge_users() {
    let db = backends().await.remove(0);
    let app = spawn_app(db, test_config()).await;
    let user = app.user("mia@example.org").await;
    let vault = |token: String| {
        app.get("/api/v1/me/encryption-vault/key")
            .bearer_auth(token)
            .send()
    };
    let body: Value = vault(user.token.clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD
        .decode(body["masterKey"].as_str().unwrap())
        .unwrap();
    assert_eq!(key.len(), 32);
    let other = app.user("zk@example.org").await;
    app.db.store.make_zero_knowledge(&other.id).await.unwrap();
    let body: Value = vault(other.token).await.unwrap().json().await.unwrap();
    assert_eq!(body, json!({ "zeroKnowledge": true }));
    app.stop().await;
}

#[tokio::test]
async fn the_admin_account_is_ensured_and_health_and_metrics_answer() {
    let db = backends().await.remove(0);
    let app = spawn_app(db, test_config()).await;
    let admin = app
        .state
        .jwt
        .verify(&app.token(ADMIN_EMAIL, ADMIN_PASSWORD).await)
        .unwrap();
    assert_eq!(admin.role, "admin");
    let health: Value = app
        .get("/health")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["tools"], 20);
    let metrics = app
        .get("/metrics")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("gateway_mcp_sessions"), "{metrics}");
    assert_eq!(
        app.get("/no/such/route").send().await.unwrap().status(),
        404
    );
    app.stop().await;
}
