//! What the simulator remembers within a tick: the calls it made (or saw
//! in the conversation) and their outcomes, the ids the app returned and
//! the words of what it created. Reading tool results into it is here;
//! deciding what to do with them is `plan`'s job.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use super::rng::Rng;
use super::tool_kind::{module_of, verb_of};
use crate::llm::{Block, LlmRequest, Role};

/// Everything the simulator remembers within a tick.
#[derive(Debug)]
pub(super) struct Memory {
    /// Plans and argument values.
    pub(super) rng: Rng,
    /// Whether and how a call is spoilt.
    pub(super) slips: Rng,
    /// Whether the rating is fenced; its own stream so it depends on the
    /// seed alone, not on how the main turn went.
    pub(super) rating_rng: Rng,
    /// Modules of the calls still to make; `None` before the first main
    /// turn request.
    pub(super) plan: Option<VecDeque<String>>,
    /// Every call made (or seen in the conversation), in order.
    pub(super) calls: Vec<Call>,
    /// Ids the app returned, by module, oldest first.
    ids: BTreeMap<String, Vec<String>>,
    /// Ids of records completed or archived this tick: acting on them again
    /// would not be what a person does.
    pub(super) spent: BTreeSet<String>,
    /// Words of titles and names created this tick, by module, for queries
    /// that find something.
    pub(super) words: BTreeMap<String, Vec<String>>,
}

#[derive(Debug)]
pub(super) struct Call {
    pub(super) tool_use_id: String,
    /// The LLM-safe name (`todo_create`).
    pub(super) tool: String,
    pub(super) module: String,
    /// `None` until its result has been read.
    pub(super) outcome: Option<Outcome>,
}

impl Call {
    pub(super) fn failed(&self) -> bool {
        self.outcome
            .as_ref()
            .is_some_and(|outcome| outcome.is_error)
    }
}

#[derive(Debug)]
pub(super) struct Outcome {
    pub(super) is_error: bool,
}

impl Memory {
    pub(super) fn new(seed: &str) -> Memory {
        Memory {
            rng: Rng::new(seed, "plan"),
            slips: Rng::new(seed, "slips"),
            rating_rng: Rng::new(seed, "rating"),
            plan: None,
            calls: Vec::new(),
            ids: BTreeMap::new(),
            spent: BTreeSet::new(),
            words: BTreeMap::new(),
        }
    }

    /// Reads the tool results of the conversation that have not been read.
    pub(super) fn absorb(&mut self, request: &LlmRequest) {
        let mut names: BTreeMap<&str, &str> = BTreeMap::new();
        for message in &request.messages {
            for block in &message.content {
                match block {
                    Block::ToolUse { id, name, .. } if message.role == Role::Assistant => {
                        names.insert(id, name);
                    }
                    Block::ToolResult {
                        tool_use_id,
                        content,
                        is_error,
                    } => {
                        let name = names.get(tool_use_id.as_str()).copied();
                        self.observe(tool_use_id, name, content, *is_error);
                    }
                    _ => {}
                }
            }
        }
    }

    fn observe(&mut self, tool_use_id: &str, name: Option<&str>, content: &str, is_error: bool) {
        let index = match self
            .calls
            .iter()
            .position(|call| call.tool_use_id == tool_use_id)
        {
            Some(index) => index,
            None => {
                // A call this simulator did not make (a conversation handed
                // to a fresh one): learn from it all the same.
                let Some(name) = name else { return };
                self.calls.push(Call {
                    tool_use_id: tool_use_id.to_owned(),
                    tool: name.to_owned(),
                    module: module_of(name).to_owned(),
                    outcome: None,
                });
                self.calls.len() - 1
            }
        };
        let call = &mut self.calls[index];
        if call.outcome.is_some() {
            return;
        }
        call.outcome = Some(Outcome { is_error });
        // A log call answers with the log entry, whose id names the entry,
        // not the habit that was logged; reusing it would fail.
        if is_error || verb_of(&call.tool).starts_with("log") {
            return;
        }
        let module = call.module.clone();
        let Some(result) = parse_json(content) else {
            return;
        };
        let mut found = Vec::new();
        collect_ids(&result, &mut found);
        let known = self.ids.entry(module).or_default();
        for id in found {
            if !known.contains(&id) && !self.spent.contains(&id) {
                known.push(id);
            }
        }
    }

    pub(super) fn live_ids(&self, module: &str) -> Vec<String> {
        self.ids
            .get(module)
            .map(|ids| {
                ids.iter()
                    .filter(|id| !self.spent.contains(*id))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn remember_words(&mut self, module: &str, input: &Value) {
        let Some(object) = input.as_object() else {
            return;
        };
        let known = self.words.entry(module.to_owned()).or_default();
        for field in ["title", "name"] {
            let Some(text) = object.get(field).and_then(Value::as_str) else {
                continue;
            };
            for word in text.split_whitespace() {
                let word = word.trim_matches(|c: char| !c.is_alphanumeric());
                // Short words ("am", "mit") match too much to be a search.
                if word.chars().count() >= 4 && !known.iter().any(|known| known == word) {
                    known.push(word.to_owned());
                }
            }
        }
    }
}

/// The result as JSON: the whole text, or the span from the first bracket
/// to the last, for a result with words around it.
pub(super) fn parse_json(content: &str) -> Option<Value> {
    if let Ok(value) = serde_json::from_str(content) {
        return Some(value);
    }
    let start = content.find(['{', '['])?;
    let end = content.rfind(['}', ']'])?;
    serde_json::from_str(content.get(start..=end)?).ok()
}

/// Every string field named `id`, depth first, except inside records marked
/// archived, which take no further action.
pub(super) fn collect_ids(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if object.get("archived") == Some(&Value::Bool(true)) {
                return;
            }
            if let Some(Value::String(id)) = object.get("id") {
                found.push(id.clone());
            }
            for (key, value) in object {
                if key != "id" {
                    collect_ids(value, found);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                collect_ids(item, found);
            }
        }
        _ => {}
    }
}
