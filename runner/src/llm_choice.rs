//! Which LLM drives the personas: `--llm anthropic|openai|scripted`, by
//! default anthropic when `ANTHROPIC_API_KEY` is set and the offline
//! scripted simulator otherwise.

use std::sync::Arc;
use std::time::Duration;

use actors::llm::anthropic::{self, AnthropicLlm};
use actors::llm::openai::OpenAiLlm;
use actors::llm::retry::RetryPolicy;
use anyhow::{Context as _, bail};

use crate::wiring::Provider;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LlmKind {
    /// Claude through the Messages API (ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL).
    Anthropic,
    /// Any Chat Completions server: vLLM, Ollama, llama.cpp (OPENAI_BASE_URL, OPENAI_API_KEY).
    Openai,
    /// The offline, deterministic simulator (no language model).
    Scripted,
}

#[derive(Debug, Clone, clap::Args)]
pub struct LlmArgs {
    /// The LLM provider; default anthropic when ANTHROPIC_API_KEY is set, else scripted.
    #[arg(long, env = "PERSONA_LLM", value_enum)]
    pub llm: Option<LlmKind>,
    /// The model name (anthropic default: claude-sonnet-4-5; required for openai).
    #[arg(long, env = "PERSONA_MODEL")]
    pub model: Option<String>,
    /// Seconds one LLM request may take before it is given up (default 120).
    #[arg(long, env = "PERSONA_LLM_TIMEOUT_SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub llm_timeout_secs: Option<u64>,
    /// The model's context window in tokens (prompt and answer together).
    /// Default: what the server says (llama.cpp's /props, vLLM's /models),
    /// 200000 for Claude; unknown otherwise, and then nothing is trimmed.
    #[arg(long, env = "PERSONA_LLM_CONTEXT_TOKENS", value_parser = clap::value_parser!(u32).range(512..))]
    pub llm_context_tokens: Option<u32>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

impl LlmArgs {
    pub fn kind(&self) -> LlmKind {
        self.llm.unwrap_or(if var("ANTHROPIC_API_KEY").is_some() {
            LlmKind::Anthropic
        } else {
            LlmKind::Scripted
        })
    }

    fn timeout(&self) -> Option<Duration> {
        self.llm_timeout_secs.map(Duration::from_secs)
    }

    pub fn provider(&self) -> anyhow::Result<Provider> {
        Ok(match self.kind() {
            LlmKind::Scripted => Provider::Scripted,
            LlmKind::Anthropic => {
                let key =
                    var("ANTHROPIC_API_KEY").context("--llm anthropic needs ANTHROPIC_API_KEY")?;
                let model = self
                    .model
                    .clone()
                    .unwrap_or_else(|| anthropic::DEFAULT_MODEL.to_owned());
                let llm = AnthropicLlm::new(
                    key,
                    model,
                    var("ANTHROPIC_BASE_URL"),
                    RetryPolicy::default(),
                )
                .context("configuring the Anthropic provider")?;
                let llm = match self.timeout() {
                    Some(timeout) => llm.with_timeout(timeout),
                    None => llm,
                }
                .with_context_window(self.llm_context_tokens);
                Provider::Hosted(Arc::new(llm))
            }
            LlmKind::Openai => {
                let Some(base_url) = var("OPENAI_BASE_URL") else {
                    bail!(
                        "--llm openai needs OPENAI_BASE_URL, e.g. http://127.0.0.1:11434/v1 for Ollama or http://127.0.0.1:8000/v1 for vLLM"
                    );
                };
                let Some(model) = self.model.clone().or_else(|| var("OPENAI_MODEL")) else {
                    bail!(
                        "--llm openai needs a model: --model or PERSONA_MODEL (e.g. llama3.1:8b)"
                    );
                };
                let llm = OpenAiLlm::new(
                    var("OPENAI_API_KEY"),
                    model,
                    base_url,
                    RetryPolicy::default(),
                )
                .context("configuring the OpenAI-compatible provider")?;
                let llm = match self.timeout() {
                    Some(timeout) => llm.with_timeout(timeout),
                    None => llm,
                }
                .with_context_window(self.llm_context_tokens);
                Provider::Hosted(Arc::new(llm))
            }
        })
    }
}
