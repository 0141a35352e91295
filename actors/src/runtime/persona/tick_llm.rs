//! The LLM a tick talks to: before each request it asks the dispatcher for
//! a rate slot and waits for the grant (and so does each retry inside the
//! provider), telling the tick's recorder (and so its persona actor)
//! whether it waits for the slot or for the model; after each answer it adds
//! what the answer cost.

use std::sync::Arc;

use async_trait::async_trait;
use ractor::ActorRef;
use tracing::Instrument as _;

use crate::llm::pricing::PriceTable;
use crate::llm::rate_gate::{self, RateGate};
use crate::llm::{Llm, LlmError, LlmRequest, LlmResponse};
use crate::progress::Waiting;
use crate::runtime::budget::Spend;
use crate::runtime::dispatcher::DispatcherMsg;
use crate::tick::TickRecorder;

pub(super) struct TickLlm {
    pub(super) inner: Arc<dyn Llm>,
    /// Each request's rate slot, and each retry's.
    pub(super) gate: Arc<DispatcherGate>,
    pub(super) dispatcher: ActorRef<DispatcherMsg>,
    pub(super) recorder: TickRecorder,
    pub(super) prices: Arc<PriceTable>,
    /// The persona's email, a label of the cost metric.
    pub(super) persona: String,
    /// Whose budget the answers count against.
    pub(super) persona_id: String,
}

/// A rate slot from the dispatcher, for a request or a provider's retry.
pub(super) struct DispatcherGate {
    pub(super) dispatcher: ActorRef<DispatcherMsg>,
    pub(super) recorder: TickRecorder,
    pub(super) persona_id: String,
}

#[async_trait]
impl RateGate for DispatcherGate {
    async fn slot(&self) -> Result<(), LlmError> {
        self.recorder.waiting(Some(Waiting::RateSlot));
        // No timeout: the wait is the rate limit (or the kill-switch) doing
        // its job, and the tick's own timeout bounds it.
        let granted = self
            .dispatcher
            .call(
                |reply| DispatcherMsg::RequestLlmSlot(self.persona_id.clone(), reply),
                None,
            )
            .await;
        match granted {
            Ok(ractor::rpc::CallResult::Success(Ok(()))) => {}
            Ok(ractor::rpc::CallResult::Success(Err(spent))) => {
                return Err(LlmError::BudgetSpent(spent.to_string()));
            }
            _ => return Err(LlmError::NoRateSlot),
        }
        self.recorder.waiting(Some(Waiting::Llm));
        Ok(())
    }
}

#[async_trait]
impl Llm for TickLlm {
    fn provider(&self) -> &'static str {
        self.inner.provider()
    }
    fn model(&self) -> &str {
        self.inner.model()
    }
    async fn context_window(&self) -> Option<u32> {
        self.inner.context_window().await
    }
    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse, LlmError> {
        self.gate.slot().await?;
        let gate: Arc<dyn RateGate> = self.gate.clone();
        let started = std::time::Instant::now();
        // The span starts with the slot granted: it is the request's time.
        let span = crate::gen_ai::chat(
            self.inner.provider(),
            self.inner.model(),
            request.max_tokens,
        );
        let result = rate_gate::scope(gate, self.inner.complete(request))
            .instrument(span.clone())
            .await;
        crate::gen_ai::chat_ended(&span, &result);
        let provider = self.inner.provider();
        let status = if result.is_ok() { "ok" } else { "error" };
        metrics::histogram!(crate::metrics::LLM_REQUEST_SECONDS, "provider" => provider)
            .record(started.elapsed().as_secs_f64());
        metrics::counter!(crate::metrics::LLM_REQUESTS_TOTAL, "provider" => provider, "status" => status)
            .increment(1);
        if let Ok(response) = &result {
            let model = self.inner.model();
            let cost = self
                .prices
                .cost(model, self.inner.runs_locally(), response.usage);
            self.recorder.add_cost(cost);
            let spend = Spend {
                // Unknown costs count 0: a dollar budget is refused at start
                // for a model without a price.
                usd: cost.unwrap_or(0.0),
                tokens: response.usage.total(),
            };
            let _ = self
                .dispatcher
                .cast(DispatcherMsg::Spent(self.persona_id.clone(), spend));
            if let Some(usd) = cost {
                metrics::gauge!(crate::metrics::LLM_COST_USD, "persona" => self.persona.clone(), "model" => model.to_owned())
                    .increment(usd);
            }
            for (kind, tokens) in [
                ("input", response.usage.input),
                ("output", response.usage.output),
                ("cache_read", response.usage.cache_read),
                ("cache_write", response.usage.cache_write),
            ] {
                metrics::counter!(crate::metrics::LLM_TOKENS_TOTAL, "kind" => kind)
                    .increment(tokens);
            }
        }
        result
    }
}
