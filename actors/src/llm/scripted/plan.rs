//! The day's plan: which modules the tick's calls go to, which tool of a
//! module comes next, and one call's arguments (perhaps spoilt on purpose).
//! It reads and writes the [`Memory`]; what the persona has seen lives
//! there, not here.

use std::collections::VecDeque;

use serde_json::Value;

use super::memory::{Call, Memory};
use super::mistakes::{self, Mistake};
use super::rng::Rng;
use super::tool_kind::{Kind, Tool};
use super::{ScriptedLlm, args};
use crate::llm::{Block, LlmRequest, StopReason};

/// The fewest and most tool calls one tick plans, as the day prompt asks.
const MIN_CALLS: i64 = 3;
const MAX_CALLS: i64 = 8;

impl ScriptedLlm {
    pub(super) fn main_turn(
        &self,
        memory: &mut Memory,
        request: &LlmRequest,
    ) -> (Vec<Block>, StopReason) {
        memory.absorb(request);
        let tools: Vec<Tool<'_>> = request.tools.iter().map(Tool::classify).collect();
        if memory.plan.is_none() {
            let plan = self.plan(&mut memory.rng, &tools);
            memory.plan = Some(plan);
        }
        let remaining = memory.plan.as_ref().map_or(0, VecDeque::len);
        let batch = batch_size(&mut memory.rng, remaining);
        let mut blocks = Vec::new();
        while blocks.len() < batch {
            let Some(module) = memory.plan.as_mut().and_then(VecDeque::pop_front) else {
                break;
            };
            // Nothing in this module can be done yet (it only has tools that
            // need an id, and none is known): the slot is skipped.
            let Some(tool) = memory.choose(&module, &tools) else {
                continue;
            };
            blocks.push(self.call(memory, tool));
        }
        if blocks.is_empty() {
            (vec![Block::Text(self.summary(memory))], StopReason::EndTurn)
        } else {
            (blocks, StopReason::ToolUse)
        }
    }

    /// The modules of the tick's calls, in order: drawn by the module-mix
    /// weights among the modules the request has tools for, then grouped,
    /// because people work through one area before the next, and because a
    /// list followed by a complete needs both in the same stretch.
    fn plan(&self, rng: &mut Rng, tools: &[Tool<'_>]) -> VecDeque<String> {
        let mut available: Vec<&str> = Vec::new();
        for tool in tools {
            if !available.contains(&tool.module) {
                available.push(tool.module);
            }
        }
        let mut candidates: Vec<(&str, f64)> = available
            .iter()
            .map(|module| {
                let weight = self.profile.module_mix.weight(module).unwrap_or(0.0);
                (*module, weight)
            })
            .filter(|(_, weight)| *weight > 0.0)
            .collect();
        if candidates.is_empty() {
            // The mix names none of the listed modules; the persona still
            // spends its day in the app rather than doing nothing.
            candidates = available.iter().map(|module| (*module, 1.0)).collect();
        }
        let weights: Vec<f64> = candidates.iter().map(|(_, weight)| *weight).collect();
        let mut counts: Vec<(&str, usize)> = Vec::new();
        for _ in 0..rng.range(MIN_CALLS, MAX_CALLS) {
            let Some(index) = rng.weighted(&weights) else {
                break;
            };
            let module = candidates[index].0;
            match counts.iter_mut().find(|(name, _)| *name == module) {
                Some((_, count)) => *count += 1,
                None => counts.push((module, 1)),
            }
        }
        counts
            .into_iter()
            .flat_map(|(module, count)| std::iter::repeat_n(module.to_owned(), count))
            .collect()
    }

    /// One tool call: arguments from the schema, perhaps spoilt, remembered.
    fn call(&self, memory: &mut Memory, tool: &Tool<'_>) -> Block {
        let schema = &tool.def.input_schema;
        let ids = memory.live_ids(tool.module);
        let query_words = memory.words.get(tool.module).cloned().unwrap_or_default();
        let context = args::Context {
            module: tool.module,
            now: self.now,
            ids: &ids,
            query_words: &query_words,
            optional_rate: self.temperament.optional_rate,
        };
        let generated = args::generate(schema, &context, &mut memory.rng);
        let mut input = generated.input;
        // One draw per call whatever the archetype, so the slip stream stays
        // aligned across archetypes that share a seed.
        let roll = memory.slips.unit();
        let mistake = if roll < self.temperament.mistake_rate {
            Some(mistakes::spoil(schema, &mut input, &mut memory.slips))
        } else if roll < self.temperament.made_up_id_rate
            && mistakes::make_up_id(schema, &mut input, &mut memory.slips)
        {
            Some(Mistake::MadeUpId)
        } else {
            None
        };
        if let Some(mistake) = mistake {
            tracing::debug!(tool = %tool.def.name, ?mistake, "scripted LLM makes a deliberate mistake");
        } else if tool.kind == Kind::Create {
            memory.remember_words(tool.module, &input);
        }
        if tool.uses_up_id() {
            let named: Vec<String> = generated
                .used_ids
                .into_iter()
                .filter(|id| names_id(&input, id))
                .collect();
            memory.spent.extend(named);
        }
        memory.calls.push(Call {
            tool_use_id: format!("toolu_{}_{}", self.tag, memory.calls.len() + 1),
            tool: tool.def.name.clone(),
            module: tool.module.to_owned(),
            outcome: None,
        });
        let id = memory
            .calls
            .last()
            .map(|call| call.tool_use_id.clone())
            .unwrap_or_default();
        Block::ToolUse {
            id,
            name: tool.def.name.clone(),
            input,
        }
    }
}

impl Memory {
    /// The next tool for `module`, weighted by what has happened so far:
    /// reads open a module, id-taking tools follow once ids are known,
    /// creates come when there is nothing to act on; repeats lose weight.
    fn choose<'t>(&mut self, module: &str, tools: &'t [Tool<'t>]) -> Option<&'t Tool<'t>> {
        let has_ids = !self.live_ids(module).is_empty();
        let module_calls = self
            .calls
            .iter()
            .filter(|call| call.module == module)
            .count();
        let has_words = self
            .words
            .get(module)
            .is_some_and(|words| !words.is_empty());
        let candidates: Vec<&Tool<'_>> =
            tools.iter().filter(|tool| tool.module == module).collect();
        let weights: Vec<f64> = candidates
            .iter()
            .map(|tool| {
                let repeats = self
                    .calls
                    .iter()
                    .filter(|call| call.tool == tool.def.name)
                    .count() as f64;
                match tool.kind {
                    Kind::Act if has_ids => 4.0 / (1.0 + 0.3 * repeats),
                    Kind::Retire if has_ids => 0.6 / (1.0 + repeats),
                    Kind::Act | Kind::Retire => 0.0,
                    // Listing again with nothing done in between shows the
                    // same; it stays possible but unlikely.
                    Kind::Read if repeats > 0.0 => 0.3 / repeats,
                    Kind::Read if module_calls == 0 => 3.0,
                    Kind::Read => 1.0,
                    Kind::Search if has_words => 3.0 / (1.0 + repeats),
                    Kind::Search => 1.0 / (1.0 + repeats),
                    Kind::Create if module_calls == 0 => 2.5 / (1.0 + repeats),
                    Kind::Create => 1.5 / (1.0 + repeats),
                    Kind::Other => 2.0 / (1.0 + repeats),
                }
            })
            .collect();
        let index = self.rng.weighted(&weights)?;
        candidates.get(index).copied()
    }
}

/// How many calls the next response carries: mostly one, sometimes two or
/// three in parallel, which exercises attributing results by tool-use id.
fn batch_size(rng: &mut Rng, remaining: usize) -> usize {
    let roll = rng.unit();
    let wanted = if roll < 0.6 {
        1
    } else if roll < 0.9 {
        2
    } else {
        3
    };
    wanted.min(remaining)
}

fn names_id(input: &Value, id: &str) -> bool {
    input
        .as_object()
        .is_some_and(|object| object.values().any(|value| value.as_str() == Some(id)))
}
