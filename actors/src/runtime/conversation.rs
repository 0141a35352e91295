//! The conversation actor: a persona's endpoint to its LLM. It holds the
//! provider for the current tick and counts requests and tokens; each
//! request runs in a task it spawns, so its mailbox never waits on the
//! network. [`ConversationHandle`] makes it usable wherever an `Llm` is.
//!
//! The request tasks belong to the actor: when it stops (the tick ended,
//! timed out or was cancelled) they are aborted, which drops their HTTP
//! requests, so a model server that streams stops generating for a tick
//! nobody waits on any more.

use std::sync::Arc;

use async_trait::async_trait;
use catalog::TokenUsage;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinSet;

use crate::llm::{Llm, LlmError, LlmRequest, LlmResponse};

pub struct ConversationActor;

pub struct ConversationState {
    llm: Option<Arc<dyn Llm>>,
    status: ConversationStatus,
    /// The request tasks; dropped with the state, which aborts them.
    requests: JoinSet<()>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversationStatus {
    pub provider: Option<&'static str>,
    pub requests: u64,
    pub in_flight: u64,
    pub tokens: TokenUsage,
}

pub enum ConversationMsg {
    /// Sent by the persona actor when a tick starts: the LLM for this tick.
    UseLlm(Arc<dyn Llm>),
    /// Sent by the tick (through [`ConversationHandle`]); the reply carries the
    /// provider's answer. A caller that gave up simply drops its port.
    Complete(Box<LlmRequest>, RpcReplyPort<Result<LlmResponse, LlmError>>),
    /// Sent by the request task when the provider answered.
    Completed { usage: Option<TokenUsage> },
    /// Query.
    GetStatus(RpcReplyPort<ConversationStatus>),
}

impl Actor for ConversationActor {
    type Msg = ConversationMsg;
    type State = ConversationState;
    type Arguments = ();

    async fn pre_start(
        &self,
        _me: ActorRef<Self::Msg>,
        _: (),
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(ConversationState {
            llm: None,
            status: ConversationStatus::default(),
            requests: JoinSet::new(),
        })
    }

    async fn post_stop(
        &self,
        _me: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // IMPORTANT: without this, a request of a tick that timed out or was
        // cancelled keeps running, and its model server keeps generating.
        state.requests.abort_all();
        Ok(())
    }

    async fn handle(
        &self,
        me: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ConversationMsg::UseLlm(llm) => {
                state.status.provider = Some(llm.provider());
                state.llm = Some(llm);
            }
            ConversationMsg::Complete(request, reply) => {
                let Some(llm) = state.llm.clone() else {
                    let _ = reply.send(Err(LlmError::Malformed(
                        "no LLM configured for this conversation".into(),
                    )));
                    return Ok(());
                };
                state.status.requests += 1;
                state.status.in_flight += 1;
                state.requests.spawn(async move {
                    let result = llm.complete(&request).await;
                    let usage = result.as_ref().ok().map(|response| response.usage);
                    let _ = reply.send(result);
                    let _ = me.cast(ConversationMsg::Completed { usage });
                });
            }
            ConversationMsg::Completed { usage } => {
                // Reaps finished tasks, so the set holds only live requests.
                while state.requests.try_join_next().is_some() {}
                state.status.in_flight = state.status.in_flight.saturating_sub(1);
                if let Some(usage) = usage {
                    state.status.tokens.input += usage.input;
                    state.status.tokens.output += usage.output;
                    state.status.tokens.cache_read += usage.cache_read;
                    state.status.tokens.cache_write += usage.cache_write;
                }
            }
            ConversationMsg::GetStatus(reply) => {
                let _ = reply.send(state.status.clone());
            }
        }
        Ok(())
    }
}

/// An `Llm` that asks the conversation actor.
pub struct ConversationHandle {
    pub actor: ActorRef<ConversationMsg>,
    pub provider: &'static str,
    pub model: String,
    /// The provider itself, asked only for what is not a request (its
    /// context window; discovering it may take one HTTP call, made by the
    /// tick, never by an actor's handler).
    pub source: Arc<dyn Llm>,
}

#[async_trait]
impl Llm for ConversationHandle {
    fn provider(&self) -> &'static str {
        self.provider
    }
    fn model(&self) -> &str {
        &self.model
    }
    async fn context_window(&self) -> Option<u32> {
        self.source.context_window().await
    }
    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse, LlmError> {
        let request = Box::new(request.clone());
        match self
            .actor
            .call(|reply| ConversationMsg::Complete(request, reply), None)
            .await
        {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            Ok(_) | Err(_) => Err(LlmError::Transport("the conversation actor stopped".into())),
        }
    }
}
