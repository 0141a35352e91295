//! The app's internal personas API (`X-Service-Key`) as everything the
//! runner needs when it has no database of its own: the rows (`Sink`), the
//! tick rows (`TickLedger`), and the persona list, due query and pause flags
//! (`Directory`).

use std::time::Duration;

use async_trait::async_trait;
use catalog::{ActionRow, Archetype, FeedbackRow, ModuleMix, NewTick, SeedSecret, TickFinish};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::runtime::supervisor::{Directory, PersonaRef, PersonaSeed};
use crate::runtime::{BackendError, TickLedger};
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

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, Refusal> {
        let response = request
            .header("x-service-key", &self.service_key)
            .send()
            .await
            .map_err(|error| Refusal {
                not_found: false,
                error: SinkError::Unavailable(error.to_string()),
            })?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            // An empty or unreadable body reads as null; callers that need
            // an answer check its shape and report it malformed.
            return Ok(serde_json::from_str(&text).unwrap_or(Value::Null));
        }
        let error = if status.as_u16() == 401 || status.as_u16() == 403 {
            // A wrong key is an operator's fix away; keep rows queued rather
            // than dropping them as rejected.
            SinkError::Unavailable(format!(
                "HTTP {status}: the app refused the service key; check MANA_SERVICE_KEY ({text})"
            ))
        } else if status.is_server_error() || status.as_u16() == 429 {
            SinkError::Unavailable(format!("HTTP {status}: {text}"))
        } else {
            SinkError::Rejected(format!("HTTP {status}: {text}"))
        };
        Err(Refusal {
            not_found: status == reqwest::StatusCode::NOT_FOUND,
            error,
        })
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
    pub async fn abort_stale_ticks(&self, reason: &str) -> Result<u64, BackendError> {
        let body = self
            .send(
                self.http
                    .post(self.url("/ticks/abort-stale"))
                    .json(&json!({ "reason": reason })),
            )
            .await
            .map_err(|refusal| backend_error(refusal, "stale ticks"))?;
        body["aborted"].as_u64().ok_or_else(|| {
            BackendError::Malformed(format!("the abort answer has no count `aborted`: {body}"))
        })
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
        .map_err(|refusal| refusal.error)
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
        .map_err(|refusal| refusal.error)
    }
}

/// An exchange with the internal API that did not succeed.
struct Refusal {
    /// The app answered 404: the persona (or tick) is unknown.
    not_found: bool,
    error: SinkError,
}

/// A failed exchange as the runtime sees it: the app's 404 names an unknown
/// persona (or tick) `key`; anything else refused or failed.
fn backend_error(refusal: Refusal, key: &str) -> BackendError {
    if refusal.not_found {
        return BackendError::UnknownPersona(key.to_owned());
    }
    match refusal.error {
        SinkError::Unavailable(message) | SinkError::Rejected(message) => {
            BackendError::Unavailable(message)
        }
    }
}

#[async_trait]
impl TickLedger for InternalApi {
    async fn claim(
        &self,
        persona_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, BackendError> {
        let body = self
            .send(
                self.http
                    .post(self.url(&format!("/{persona_id}/lease")))
                    .json(&json!({ "owner": owner, "seconds": lease.as_secs().max(1) })),
            )
            .await
            .map_err(|error| backend_error(error, persona_id))?;
        // IMPORTANT: an answer without the flag is an error, never "another
        // runner holds it", which would skip the persona silently.
        body["claimed"].as_bool().ok_or_else(|| {
            BackendError::Malformed(format!("the lease answer has no boolean `claimed`: {body}"))
        })
    }

    async fn release(&self, persona_id: &str, owner: &str) -> Result<(), BackendError> {
        self.send(
            self.http
                .post(self.url(&format!("/{persona_id}/lease/release")))
                .json(&json!({ "owner": owner })),
        )
        .await
        .map(|_| ())
        .map_err(|error| backend_error(error, persona_id))
    }

    async fn tick_started(&self, tick: &NewTick) -> Result<(), BackendError> {
        self.send(
            self.http
                .post(self.url(&format!("/{}/ticks", tick.persona_id)))
                .json(tick),
        )
        .await
        .map(|_| ())
        .map_err(|error| backend_error(error, &tick.persona_id))
    }

    async fn tick_ended(&self, tick_id: &str, ended: &TickFinish) -> Result<(), BackendError> {
        self.send(
            self.http
                .post(self.url(&format!("/ticks/{tick_id}/finish")))
                .json(ended),
        )
        .await
        .map(|_| ())
        .map_err(|error| backend_error(error, tick_id))
    }
}

#[async_trait]
impl Directory for InternalApi {
    async fn personas(&self) -> Result<Vec<PersonaSeed>, BackendError> {
        let body = self
            .send(self.http.get(self.url("/personas")))
            .await
            .map_err(|error| backend_error(error, "list"))?;
        let listed: Vec<ListedPersona> =
            serde_json::from_value(body["personas"].clone()).map_err(|error| {
                BackendError::Malformed(format!("the persona list is malformed: {error}"))
            })?;
        Ok(listed
            .into_iter()
            .map(|persona| self.seed(persona))
            .collect())
    }

    async fn due(&self) -> Result<Vec<String>, BackendError> {
        let body = self
            .send(self.http.get(self.url("/due")))
            .await
            .map_err(|error| backend_error(error, "due"))?;
        let malformed = || BackendError::Malformed(format!("the due list is malformed: {body}"));
        body["personas"]
            .as_array()
            .ok_or_else(malformed)?
            .iter()
            .map(|persona| {
                persona["id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(malformed)
            })
            .collect()
    }

    async fn set_paused(&self, key: &str, paused: bool) -> Result<PersonaRef, BackendError> {
        let body = self
            .send(
                self.http
                    .post(self.url(&format!("/{key}/paused")))
                    .json(&json!({ "paused": paused })),
            )
            .await
            .map_err(|error| backend_error(error, key))?;
        match (body["id"].as_str(), body["email"].as_str()) {
            (Some(id), Some(email)) => Ok(PersonaRef {
                id: id.to_owned(),
                email: email.to_owned(),
            }),
            _ => Err(BackendError::Malformed(format!(
                "the pause answer names no persona id and email: {body}"
            ))),
        }
    }
}
