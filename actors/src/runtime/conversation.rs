//! The conversation actor: a persona's endpoint to its LLM. It holds the
//! provider for the current tick; each request runs in a task it spawns, so
//! its mailbox never waits on the network. [`ConversationHandle`] makes it usable wherever an `Llm` is.
//!
//! The request tasks belong to the actor: when it stops (the tick ended,
//! timed out or was cancelled) they are aborted, which drops their HTTP
//! requests, so a model server that streams stops generating for a tick
//! nobody waits on any more.

use std::sync::Arc;

use async_trait::async_trait;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinSet;
use tracing::Instrument as _;

use crate::llm::{Llm, LlmError, LlmRequest, LlmResponse};

pub struct ConversationActor;

pub struct ConversationState {
    llm: Option<Arc<dyn Llm>>,
    /// The request tasks; dropped with the state, which aborts them.
    requests: JoinSet<()>,
}

pub enum ConversationMsg {
    /// Sent by the persona actor when a tick starts: the LLM for this tick.
    UseLlm(Arc<dyn Llm>),
    /// Sent by the tick (through [`ConversationHandle`]) with the span it
    /// asks from, which the request's own span is part of; the reply
    /// carries the provider's answer. A caller that gave up simply drops
    /// its port.
    Complete(
        Box<LlmRequest>,
        tracing::Span,
        RpcReplyPort<Result<LlmResponse, LlmError>>,
    ),
    /// Sent by a request task when it is done; late or repeated ones are
    /// harmless.
    Completed,
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
            ConversationMsg::UseLlm(llm) => state.llm = Some(llm),
            ConversationMsg::Complete(request, asked_from, reply) => {
                let Some(llm) = state.llm.clone() else {
                    let _ = reply.send(Err(LlmError::Malformed(
                        "no LLM configured for this conversation".into(),
                    )));
                    return Ok(());
                };
                state.requests.spawn(
                    async move {
                        let result = llm.complete(&request).await;
                        let _ = reply.send(result);
                        let _ = me.cast(ConversationMsg::Completed);
                    }
                    .instrument(asked_from),
                );
            }
            // Reaps finished tasks, so the set holds only live requests.
            ConversationMsg::Completed => while state.requests.try_join_next().is_some() {},
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
        let asked_from = tracing::Span::current();
        match self
            .actor
            .call(
                |reply| ConversationMsg::Complete(request, asked_from, reply),
                None,
            )
            .await
        {
            Ok(ractor::rpc::CallResult::Success(result)) => result,
            Ok(_) | Err(_) => Err(LlmError::Transport("the conversation actor stopped".into())),
        }
    }
}
