//! Looking back on the day: the two German sentences that end the main
//! turn, and the ratings of the rating turn, as a forced tool's input or as
//! text. The ratings come from the day's log in the rating request — the
//! same lines a model reads — and each note cites its calls by number. How
//! harshly a module is rated is the [`Temperament`]'s call.
//!
//! [`Temperament`]: super::temperament::Temperament

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::ScriptedLlm;
use super::memory::Memory;
use crate::day_log::read_logged_calls;
use crate::llm::{Block, LlmRequest, Role};

/// Chance that the rating reply comes in a ```json fence.
const FENCE_RATE: f64 = 0.3;

impl ScriptedLlm {
    /// Two German sentences about the day, as the day prompt asks.
    pub(super) fn summary(&self, memory: &Memory) -> String {
        let total = memory.calls.len();
        if total == 0 {
            return "Heute bin ich nicht dazu gekommen, etwas in der App zu erledigen. \
                    Morgen nehme ich mir mehr Zeit dafür."
                .to_owned();
        }
        let mut modules: Vec<&str> = Vec::new();
        for call in &memory.calls {
            if !modules.contains(&call.module.as_str()) {
                modules.push(&call.module);
            }
        }
        let errors = memory.calls.iter().filter(|call| call.failed()).count();
        let actions = if total == 1 { "Aktion" } else { "Aktionen" };
        let outcome = match errors {
            0 => "Alles hat auf Anhieb geklappt.".to_owned(),
            1 => "Einmal gab es eine Fehlermeldung, der Rest hat funktioniert.".to_owned(),
            n => format!("{n}-mal gab es eine Fehlermeldung, das hat mich aufgehalten."),
        };
        format!(
            "Heute habe ich {total} {actions} in der App erledigt ({}). {outcome}",
            modules.join(", ")
        )
    }

    /// `{"ratings":[…],"story":…}`: a rating for every module of the calls
    /// the rating request's day log lists, and the day's summary from its
    /// own observations as the story so far.
    pub(super) fn ratings(&self, memory: &Memory, request: &LlmRequest) -> Value {
        let asked: String = request
            .messages
            .iter()
            .filter(|message| message.role == Role::User)
            .flat_map(|message| &message.content)
            .filter_map(|block| match block {
                Block::Text(text) => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut seen: BTreeMap<&str, ModuleRecord> = BTreeMap::new();
        let logged = read_logged_calls(&asked);
        for call in &logged {
            let module = call.module.as_str();
            let record = seen.entry(module).or_default();
            record.calls += 1;
            record.observed += 1;
            record.numbers.push(call.number);
            if call.failed_by.is_some() {
                record.errors += 1;
                record.first_error.get_or_insert_with(|| {
                    (call.tool.clone(), call.error.clone().unwrap_or_default())
                });
            }
        }
        let ratings: Vec<Value> = seen
            .iter()
            .map(|(module, record)| {
                let cited: Vec<String> = record
                    .numbers
                    .iter()
                    .map(|number| format!("#{number}"))
                    .collect();
                json!({
                    "module": module,
                    "rating": self.temperament.rating(record),
                    "notes": format!("{} ({})", self.temperament.notes(record), cited.join(", ")),
                    "calls": record.numbers,
                })
            })
            .collect();
        json!({ "ratings": ratings, "story": self.summary(memory) })
    }

    /// The ratings as a text reply, sometimes fenced.
    pub(super) fn rating_reply(&self, memory: &mut Memory, request: &LlmRequest) -> String {
        let body = self.ratings(memory, request).to_string();
        if memory.rating_rng.chance(FENCE_RATE) {
            format!("```json\n{body}\n```")
        } else {
            body
        }
    }
}

/// What the rating turn knows about one module.
#[derive(Debug, Default)]
pub(super) struct ModuleRecord {
    pub(super) calls: u32,
    pub(super) observed: u32,
    pub(super) errors: u32,
    /// Tool and message of the first failure.
    pub(super) first_error: Option<(String, String)>,
    /// The log's numbers of its calls.
    pub(super) numbers: Vec<usize>,
}
