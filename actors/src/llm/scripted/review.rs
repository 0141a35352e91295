//! Looking back on the day: the two German sentences that end the main
//! turn, and the ratings of the rating turn, as a forced tool's input or as
//! text. How harshly a module is rated is the [`Temperament`]'s call.
//!
//! [`Temperament`]: super::temperament::Temperament

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::ScriptedLlm;
use super::memory::Memory;

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

    /// `{"ratings":[…]}` for every module called in the main turn.
    pub(super) fn ratings(&self, memory: &Memory) -> Value {
        let mut seen: BTreeMap<&str, ModuleRecord> = BTreeMap::new();
        for call in &memory.calls {
            let record = seen.entry(call.module.as_str()).or_default();
            record.calls += 1;
            if let Some(outcome) = &call.outcome {
                record.observed += 1;
                if outcome.is_error {
                    record.errors += 1;
                    record
                        .first_error
                        .get_or_insert_with(|| (call.tool.clone(), outcome.message.clone()));
                }
            }
        }
        if seen.is_empty() {
            return json!({ "ratings": [] });
        }
        let ratings: Vec<Value> = seen
            .iter()
            .map(|(module, record)| {
                json!({
                    "module": module,
                    "rating": self.temperament.rating(record),
                    "notes": self.temperament.notes(record),
                })
            })
            .collect();
        json!({ "ratings": ratings })
    }

    /// The ratings as a text reply, sometimes fenced.
    pub(super) fn rating_reply(&self, memory: &mut Memory) -> String {
        let body = self.ratings(memory).to_string();
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
}
