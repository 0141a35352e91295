//! A client for the gateway's admin personas API, used by `persona seed`
//! and `persona cleanup`. It logs in as the admin (or uses a given token)
//! and turns every non-2xx answer into an error carrying the server's message.

use anyhow::{Context as _, bail};
use catalog::{PersonaSpec, SpaceType};
use serde::Deserialize;
use serde_json::{Value, json};

/// How long `login` waits for a gateway that is still starting.
const STARTUP_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct AdminApi {
    base: String,
    http: reqwest::Client,
    token: String,
}

/// A persona as the gateway lists it.
#[derive(Debug, Deserialize)]
pub struct LivePersona {
    pub id: String,
    pub email: String,
    pub name: String,
}

impl AdminApi {
    /// Logs in as the admin at `base` (e.g. `http://127.0.0.1:3069`).
    pub async fn login(base: &str, email: &str, password: &str) -> anyhow::Result<AdminApi> {
        let base = base.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        // A gateway started a moment ago may still be migrating; wait for it
        // to accept connections, but not forever.
        let deadline = std::time::Instant::now() + STARTUP_WAIT;
        let response = loop {
            let attempt = http
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({ "email": email, "password": password }))
                .send()
                .await;
            match attempt {
                Err(error) if error.is_connect() && std::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                }
                other => {
                    break other.with_context(|| {
                        format!(
                            "cannot reach the gateway at {base}; is it running? (persona gateway)"
                        )
                    })?;
                }
            }
        };
        let body = answer(response).await.with_context(|| {
            format!("logging in as the admin {email} failed; check MANA_ADMIN_EMAIL / MANA_ADMIN_PASSWORD")
        })?;
        let token = body["token"]
            .as_str()
            .context("the login answer has no token")?
            .to_owned();
        Ok(AdminApi { base, http, token })
    }

    /// Uses an admin JWT obtained elsewhere.
    pub fn with_token(base: &str, token: String) -> anyhow::Result<AdminApi> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(AdminApi {
            base: base.trim_end_matches('/').to_owned(),
            http,
            token,
        })
    }

    /// Returns the outcome: `created`, `updated` or `unchanged`.
    pub async fn upsert_persona(
        &self,
        spec: &PersonaSpec,
        password: &str,
    ) -> anyhow::Result<String> {
        let body = self
            .send(
                self.http
                    .post(self.url("/api/v1/personas/admin"))
                    .json(&json!({ "persona": spec, "password": password })),
            )
            .await
            .with_context(|| format!("upserting persona {}", spec.email))?;
        Ok(body["outcome"].as_str().unwrap_or("unknown").to_owned())
    }

    /// Returns the outcome: `created` or `unchanged`.
    pub async fn ensure_shared_space(
        &self,
        name: &str,
        space_type: SpaceType,
        members: &[String],
    ) -> anyhow::Result<String> {
        let body = self
            .send(
                self.http
                    .post(self.url("/api/v1/personas/admin/spaces"))
                    .json(&json!({ "name": name, "type": space_type, "members": members })),
            )
            .await
            .with_context(|| format!("ensuring shared space {name:?}"))?;
        Ok(body["outcome"].as_str().unwrap_or("unknown").to_owned())
    }

    pub async fn list_personas(&self) -> anyhow::Result<Vec<LivePersona>> {
        let body = self
            .send(self.http.get(self.url("/api/v1/personas/admin")))
            .await
            .context("listing personas")?;
        serde_json::from_value(body["personas"].clone()).context("the persona list is malformed")
    }

    pub async fn delete_persona(&self, id: &str) -> anyhow::Result<()> {
        self.send(
            self.http
                .delete(self.url(&format!("/api/v1/personas/admin/{id}"))),
        )
        .await
        .with_context(|| format!("deleting persona {id}"))?;
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .bearer_auth(&self.token)
            .send()
            .await
            .context("the gateway did not answer")?;
        answer(response).await
    }
}

async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let body: Value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    if !status.is_success() {
        let message = body["error"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| body.to_string());
        bail!("HTTP {status}: {message}");
    }
    Ok(body)
}
