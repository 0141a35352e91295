//! One tick of one persona, as a plain async function with explicit inputs,
//! so the persona actor, `persona up --once` and tests run the same step.
//!
//! 1. list the tools and map their names to ones the LLM accepts;
//! 2. main turn: the persona's system prompt and a dated "spend one day in
//!    the app" prompt naming the module mix; up to `max_turns` LLM rounds.
//!    Every tool_use becomes an action row (measured latency, input hash);
//!    the calls of one round run concurrently, and a tool_result with
//!    `is_error` flips exactly the row with that tool_use_id;
//! 3. rating turn: a fresh request without tools asking for JSON ratings of
//!    the modules used ([`crate::rating`]).
//!
//! Rows go into a [`TickRecorder`] as they are produced, so a tick cut off
//! by its timeout still hands over every row it made.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use catalog::{ActionResult, ActionRow, Archetype, FeedbackRow, ModuleMix, TokenUsage};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::llm::names::ToolNames;
use crate::llm::{Block, Llm, LlmError, LlmRequest, Message, Role, ToolDef};
use crate::mcp_client::{McpError, ToolSurface};

/// Who is ticking.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonaProfile {
    pub id: String,
    pub email: String,
    pub name: String,
    pub archetype: Archetype,
    pub module_mix: ModuleMix,
    pub system_prompt: String,
}

#[derive(Debug, Clone, Copy)]
pub struct TickSettings {
    /// LLM rounds in the main turn at most.
    pub max_turns: u32,
    pub max_tokens: u32,
}

impl Default for TickSettings {
    fn default() -> Self {
        TickSettings {
            max_turns: 15,
            max_tokens: 2048,
        }
    }
}

/// What a tick has produced so far; shared with whoever awaits the tick.
#[derive(Debug, Default)]
pub struct TickRecord {
    pub actions: Vec<ActionRow>,
    pub feedback: Vec<FeedbackRow>,
    pub turns: u32,
    pub tokens: TokenUsage,
    pub summary: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct TickRecorder(Arc<Mutex<TickRecord>>);

impl TickRecorder {
    fn with<T>(&self, change: impl FnOnce(&mut TickRecord) -> T) -> T {
        // Every change is a single push or assignment, so a record behind a
        // poisoned lock is still whole.
        let mut record = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut record)
    }

    /// Takes everything recorded so far.
    pub fn take(&self) -> TickRecord {
        self.with(std::mem::take)
    }

    pub fn action_count(&self) -> usize {
        self.with(|record| record.actions.len())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Mcp(#[from] McpError),
}

/// Runs the main and rating turns. Rows land in `recorder` as they happen;
/// an error ends the tick but keeps them.
pub async fn run_tick(
    persona: &PersonaProfile,
    tick_id: &str,
    llm: &dyn Llm,
    tools: &dyn ToolSurface,
    settings: TickSettings,
    recorder: &TickRecorder,
    now: DateTime<Utc>,
) -> Result<(), TickError> {
    let listed = tools.list_tools().await?;
    let names = ToolNames::new(listed.iter().map(|tool| tool.name.as_str()));
    let tool_defs: Vec<ToolDef> = listed
        .iter()
        .filter_map(|tool| {
            Some(ToolDef {
                name: names.to_llm(&tool.name)?.to_owned(),
                description: tool.description.clone(),
                input_schema: tool.input_schema.clone(),
            })
        })
        .collect();
    let mut request = LlmRequest {
        system: persona.system_prompt.clone(),
        messages: vec![Message::user_text(day_prompt(persona, now))],
        tools: tool_defs.into(),
        max_tokens: settings.max_tokens,
    };
    // tool_use_id → index of its action row, for this tick only.
    let mut rows_by_tool_use: HashMap<String, usize> = HashMap::new();
    let mut used_modules = BTreeSet::new();
    for _ in 0..settings.max_turns {
        let response = llm.complete(&request).await?;
        recorder.with(|record| {
            record.turns += 1;
            add_tokens(&mut record.tokens, response.usage);
        });
        request.messages.push(Message {
            role: Role::Assistant,
            content: response.content.clone(),
        });
        let calls: Vec<(String, String, Value)> = response
            .tool_uses()
            .map(|(id, name, input)| (id.to_owned(), name.to_owned(), input.clone()))
            .collect();
        if calls.is_empty() {
            recorder.with(|record| {
                record.summary = Some(response.text()).filter(|text| !text.trim().is_empty())
            });
            break;
        }
        let names = &names;
        let results =
            futures::future::join_all(calls.iter().map(|(_, llm_name, input)| async move {
                let started = Instant::now();
                let result = match names.to_mcp(llm_name) {
                    Some(mcp_name) => tools.call(mcp_name, input.clone()).await,
                    None => crate::mcp_client::ToolCallResult {
                        is_error: true,
                        text: format!("unknown tool {llm_name:?}; use one of the listed tools"),
                    },
                };
                (result, started.elapsed())
            }))
            .await;
        let mut tool_results = Vec::with_capacity(calls.len());
        for ((tool_use_id, llm_name, input), (result, latency)) in calls.iter().zip(results) {
            let tool_name = names.to_mcp(llm_name).unwrap_or(llm_name).to_owned();
            if let Some((module, _)) = tool_name.split_once('.') {
                used_modules.insert(module.to_owned());
            }
            let index = recorder.with(|record| {
                record.actions.push(ActionRow {
                    tick_id: tick_id.to_owned(),
                    action_idx: record.actions.len() as u32,
                    tool_use_id: Some(tool_use_id.clone()),
                    tool_name,
                    input_hash: input_hash(input),
                    result: ActionResult::Ok,
                    error_message: None,
                    latency_ms: latency.as_millis() as u64,
                    created_at: Utc::now(),
                });
                record.actions.len() - 1
            });
            rows_by_tool_use.insert(tool_use_id.clone(), index);
            let tool = names.to_mcp(llm_name).unwrap_or("unknown").to_owned();
            let outcome = if result.is_error { "error" } else { "ok" };
            metrics::counter!("persona_tool_calls_total", "tool" => tool.clone(), "result" => outcome).increment(1);
            metrics::histogram!("persona_tool_latency_seconds", "tool" => tool)
                .record(latency.as_secs_f64());
            tool_results.push(Block::ToolResult {
                tool_use_id: tool_use_id.clone(),
                content: result.text,
                is_error: result.is_error,
            });
        }
        for block in &tool_results {
            if let Block::ToolResult {
                tool_use_id,
                content,
                is_error: true,
            } = block
                && let Some(index) = rows_by_tool_use.get(tool_use_id)
            {
                recorder.with(|record| {
                    let row = &mut record.actions[*index];
                    row.result = ActionResult::Error;
                    row.error_message = Some(content.chars().take(1000).collect());
                });
            }
        }
        request.messages.push(Message {
            role: Role::User,
            content: tool_results,
        });
    }
    if used_modules.is_empty() {
        return Ok(());
    }
    let rating_request = LlmRequest {
        system: persona.system_prompt.clone(),
        messages: vec![Message::user_text(rating_prompt(&used_modules))],
        tools: Arc::from([]),
        max_tokens: 1024,
    };
    let response = llm.complete(&rating_request).await?;
    let feedback =
        crate::rating::parse_ratings(&response.text(), &used_modules, tick_id, Utc::now());
    recorder.with(|record| {
        add_tokens(&mut record.tokens, response.usage);
        record.feedback = feedback;
    });
    Ok(())
}

fn add_tokens(total: &mut TokenUsage, more: TokenUsage) {
    total.input += more.input;
    total.output += more.output;
    total.cache_read += more.cache_read;
    total.cache_write += more.cache_write;
}

/// First 16 hex digits of the SHA-256 of the canonical JSON (keys sorted,
/// which `serde_json`'s map guarantees without `preserve_order`).
pub fn input_hash(input: &Value) -> String {
    let digest = Sha256::digest(input.to_string().as_bytes());
    digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

const WEEKDAYS: [&str; 7] = [
    "Montag",
    "Dienstag",
    "Mittwoch",
    "Donnerstag",
    "Freitag",
    "Samstag",
    "Sonntag",
];

/// The main turn's user prompt, in German like the personas.
pub fn day_prompt(persona: &PersonaProfile, now: DateTime<Utc>) -> String {
    use chrono::Datelike as _;
    let weekday = WEEKDAYS[now.weekday().num_days_from_monday() as usize];
    let mix: Vec<String> = persona
        .module_mix
        .weights()
        .map(|(module, weight)| format!("{module} ({:.0} %)", weight * 100.0))
        .collect();
    format!(
        "Heute ist {weekday}, der {}. Verbringe einen ganz normalen Tag mit der App Mana, so wie {} es tun würde. \
         Nutze dafür 3 bis 8 Werkzeuge, vor allem aus diesen Bereichen: {}. \
         Arbeite mit echten Inhalten aus deinem Alltag. Wenn du fertig bist, fasse in zwei Sätzen zusammen, was du gemacht hast.",
        now.format("%d.%m.%Y"),
        persona.name,
        mix.join(", ")
    )
}

/// The rating turn's prompt: ask for strict JSON about the modules used.
pub fn rating_prompt(used_modules: &BTreeSet<String>) -> String {
    let modules: Vec<&str> = used_modules.iter().map(String::as_str).collect();
    format!(
        "Du hast heute diese Bereiche der App benutzt: {}. Bewerte jeden davon aus deiner Sicht mit 1 (furchtbar) bis 5 \
         (großartig) und einer kurzen Begründung. Antworte ausschließlich mit JSON in genau dieser Form: \
         {{\"ratings\":[{{\"module\":\"todo\",\"rating\":4,\"notes\":\"…\"}}]}}",
        modules.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn input_hash_is_canonical_and_16_hex() {
        let a = input_hash(&json!({ "title": "x", "priority": "high" }));
        let b = input_hash(&json!({ "priority": "high", "title": "x" }));
        assert_eq!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, input_hash(&json!({ "title": "y" })));
    }
}
