//! The runner's side of the actor runtime's traits, over the gateway's store
//! (the embedded, direct-SQL mode): rows (`Sink`), tick rows and leases
//! (`TickLedger`), the persona list and due query (`Directory`), the fleet's
//! switch and heartbeats (`Fleet`), and the LLM per tick (`LlmFactory`).

use std::sync::Arc;

use actors::llm::Llm;
use actors::llm::pricing::PriceTable;
use actors::llm::scripted::{ScriptedLlm, ScriptedProfile};
use actors::runtime::fleet::Fleet;
use actors::runtime::supervisor::{Directory, PersonaMemory, PersonaRef, PersonaSeed};
use actors::runtime::{BackendError, LlmFactory, TickLedger};
use actors::sink::{Sink, SinkError};
use actors::tick::PersonaProfile;
use async_trait::async_trait;
use catalog::internal_api::{
    FleetSwitch, FleetView, Insights, ListedTick, ReplicaBeat, TickDetail, TickListQuery,
};
use catalog::{ActionRow, FeedbackRow, SeedSecret};
use catalog::{NewTick, TickFinish};
use chrono::{DateTime, Utc};
use gateway::store::{PersonaRow, Store, StoreError, now};

/// Writes rows straight into the store.
pub struct StoreSink(pub Store);

fn sink_error(error: StoreError) -> SinkError {
    match error {
        StoreError::NotFound { .. }
        | StoreError::InvalidRow { .. }
        | StoreError::BatchTooLarge { .. } => SinkError::Rejected(error.to_string()),
        other => {
            SinkError::Unavailable(format!("{other}: {:?}", std::error::Error::source(&other)))
        }
    }
}

#[async_trait]
impl Sink for StoreSink {
    async fn write_actions(&self, persona_id: &str, rows: &[ActionRow]) -> Result<(), SinkError> {
        self.0
            .insert_actions(persona_id, rows, now())
            .await
            .map(|_| ())
            .map_err(sink_error)
    }

    async fn write_feedback(
        &self,
        persona_id: &str,
        rows: &[FeedbackRow],
    ) -> Result<(), SinkError> {
        self.0
            .insert_feedback(persona_id, rows, now())
            .await
            .map(|_| ())
            .map_err(sink_error)
    }
}

/// Keeps `persona_ticks` in the store.
pub struct StoreLedger(pub Store);

#[async_trait]
impl TickLedger for StoreLedger {
    async fn claim(
        &self,
        persona_id: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<bool, BackendError> {
        let now = now();
        self.0
            .claim_lease(persona_id, owner, now + lease_length(lease)?, now)
            .await
            .map_err(backend_error)
    }

    async fn renew(
        &self,
        persona_id: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<bool, BackendError> {
        let now = now();
        self.0
            .renew_lease(persona_id, owner, now + lease_length(lease)?, now)
            .await
            .map_err(backend_error)
    }

    async fn claim_due(
        &self,
        owner: &str,
        lease: std::time::Duration,
        limit: u32,
    ) -> Result<Vec<String>, BackendError> {
        let now = now();
        self.0
            .claim_due_personas(owner, now + lease_length(lease)?, now, limit)
            .await
            .map_err(backend_error)
    }

    async fn release(
        &self,
        persona_id: &str,
        owner: &str,
        next_due_at: Option<DateTime<Utc>>,
    ) -> Result<(), BackendError> {
        self.0
            .release_lease(persona_id, owner, next_due_at)
            .await
            .map_err(backend_error)
    }

    async fn abort_stale(&self, reason: &str) -> Result<u64, BackendError> {
        self.0
            .abort_stale_ticks(now(), now(), reason)
            .await
            .map_err(backend_error)
    }

    async fn tick_started(&self, tick: &NewTick) -> Result<(), BackendError> {
        self.0.start_tick(tick).await.map_err(backend_error)
    }

    async fn tick_ended(&self, tick_id: &str, ended: &TickFinish) -> Result<(), BackendError> {
        self.0
            .finish_tick(tick_id, ended)
            .await
            .map(|_| ())
            .map_err(backend_error)
    }

    async fn tick(&self, tick_id: &str) -> Result<TickDetail, BackendError> {
        self.0
            .tick_detail(tick_id)
            .await
            .map_err(|error| match error {
                StoreError::NotFound { what: "tick", .. } => {
                    BackendError::UnknownTick(tick_id.into())
                }
                other => backend_error(other),
            })
    }

    async fn spent_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<(String, actors::runtime::budget::Spend)>, BackendError> {
        let spent = self.0.spent_since(since).await.map_err(backend_error)?;
        Ok(spent
            .into_iter()
            .map(actors::internal_api::spend_of)
            .collect())
    }

    async fn forget_transcripts(&self, before: DateTime<Utc>) -> Result<u64, BackendError> {
        self.0
            .forget_transcripts(before)
            .await
            .map_err(backend_error)
    }

    async fn list_ticks(&self, query: &TickListQuery) -> Result<Vec<ListedTick>, BackendError> {
        self.0.list_ticks(query).await.map_err(backend_error)
    }

    async fn insights(&self, since: DateTime<Utc>) -> Result<Insights, BackendError> {
        self.0.insights(since).await.map_err(backend_error)
    }
}

fn lease_length(lease: std::time::Duration) -> Result<chrono::TimeDelta, BackendError> {
    chrono::TimeDelta::from_std(lease)
        .map_err(|error| BackendError::Malformed(format!("lease {lease:?}: {error}")))
}

/// The fleet's switch and the replicas' heartbeats in the store.
pub struct StoreFleet(pub Store);

#[async_trait]
impl Fleet for StoreFleet {
    async fn heartbeat(&self, beat: &ReplicaBeat) -> Result<FleetView, BackendError> {
        let now = now();
        self.0
            .replica_heartbeat(beat, now)
            .await
            .map_err(backend_error)?;
        self.0.fleet_view(now).await.map_err(backend_error)
    }

    async fn view(&self) -> Result<FleetView, BackendError> {
        self.0.fleet_view(now()).await.map_err(backend_error)
    }

    async fn set_switch(&self, switch: &FleetSwitch) -> Result<FleetView, BackendError> {
        self.0
            .set_fleet_switch(switch)
            .await
            .map_err(backend_error)?;
        self.0.fleet_view(now()).await.map_err(backend_error)
    }

    async fn leave(&self, replica_id: &str) -> Result<(), BackendError> {
        self.0
            .remove_replica(replica_id)
            .await
            .map_err(backend_error)
    }
}

/// A store error as the runtime sees it: an unknown persona, or a store
/// that failed.
fn backend_error(error: StoreError) -> BackendError {
    match error {
        StoreError::NotFound { what, id } => BackendError::UnknownPersona(format!("{what} {id}")),
        other => BackendError::Unavailable(other.to_string()),
    }
}

pub fn profile(persona: &PersonaRow) -> PersonaProfile {
    PersonaProfile {
        id: persona.user_id.clone(),
        email: persona.email.clone(),
        name: persona.name.clone(),
        archetype: persona.archetype.clone(),
        module_mix: persona.module_mix.clone(),
        system_prompt: persona.system_prompt.clone(),
        cadence: persona.cadence,
    }
}

/// Personas and the due query from the store; passwords derived from the
/// seed secret.
pub struct StoreDirectory {
    pub store: Store,
    pub seed_secret: SeedSecret,
}

impl StoreDirectory {
    pub fn seed(&self, persona: &PersonaRow) -> PersonaSeed {
        PersonaSeed {
            profile: profile(persona),
            password: catalog::derive_password(&self.seed_secret, &persona.email),
            paused: persona.paused,
        }
    }
}

#[async_trait]
impl Directory for StoreDirectory {
    async fn personas(&self) -> Result<Vec<PersonaSeed>, BackendError> {
        let personas = self
            .store
            .list_personas(now())
            .await
            .map_err(backend_error)?;
        Ok(personas
            .iter()
            .map(|summary| self.seed(&summary.persona))
            .collect())
    }

    async fn due(&self) -> Result<Vec<String>, BackendError> {
        let due = self
            .store
            .due_personas(now())
            .await
            .map_err(backend_error)?;
        Ok(due.into_iter().map(|persona| persona.user_id).collect())
    }

    async fn set_paused(&self, key: &str, paused: bool) -> Result<PersonaRef, BackendError> {
        let persona = self
            .store
            .persona_by_id_or_email(key)
            .await
            .map_err(backend_error)?;
        self.store
            .set_persona_paused(&persona.user_id, paused)
            .await
            .map_err(backend_error)?;
        Ok(PersonaRef {
            id: persona.user_id,
            email: persona.email,
        })
    }

    async fn memory(&self, key: &str) -> Result<PersonaMemory, BackendError> {
        let persona = self
            .store
            .persona_by_id_or_email(key)
            .await
            .map_err(backend_error)?;
        let memory = self
            .store
            .persona_memory(&persona.user_id)
            .await
            .map_err(backend_error)?;
        Ok(PersonaMemory {
            persona: PersonaRef {
                id: persona.user_id,
                email: persona.email,
            },
            updated_at: memory.as_ref().map(|(_, at)| *at),
            memory: memory.map(|(text, _)| text),
        })
    }

    async fn set_memory(
        &self,
        key: &str,
        memory: Option<&str>,
    ) -> Result<PersonaMemory, BackendError> {
        let persona = self
            .store
            .persona_by_id_or_email(key)
            .await
            .map_err(backend_error)?;
        let at = now();
        self.store
            .set_persona_memory(&persona.user_id, memory, at)
            .await
            .map_err(backend_error)?;
        Ok(PersonaMemory {
            persona: PersonaRef {
                id: persona.user_id,
                email: persona.email,
            },
            memory: memory.map(str::to_owned),
            updated_at: memory.map(|_| at),
        })
    }
}

/// The LLM for each tick: the scripted simulator seeded per tick, or one
/// shared hosted client.
pub enum Provider {
    Scripted,
    Hosted(Arc<dyn Llm>),
}

/// A dollar budget needs every answer's cost: the hosted model has no price.
#[derive(Debug, thiserror::Error)]
#[error(
    "a dollar budget is set, but {model} has no price, so its cost cannot be counted: \
     add [prices.\"{model}\"] to the config file, or use a token budget"
)]
pub struct NoPrice {
    pub model: String,
}

impl Provider {
    /// Whether each answer's cost can be known: the scripted simulator and
    /// local models cost 0; a hosted model needs a price.
    pub fn require_price(&self, prices: &PriceTable) -> Result<(), NoPrice> {
        match self {
            Provider::Hosted(llm) if !llm.runs_locally() && prices.price(llm.model()).is_none() => {
                Err(NoPrice {
                    model: llm.model().to_owned(),
                })
            }
            _ => Ok(()),
        }
    }
}

impl LlmFactory for Provider {
    fn for_tick(&self, persona: &PersonaProfile, tick_id: &str) -> Arc<dyn Llm> {
        match self {
            Provider::Scripted => Arc::new(ScriptedLlm::new(
                ScriptedProfile {
                    archetype: persona.archetype.clone(),
                    module_mix: persona.module_mix.clone(),
                },
                tick_id,
            )),
            Provider::Hosted(llm) => llm.clone(),
        }
    }

    fn provider(&self) -> &'static str {
        match self {
            Provider::Scripted => actors::llm::scripted::PROVIDER,
            Provider::Hosted(llm) => llm.provider(),
        }
    }
}
