//! The app's internal personas API (`X-Service-Key`) as everything the
//! runner needs when it has no database of its own: the rows (`Sink`), the
//! tick rows and leases (`TickLedger`), the persona list, due query and
//! pause flags (`Directory`), and the fleet's switch and heartbeats (`Fleet`).
//!
//! Every body is a `catalog::internal_api` type, the same one the app's
//! routes (de)serialise. An answer this client reads that does not parse as
//! its type is [`BackendError::Malformed`] naming the answer and what serde
//! tripped over, never a default: a lease answer without `claimed` must not
//! read as "another runner holds it".

use std::time::Duration;

use async_trait::async_trait;
use catalog::internal_api::{
    AbortStaleAnswer, AbortStaleRequest, ActionBatch, ClaimDueAnswer, ClaimDueRequest,
    FeedbackBatch, FleetSwitch, FleetView, ForgetTranscriptsAnswer, ForgetTranscriptsRequest,
    Insights, LeaseAnswer, LeaseRequest, ListedPersona, ListedTick, MemoryAnswer, MemoryRequest,
    PausedAnswer, PausedRequest, PersonaList, PersonaSpend, ReleaseRequest, ReplicaBeat,
    SERVICE_KEY_HEADER, SpentAnswer, TickDetail, TickList, TickListQuery,
};
use catalog::{ActionRow, FeedbackRow, NewTick, SeedSecret, TickFinish};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use crate::runtime::budget::Spend;
use crate::runtime::fleet::Fleet;
use crate::runtime::supervisor::{Directory, PersonaMemory, PersonaRef, PersonaSeed};
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

    /// Sends `request` with the service key; a success status gives the
    /// answer's text, anything else a [`Refusal`].
    async fn send(&self, request: reqwest::RequestBuilder) -> Result<String, Refusal> {
        let response = request
            .header(SERVICE_KEY_HEADER, &self.service_key)
            .send()
            .await
            .map_err(|error| Refusal {
                not_found: false,
                error: SinkError::Unavailable(error.to_string()),
            })?;
        let status = response.status();
        if status.is_success() {
            // The request went through but its answer was cut off: worth
            // another try, since every write here is idempotent (batches by
            // row id, tick rows by tick id, leases by owner).
            return response.text().await.map_err(|error| Refusal {
                not_found: false,
                error: SinkError::Unavailable(format!(
                    "HTTP {status}, but the answer could not be read: {error}"
                )),
            });
        }
        // The text only explains the refusal; losing it loses no decision.
        let text = response
            .text()
            .await
            .unwrap_or_else(|error| format!("(the answer could not be read: {error})"));
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
                cadence: persona.cadence,
            },
        }
    }

    /// Takes (or with `renew`, only renews) a lease.
    async fn lease(
        &self,
        persona_id: &str,
        owner: &str,
        lease: Duration,
        renew: bool,
    ) -> Result<bool, BackendError> {
        let request = LeaseRequest {
            owner: owner.to_owned(),
            seconds: lease.as_secs().max(1),
            renew,
        };
        let body = self
            .send(
                self.http
                    .post(self.url(&format!("/{persona_id}/lease")))
                    .json(&request),
            )
            .await
            .map_err(|error| backend_error(error, persona_id))?;
        // IMPORTANT: an answer without the flag is an error, never "another
        // runner holds it", which would skip the persona silently.
        let answer: LeaseAnswer = parse(&body, "the lease answer")?;
        Ok(answer.claimed)
    }

    /// Marks ticks a crashed runner left `running` as aborted; returns how many.
    pub async fn abort_stale_ticks(&self, reason: &str) -> Result<u64, BackendError> {
        let request = AbortStaleRequest {
            reason: reason.to_owned(),
        };
        let body = self
            .send(
                self.http
                    .post(self.url("/ticks/abort-stale"))
                    .json(&request),
            )
            .await
            .map_err(|refusal| backend_error(refusal, "stale ticks"))?;
        let answer: AbortStaleAnswer = parse(&body, "the abort answer")?;
        Ok(answer.aborted)
    }
}

#[async_trait]
impl Sink for InternalApi {
    async fn write_actions(&self, persona_id: &str, rows: &[ActionRow]) -> Result<(), SinkError> {
        self.send(
            self.http
                .post(self.url(&format!("/{persona_id}/actions")))
                .json(&ActionBatch { actions: rows }),
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
                .json(&FeedbackBatch { feedback: rows }),
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

/// Reads a successful exchange's answer as `T`. `what` names the answer in
/// the error, which also says what serde tripped over (a missing field, a
/// wrong type) and how the answer began.
fn parse<T: DeserializeOwned>(body: &str, what: &str) -> Result<T, BackendError> {
    /// Enough of the answer to recognise it (an HTML error page, an empty
    /// body) without copying a whole persona list into a log line.
    const EXCERPT_CHARS: usize = 200;
    serde_json::from_str(body).map_err(|error| {
        let excerpt: String = body.chars().take(EXCERPT_CHARS).collect();
        BackendError::Malformed(format!(
            "{what} is malformed: {error}; it began {excerpt:?}"
        ))
    })
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

/// The most personas the app's claim takes at once.
const MAX_CLAIM: u32 = 1000;

#[async_trait]
impl TickLedger for InternalApi {
    async fn claim(
        &self,
        persona_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, BackendError> {
        self.lease(persona_id, owner, lease, false).await
    }

    async fn renew(
        &self,
        persona_id: &str,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, BackendError> {
        self.lease(persona_id, owner, lease, true).await
    }

    async fn claim_due(
        &self,
        owner: &str,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<String>, BackendError> {
        let request = ClaimDueRequest {
            owner: owner.to_owned(),
            seconds: lease.as_secs().max(1),
            // The app refuses more at once; the rest wait for the next pass.
            limit: limit.min(MAX_CLAIM),
        };
        let body = self
            .send(self.http.post(self.url("/leases/claim-due")).json(&request))
            .await
            .map_err(|error| backend_error(error, "claim-due"))?;
        let answer: ClaimDueAnswer = parse(&body, "the claim answer")?;
        Ok(answer.claimed)
    }

    async fn release(
        &self,
        persona_id: &str,
        owner: &str,
        next_due_at: Option<DateTime<Utc>>,
    ) -> Result<(), BackendError> {
        self.send(
            self.http
                .post(self.url(&format!("/{persona_id}/lease/release")))
                .json(&ReleaseRequest {
                    owner: owner.to_owned(),
                    next_due_at,
                }),
        )
        .await
        .map(|_| ())
        .map_err(|error| backend_error(error, persona_id))
    }

    async fn abort_stale(&self, reason: &str) -> Result<u64, BackendError> {
        self.abort_stale_ticks(reason).await
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

    async fn tick(&self, tick_id: &str) -> Result<TickDetail, BackendError> {
        let body = self
            .send(self.http.get(self.url(&format!("/ticks/{tick_id}"))))
            .await
            .map_err(|refusal| match refusal.not_found {
                true => BackendError::UnknownTick(tick_id.to_owned()),
                false => backend_error(refusal, tick_id),
            })?;
        parse(&body, "the tick answer")
    }

    async fn spent_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, Spend)>, BackendError> {
        let body = self
            // `Z`, not `+00:00`: nothing in the query needs escaping.
            .send(self.http.get(self.url(&format!(
                "/ticks/spent?since={}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            ))))
            .await
            .map_err(|refusal| backend_error(refusal, "spent"))?;
        let answer: SpentAnswer = parse(&body, "the spent answer")?;
        Ok(answer.spent.into_iter().map(spend_of).collect())
    }

    async fn forget_transcripts(&self, before: DateTime<Utc>) -> Result<u64, BackendError> {
        let body = self
            .send(
                self.http
                    .post(self.url("/ticks/transcripts/forget"))
                    .json(&ForgetTranscriptsRequest { before }),
            )
            .await
            .map_err(|refusal| backend_error(refusal, "transcripts"))?;
        let answer: ForgetTranscriptsAnswer = parse(&body, "the forget answer")?;
        Ok(answer.forgotten)
    }

    async fn list_ticks(&self, query: &TickListQuery) -> Result<Vec<ListedTick>, BackendError> {
        let query = serde_urlencoded::to_string(query)
            .map_err(|error| BackendError::Malformed(format!("the tick list query: {error}")))?;
        let body = self
            .send(self.http.get(self.url(&format!("/ticks?{query}"))))
            .await
            .map_err(|refusal| backend_error(refusal, "ticks"))?;
        let answer: TickList = parse(&body, "the tick list")?;
        Ok(answer.ticks)
    }

    async fn insights(&self, since: DateTime<Utc>) -> Result<Insights, BackendError> {
        let body = self
            // `Z`, not `+00:00`: nothing in the query needs escaping.
            .send(self.http.get(self.url(&format!(
                "/ticks/insights?since={}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
            ))))
            .await
            .map_err(|refusal| backend_error(refusal, "insights"))?;
        parse(&body, "the insights answer")
    }
}

#[async_trait]
impl Fleet for InternalApi {
    async fn heartbeat(&self, beat: &ReplicaBeat) -> Result<FleetView, BackendError> {
        let body = self
            .send(self.http.post(self.url("/fleet/heartbeat")).json(beat))
            .await
            .map_err(|error| backend_error(error, "fleet"))?;
        parse(&body, "the fleet's state")
    }

    async fn view(&self) -> Result<FleetView, BackendError> {
        let body = self
            .send(self.http.get(self.url("/fleet")))
            .await
            .map_err(|error| backend_error(error, "fleet"))?;
        parse(&body, "the fleet's state")
    }

    async fn set_switch(&self, switch: &FleetSwitch) -> Result<FleetView, BackendError> {
        let body = self
            .send(self.http.put(self.url("/fleet/switch")).json(switch))
            .await
            .map_err(|error| backend_error(error, "fleet"))?;
        parse(&body, "the fleet's state")
    }

    async fn leave(&self, replica_id: &str) -> Result<(), BackendError> {
        self.send(
            self.http
                .delete(self.url(&format!("/fleet/replicas/{replica_id}"))),
        )
        .await
        .map(|_| ())
        .map_err(|error| backend_error(error, replica_id))
    }
}

#[async_trait]
impl Directory for InternalApi {
    async fn personas(&self) -> Result<Vec<PersonaSeed>, BackendError> {
        let body = self
            .send(self.http.get(self.url("/personas")))
            .await
            .map_err(|error| backend_error(error, "list"))?;
        let listed: PersonaList = parse(&body, "the persona list")?;
        Ok(listed
            .personas
            .into_iter()
            .map(|persona| self.seed(persona))
            .collect())
    }

    async fn due(&self) -> Result<Vec<String>, BackendError> {
        let body = self
            .send(self.http.get(self.url("/due")))
            .await
            .map_err(|error| backend_error(error, "due"))?;
        let due: PersonaList = parse(&body, "the due list")?;
        Ok(due.personas.into_iter().map(|persona| persona.id).collect())
    }

    async fn set_paused(&self, key: &str, paused: bool) -> Result<PersonaRef, BackendError> {
        let body = self
            .send(
                self.http
                    .post(self.url(&format!("/{key}/paused")))
                    .json(&PausedRequest { paused }),
            )
            .await
            .map_err(|error| backend_error(error, key))?;
        let answer: PausedAnswer = parse(&body, "the pause answer")?;
        Ok(PersonaRef {
            id: answer.id,
            email: answer.email,
        })
    }

    async fn memory(&self, key: &str) -> Result<PersonaMemory, BackendError> {
        let body = self
            .send(self.http.get(self.url(&format!("/{key}/memory"))))
            .await
            .map_err(|error| backend_error(error, key))?;
        Ok(persona_memory(parse(&body, "the memory answer")?))
    }

    async fn set_memory(
        &self,
        key: &str,
        memory: Option<&str>,
    ) -> Result<PersonaMemory, BackendError> {
        let body = self
            .send(
                self.http
                    .put(self.url(&format!("/{key}/memory")))
                    .json(&MemoryRequest {
                        memory: memory.map(str::to_owned),
                    }),
            )
            .await
            .map_err(|error| backend_error(error, key))?;
        Ok(persona_memory(parse(&body, "the memory answer")?))
    }
}

/// A persona's spend as the budgets count it.
pub fn spend_of(spent: PersonaSpend) -> (String, Spend) {
    (
        spent.persona_id,
        Spend {
            usd: spent.cost_usd,
            tokens: spent.tokens,
        },
    )
}

fn persona_memory(answer: MemoryAnswer) -> PersonaMemory {
    PersonaMemory {
        persona: PersonaRef {
            id: answer.id,
            email: answer.email,
        },
        memory: answer.memory,
        updated_at: answer.updated_at,
    }
}
