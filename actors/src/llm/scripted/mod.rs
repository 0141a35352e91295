//! `scripted`, the offline default LLM provider. This is a deterministic
//! simulator, not a language model: there is no model, no network and no
//! learning. It drives a persona's tick from the tick id (its seed), the
//! persona's archetype and module mix, and what the app answered, so the
//! whole loop runs offline, in tests and in benchmarks.
//!
//! * Main turn (the request lists tools): it plans 3–8 calls, picking
//!   modules by the module-mix weights and, within a module, a sensible
//!   order (list before complete, create when nothing has been seen). Each
//!   response carries one to three `ToolUse` blocks; once the plan is done it
//!   answers a short German summary with `EndTurn`. Before every response it
//!   reads the tool results: which calls failed, and the `id`s the app
//!   returned, which later calls reuse (complete the todo it listed, log the
//!   habit it created).
//! * Arguments are built from each tool's JSON Schema (`args`). The
//!   overwhelmed newbie spoils about 30 % of its calls on purpose
//!   (`mistakes`); other archetypes only now and then use an id that names
//!   nothing.
//! * Rating turn (a forced tool, or no tools): one rating per module of the
//!   calls the request's day log lists (`crate::day_log`, the lines a model
//!   reads), lowered by the errors logged, each note citing its calls, as the
//!   forced tool's input; asked
//!   without a tool, the same JSON as text, some seeds wrapping it in a
//!   Markdown fence to exercise the reply parser.
//!
//! Same profile, seed and clock, same requests → same responses. The clock is
//! read once, at construction, and cut to the minute; [`ScriptedLlm::with_now`]
//! pins it.
//!
//! # Layout
//!
//! - this file: [`ScriptedLlm`] and its [`Llm`] implementation, which
//!   tells the rating turn from the main turn;
//! - `plan`: the day's plan, which module comes next, which tool in it and
//!   the call's arguments;
//! - `memory`: what the simulator has seen during the tick: its calls, their
//!   outcomes, the ids and words the app gave back;
//! - `review`: looking back on the day, the closing summary and the ratings;
//! - `temperament`: how each archetype behaves in numbers, and how it rates;
//! - `tool_kind`: what a tool does (read, search, create, act, retire),
//!   judged from its name and schema;
//! - `usage`: pseudo token counts for the response's usage;
//! - `args`: arguments from JSON Schemas; `mistakes`: deliberate slips;
//! - `words`: the German vocabularies; `rng`: seeded random numbers;
//! - `tests`: the simulator against copies of the registry's schemas and a
//!   small fake app.

mod args;
mod memory;
mod mistakes;
mod plan;
mod review;
mod rng;
mod temperament;
#[cfg(test)]
mod tests;
mod tool_kind;
mod usage;
mod words;

use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use catalog::{Archetype, ModuleMix, TokenUsage};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use self::memory::Memory;
use self::temperament::Temperament;
use self::usage::{block_chars, pseudo_tokens, request_chars};
use super::{Block, Llm, LlmError, LlmRequest, LlmResponse, StopReason, ToolChoice};

/// The provider name of the simulator.
pub const PROVIDER: &str = "scripted";
/// The model name it reports; bump it when its behaviour changes, so
/// recorded ticks say which simulator produced them.
pub const MODEL: &str = "scripted-v1";

/// Who the simulator plays.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptedProfile {
    pub archetype: Archetype,
    pub module_mix: ModuleMix,
}

/// The simulator for one persona tick; make a new one per tick, seeded
/// with the tick id.
#[derive(Debug)]
pub struct ScriptedLlm {
    profile: ScriptedProfile,
    temperament: Temperament,
    /// The seed-derived part of tool-use ids (`toolu_<tag>_<n>`).
    tag: String,
    now: DateTime<Utc>,
    /// A std mutex rather than tokio's: `complete` does no IO, so the lock
    /// is never held across an await; it exists because the trait takes
    /// `&self`.
    memory: Mutex<Memory>,
}

impl ScriptedLlm {
    pub fn new(profile: ScriptedProfile, seed: &str) -> ScriptedLlm {
        let digest = Sha256::new()
            .chain_update(b"toolu\0")
            .chain_update(seed.as_bytes())
            .finalize();
        let tag: String = digest
            .iter()
            .take(6)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        // Cut to the minute so two simulators built moments apart with the
        // same seed still agree on every date they write.
        let now = Utc::now();
        let now = DateTime::from_timestamp(now.timestamp() - now.timestamp().rem_euclid(60), 0)
            .unwrap_or(now);
        ScriptedLlm {
            temperament: Temperament::of(&profile.archetype),
            profile,
            tag,
            now,
            memory: Mutex::new(Memory::new(seed)),
        }
    }

    /// Pins the clock the simulator writes dates and instants from.
    pub fn with_now(mut self, now: DateTime<Utc>) -> ScriptedLlm {
        self.now = now;
        self
    }

    pub fn profile(&self) -> &ScriptedProfile {
        &self.profile
    }
}

#[async_trait]
impl Llm for ScriptedLlm {
    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn model(&self) -> &str {
        MODEL
    }

    fn runs_locally(&self) -> bool {
        true
    }

    async fn complete(&self, request: &LlmRequest) -> Result<LlmResponse, LlmError> {
        let (content, stop_reason) = {
            // A panic under the lock leaves at worst one half-read turn
            // behind; answering the rest of the tick beats failing it.
            let mut memory = self.memory.lock().unwrap_or_else(PoisonError::into_inner);
            if let (ToolChoice::Tool(forced), false) =
                (&request.tool_choice, request.tools.is_empty())
            {
                let call = Block::ToolUse {
                    id: format!("toolu_rating_{}", memory.calls.len()),
                    name: forced.clone(),
                    input: self.ratings(&memory, request),
                };
                (vec![call], StopReason::ToolUse)
            } else if request.tools.is_empty() {
                let reply = self.rating_reply(&mut memory, request);
                (vec![Block::Text(reply)], StopReason::EndTurn)
            } else {
                self.main_turn(&mut memory, request)
            }
        };
        let usage = TokenUsage {
            input: pseudo_tokens(request_chars(request)),
            output: pseudo_tokens(content.iter().map(block_chars).sum()),
            cache_read: 0,
            cache_write: 0,
        };
        Ok(LlmResponse {
            content,
            stop_reason,
            usage,
        })
    }
}
