//! The gateway as a real server on a loopback port: auth, the MCP endpoint
//! (with the official Python client), the personas API.

mod auth;
mod mcp;
mod personas_api;

use std::sync::Arc;

use gateway::app::AppState;
use gateway::config::GatewayConfig;
use reqwest::{RequestBuilder, Response};
use serde_json::{Value, json};

use crate::helpers::{TestDb, keyring};

pub const SERVICE_KEY: &str = "test-service-key";
pub const ADMIN_EMAIL: &str = "admin@mana.test";
pub const ADMIN_PASSWORD: &str = "admin-password-123";

/// A gateway serving on `127.0.0.1:0`.
pub struct TestApp {
    pub db: TestDb,
    pub url: String,
    pub http: reqwest::Client,
    pub state: Arc<AppState>,
    server: gateway::app::RunningGateway,
}

pub fn test_config() -> GatewayConfig {
    GatewayConfig {
        service_key: SERVICE_KEY.into(),
        admin: Some((ADMIN_EMAIL.into(), ADMIN_PASSWORD.into())),
        ..GatewayConfig::default()
    }
}

pub async fn spawn_app(db: TestDb, config: GatewayConfig) -> TestApp {
    let state = AppState::build(config, db.store.clone(), keyring())
        .await
        .unwrap();
    let server = gateway::app::spawn("127.0.0.1:0".parse().unwrap(), state.clone())
        .await
        .unwrap();
    TestApp {
        db,
        url: server.url(),
        http: reqwest::Client::new(),
        state,
        server,
    }
}

/// A registered, logged-in user.
pub struct TestUser {
    pub id: String,
    pub token: String,
    pub space_id: String,
}

impl TestApp {
    pub async fn stop(self) {
        self.server.stop().await.unwrap();
        self.db.finish().await;
    }

    pub fn post(&self, path: &str, body: &Value) -> RequestBuilder {
        self.http.post(format!("{}{path}", self.url)).json(body)
    }

    pub fn get(&self, path: &str) -> RequestBuilder {
        self.http.get(format!("{}{path}", self.url))
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post(
            "/api/v1/auth/login",
            &json!({ "email": email, "password": password }),
        )
        .send()
        .await
        .unwrap()
    }

    pub async fn token(&self, email: &str, password: &str) -> String {
        let response = self.login(email, password).await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Registers `email`, logs in and finds the personal space.
    pub async fn user(&self, email: &str) -> TestUser {
        let response = self
            .post(
                "/api/v1/auth/register",
                &json!({ "email": email, "password": "password-123" }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        let token = self.token(email, "password-123").await;
        let spaces: Value = self
            .get("/api/v1/spaces")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let claims = self.state.jwt.verify(&token).unwrap();
        TestUser {
            id: claims.sub,
            token,
            space_id: spaces["spaces"][0]["id"].as_str().unwrap().to_owned(),
        }
    }

    /// A raw MCP POST, as a client on protocol 2025-11-25 sends it.
    pub fn mcp(
        &self,
        token: &str,
        space: &str,
        session: Option<&str>,
        body: &Value,
    ) -> RequestBuilder {
        let mut request = self
            .http
            .post(format!("{}/mcp", self.url))
            .bearer_auth(token)
            .header(catalog::SPACE_HEADER, space)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(session) = session {
            request = request
                .header("mcp-session-id", session)
                .header("mcp-protocol-version", "2025-11-25");
        }
        request
    }

    /// Opens an MCP session and returns its id.
    pub async fn mcp_session(&self, user: &TestUser) -> String {
        let response = self
            .mcp(&user.token, &user.space_id, None, &initialize())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let session = response.headers()["mcp-session-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let _ = response.text().await;
        let initialized = json!({ "jsonrpc": "2.0", "method": "notifications/initialized" });
        let response = self
            .mcp(&user.token, &user.space_id, Some(&session), &initialized)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        session
    }
}

pub fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": { "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": { "name": "test", "version": "1" } }
    })
}

/// The JSON body of an error response, checking its shape.
pub async fn error_body(response: Response) -> Value {
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].is_string() && body["code"].is_string(),
        "{body}"
    );
    body
}
