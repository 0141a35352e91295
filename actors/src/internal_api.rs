//! The app's internal personas API (`X-Service-Key`) as everything the
//! runner needs when it has no database of its own: the rows (`Sink`), the
//! tick rows (`TickLedger`), and the persona list, due query and pause flags
//! (`Directory`).

use std::time::Duration;

use async_trait::async_trait;
use catalog::{ActionRow, Archetype, FeedbackRow, ModuleMix, NewTick, SeedSecret, TickFinish};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::runtime::TickLedger;
use crate::runtime::supervisor::{Directory, PersonaRef, PersonaSeed};
use crate::sink::{Sink, SinkError};
use crate::tick::PersonaProfile;

pub struct InternalApi {
    api_url: String,
    service_key: String,
    seed_secret: SeedSecret,
    http: reqwest::Client,
}

impl std::fmt::Debug for InternalApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InternalApi")
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// A persona as the internal API lists it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedPersona {
    id: String,
    email: String,
    name: String,
    archetype: Archetype,
    module_mix: ModuleMix,
    system_prompt: String,
    paused: bool,
}

impl InternalApi {
    pub fn new(
        api_url: &str,
        service_key: String,
        seed_secret: SeedSecret,
    ) -> Result<InternalApi, SinkError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|error| SinkError::Unavailable(error.to_string()))?;
        Ok(InternalApi {
            api_url: api_url.trim_end_matches('/').to_owned(),
            service_key,
            seed_secret,
            http,
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, SinkError> {
        let response = request
            .header("x-service-key", &self.service_key)
            .send()
            .await
            .map_err(|error| SinkError::Unavailable(error.to_string()))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        if status.as_u16() == 401 || status.as_u16() == 403 {
            // A wrong key is an operator's fix away; keep rows queued rather
            // than dropping them as rejected.
            return Err(SinkError::Unavailable(format!(
                "HTTP {status}: the app refused the service key; check MANA_SERVICE_KEY ({text})"
            )));
        }
        if status.is_server_error() || status.as_u16() == 429 {
            Err(SinkError::Unavailable(format!("HTTP {status}: {text}")))
        } else {
            Err(SinkError::Rejected(format!("HTTP {status}: {text}")))
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/personas/internal{path}", self.api_url)
    }

    fn seed(&self, persona: ListedPersona) -> PersonaSeed {
        PersonaSeed {
            password: catalog::derive_password(&self.seed_secret, &persona.email),
            paused: persona.paused,
            profile: PersonaProfile {
                id: persona.id,
                email: persona.email,
                name: persona.name,
                archetype: persona.archetype,
                module_mix: persona.module_mix,
                system_prompt: persona.system_prompt,
            },
        }
    }

    /// Marks ticks a crashed runner left `running` as aborted; returns how many.
    pub async fn abort_stale_ticks(&self, reason: &str) -> Result<u64, SinkError> {
        let body = self
            .send(
                self.http
                    .post(self.url("/ticks/abort-stale"))
                    .json(&json!({ "reason": reason })),
            )
            .await?;
        Ok(body["aborted"].as_u64().unwrap_or(0))
    }
}

#[async_trait]
impl Sink for InternalApi {
    async fn write_actions(&self, persona_id: &str, rows: &[ActionRow]) -> Result<(), SinkError> {
        self.send(
            self.http
                .post(self.url(&format!("/{persona_id}/actions")))
                .json(&json!({ "actions": rows })),
        )
        .await
        .map(|_| ())
    }

    async fn write_feedback(
        &self,
        persona_id: &str,
        rows: &[FeedbackRow],
    ) -> Result<(), SinkError> {
        self.send(
            self.http
                .post(self.url(&format!("/{persona_id}/feedback")))
                .json(&json!({ "feedback": rows })),
        )
        .await
        .map(|_| ())
    }
}

#[async_trait]
impl TickLedger for InternalApi {
    async fn claim(&self, persona_id: &str, owner: &str, lease: Duration) -> Result<bool, String> {
        let body = self
            .send(
                self.http
                    .post(self.url(&format!("/{persona_id}/lease")))
                    .json(&json!({ "owner": owner, "seconds": lease.as_secs().max(1) })),
            )
            .await
            .map_err(|error| error.to_string())?;
        Ok(body["claimed"].as_bool().unwrap_or(false))
    }

    async fn release(&self, persona_id: &str, owner: &str) -> Result<(), String> {
        self.send(
            self.http
                .post(self.url(&format!("/{persona_id}/lease/release")))
                .json(&json!({ "owner": owner })),
        )
        .await
        .map(|_| ())
        .map_err(|error| error.to_string())
    }

    async fn tick_started(&self, tick: &NewTick) -> Result<(), String> {
        self.send(
            self.http
                .post(self.url(&format!("/{}/ticks", tick.persona_id)))
                .json(tick),
        )
        .await
        .map(|_| ())
        .map_err(|error| error.to_string())
    }

    async fn tick_ended(&self, tick_id: &str, ended: &TickFinish) -> Result<(), String> {
        self.send(
            self.http
                .post(self.url(&format!("/ticks/{tick_id}/finish")))
                .json(ended),
        )
        .await
        .map(|_| ())
        .map_err(|error| error.to_string())
    }
}

#[async_trait]
impl Directory for InternalApi {
    async fn personas(&self) -> Result<Vec<PersonaSeed>, String> {
        let body = self
            .send(self.http.get(self.url("/personas")))
            .await
            .map_err(|error| error.to_string())?;
        let listed: Vec<ListedPersona> = serde_json::from_value(body["personas"].clone())
            .map_err(|error| format!("the persona list is malformed: {error}"))?;
        Ok(listed
            .into_iter()
            .map(|persona| self.seed(persona))
            .collect())
    }

    async fn due(&self) -> Result<Vec<String>, String> {
        let body = self
            .send(self.http.get(self.url("/due")))
            .await
            .map_err(|error| error.to_string())?;
        Ok(body["personas"]
            .as_array()
            .map(|personas| {
                personas
                    .iter()
                    .filter_map(|persona| persona["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn set_paused(&self, key: &str, paused: bool) -> Result<PersonaRef, String> {
        let body = self
            .send(
                self.http
                    .post(self.url(&format!("/{key}/paused")))
                    .json(&json!({ "paused": paused })),
            )
            .await
            .map_err(|error| error.to_string())?;
        Ok(PersonaRef {
            id: body["id"].as_str().unwrap_or(key).to_owned(),
            email: body["email"].as_str().unwrap_or(key).to_owned(),
        })
    }
}
