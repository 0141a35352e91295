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
//! * Rating turn (a forced tool, or no tools): one rating per module it
//!   called, lowered by the errors it saw, as the forced tool's input; asked
//!   without a tool, the same JSON as text, some seeds wrapping it in a
//!   Markdown fence to exercise the reply parser.
//!
//! Same profile, seed and clock, same requests → same responses. The clock is
//! read once, at construction, and cut to the minute; [`ScriptedLlm::with_now`]
//! pins it.
//!
//! # Layout
//!
//! - this file: the [`Llm`] implementation, the plan and the memory;
//! - `args`: arguments from JSON Schemas; `mistakes`: deliberate slips;
//! - `words`: the German vocabularies; `rng`: seeded random numbers;
//! - `tests`: the simulator against copies of the registry's schemas and a
//!   small fake app.

mod args;
mod mistakes;
mod rng;
#[cfg(test)]
mod tests;
mod words;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use catalog::{Archetype, ModuleMix, TokenUsage};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use self::mistakes::Mistake;
use self::rng::Rng;
use super::{Block, Llm, LlmError, LlmRequest, LlmResponse, Role, StopReason, ToolChoice, ToolDef};

/// The provider name of the simulator.
pub const PROVIDER: &str = "scripted";
/// The model name it reports; bump it when its behaviour changes, so
/// recorded ticks say which simulator produced them.
pub const MODEL: &str = "scripted-v1";

/// The fewest and most tool calls one tick plans, as the day prompt asks.
const MIN_CALLS: i64 = 3;
const MAX_CALLS: i64 = 8;

/// Chance that the rating reply comes in a ```json fence.
const FENCE_RATE: f64 = 0.3;

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
            temperament: Temperament::of(profile.archetype),
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

    fn main_turn(&self, memory: &mut Memory, request: &LlmRequest) -> (Vec<Block>, StopReason) {
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

    /// Two German sentences about the day, as the day prompt asks.
    fn summary(&self, memory: &Memory) -> String {
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
    fn ratings(&self, memory: &Memory) -> Value {
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
    fn rating_reply(&self, memory: &mut Memory) -> String {
        let body = self.ratings(memory).to_string();
        if memory.rating_rng.chance(FENCE_RATE) {
            format!("```json\n{body}\n```")
        } else {
            body
        }
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
                    input: self.ratings(&memory),
                };
                (vec![call], StopReason::ToolUse)
            } else if request.tools.is_empty() {
                let reply = self.rating_reply(&mut memory);
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

/// How an archetype behaves, in numbers.
#[derive(Debug, Clone, Copy)]
struct Temperament {
    /// Share of calls spoilt with a mistake of any kind.
    mistake_rate: f64,
    /// Share of calls that name a record by a made-up id (when the tool
    /// takes one); a typo-level slip even careful users make.
    made_up_id_rate: f64,
    /// Chance of filling in an optional field.
    optional_rate: f64,
    /// The rating given when everything worked.
    patience: f64,
    newbie: bool,
}

impl Temperament {
    fn of(archetype: Archetype) -> Temperament {
        let careful = |made_up_id_rate, optional_rate| Temperament {
            mistake_rate: 0.0,
            made_up_id_rate,
            optional_rate,
            patience: 5.0,
            newbie: false,
        };
        match archetype {
            Archetype::OverwhelmedNewbie => Temperament {
                mistake_rate: 0.3,
                made_up_id_rate: 0.0,
                optional_rate: 0.3,
                patience: 4.0,
                newbie: true,
            },
            Archetype::AdhdStudent => careful(0.05, 0.4),
            Archetype::CeoBusy => careful(0.03, 0.25),
            Archetype::Researcher => careful(0.02, 0.75),
            Archetype::SoloDev => careful(0.02, 0.5),
            Archetype::CreativeParent | Archetype::Freelancer => careful(0.03, 0.5),
        }
    }

    /// Starts at the archetype's patience, loses up to two points for the
    /// share of failed calls and one more for failing at all.
    fn rating(&self, record: &ModuleRecord) -> i64 {
        let fraction = if record.observed == 0 {
            0.0
        } else {
            f64::from(record.errors) / f64::from(record.observed)
        };
        let penalty = if record.errors > 0 { 1.0 } else { 0.0 };
        (self.patience - 2.0 * fraction - penalty)
            .round()
            .clamp(1.0, 5.0) as i64
    }

    fn notes(&self, record: &ModuleRecord) -> String {
        let Some((tool, message)) = &record.first_error else {
            let calls = match record.calls {
                1 => "1 Aufruf".to_owned(),
                n => format!("{n} Aufrufe"),
            };
            return if self.newbie {
                format!(
                    "Hat geklappt ({calls} ohne Fehler), aber ich musste erst herausfinden, \
                     wie alles funktioniert."
                )
            } else {
                format!("Alles hat funktioniert: {calls} ohne Fehler.")
            };
        };
        let message: String = message.chars().take(120).collect();
        let tail = if self.newbie {
            "Ich wusste nicht genau, was ich falsch gemacht hatte."
        } else {
            "Die Fehlermeldung hat immerhin gesagt, was nicht stimmte."
        };
        format!(
            "{} von {} Aufrufen sind fehlgeschlagen, z. B. {tool}: „{}“. {tail}",
            record.errors,
            record.observed,
            message.trim()
        )
    }
}

/// What the rating turn knows about one module.
#[derive(Debug, Default)]
struct ModuleRecord {
    calls: u32,
    observed: u32,
    errors: u32,
    /// Tool and message of the first failure.
    first_error: Option<(String, String)>,
}

/// Everything the simulator remembers within a tick.
#[derive(Debug)]
struct Memory {
    /// Plans and argument values.
    rng: Rng,
    /// Whether and how a call is spoilt.
    slips: Rng,
    /// Whether the rating is fenced; its own stream so it depends on the
    /// seed alone, not on how the main turn went.
    rating_rng: Rng,
    /// Modules of the calls still to make; `None` before the first main
    /// turn request.
    plan: Option<VecDeque<String>>,
    /// Every call made (or seen in the conversation), in order.
    calls: Vec<Call>,
    /// Ids the app returned, by module, oldest first.
    ids: BTreeMap<String, Vec<String>>,
    /// Ids of records completed or archived this tick: acting on them again
    /// would not be what a person does.
    spent: BTreeSet<String>,
    /// Words of titles and names created this tick, by module, for queries
    /// that find something.
    words: BTreeMap<String, Vec<String>>,
}

#[derive(Debug)]
struct Call {
    tool_use_id: String,
    /// The LLM-safe name (`todo_create`).
    tool: String,
    module: String,
    /// `None` until its result has been read.
    outcome: Option<Outcome>,
}

impl Call {
    fn failed(&self) -> bool {
        self.outcome
            .as_ref()
            .is_some_and(|outcome| outcome.is_error)
    }
}

#[derive(Debug)]
struct Outcome {
    is_error: bool,
    message: String,
}

impl Memory {
    fn new(seed: &str) -> Memory {
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
    fn absorb(&mut self, request: &LlmRequest) {
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
        call.outcome = Some(Outcome {
            is_error,
            message: content.lines().next().unwrap_or_default().to_owned(),
        });
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

    fn live_ids(&self, module: &str) -> Vec<String> {
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

    fn remember_words(&mut self, module: &str, input: &Value) {
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

/// What a tool does, judged from its name and schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Lists or shows without an id (`todo_list`, `mood_today`).
    Read,
    /// Needs a query (`notes_search`).
    Search,
    /// Makes a record (`todo_create`, `journal_add`).
    Create,
    /// Works on a record by its id (`todo_complete`, `habits_log`).
    Act,
    /// Archives or deletes a record by its id; rare.
    Retire,
    /// Anything else (`mood_log`).
    Other,
}

#[derive(Debug)]
struct Tool<'a> {
    def: &'a ToolDef,
    module: &'a str,
    verb: &'a str,
    kind: Kind,
}

impl<'a> Tool<'a> {
    fn classify(def: &'a ToolDef) -> Tool<'a> {
        let module = module_of(&def.name);
        let verb = verb_of(&def.name);
        let schema = &def.input_schema;
        let needs_id = !args::required_id_fields(schema).is_empty();
        let needs_query = args::required(&args::effective(schema, schema, 0))
            .iter()
            .any(|name| matches!(name.as_str(), "query" | "q" | "search"));
        let starts = |prefixes: &[&str]| prefixes.iter().any(|prefix| verb.starts_with(prefix));
        let kind = if needs_id {
            if starts(&["archive", "delete", "remove"]) {
                Kind::Retire
            } else {
                Kind::Act
            }
        } else if starts(&["create", "add", "new"]) {
            Kind::Create
        } else if needs_query || starts(&["search", "find"]) {
            Kind::Search
        } else if starts(&["list", "get", "show", "today", "recent", "read", "view"]) {
            Kind::Read
        } else {
            Kind::Other
        };
        Tool {
            def,
            module,
            verb,
            kind,
        }
    }

    /// Whether a call leaves its record done with for this tick.
    fn uses_up_id(&self) -> bool {
        ["complete", "archive", "delete", "remove", "finish"]
            .iter()
            .any(|prefix| self.verb.starts_with(prefix))
    }
}

/// `todo` of `todo_create`: module names carry no `_`, and the LLM-safe
/// name maps the dot to the first one.
fn module_of(name: &str) -> &str {
    name.split_once('_').map_or(name, |(module, _)| module)
}

fn verb_of(name: &str) -> &str {
    name.split_once('_').map_or("", |(_, verb)| verb)
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

/// The result as JSON: the whole text, or the span from the first bracket
/// to the last, for a result with words around it.
fn parse_json(content: &str) -> Option<Value> {
    if let Ok(value) = serde_json::from_str(content) {
        return Some(value);
    }
    let start = content.find(['{', '['])?;
    let end = content.rfind(['}', ']'])?;
    serde_json::from_str(content.get(start..=end)?).ok()
}

/// Every string field named `id`, depth first, except inside records marked
/// archived, which take no further action.
fn collect_ids(value: &Value, found: &mut Vec<String>) {
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

/// About four characters per token, the usual rule of thumb; enough for
/// accounting code to have numbers.
fn pseudo_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}

fn request_chars(request: &LlmRequest) -> usize {
    let tools: usize = request
        .tools
        .iter()
        .map(|tool| {
            tool.name.chars().count()
                + tool.description.chars().count()
                + json_chars(&tool.input_schema)
        })
        .sum();
    let messages: usize = request
        .messages
        .iter()
        .flat_map(|message| &message.content)
        .map(block_chars)
        .sum();
    request.system.chars().count() + tools + messages
}

/// The characters of `value` as compact JSON, counted without building the
/// string: every round of a tick counts the same tool schemas again.
fn json_chars(value: &Value) -> usize {
    struct CharCounter(usize);
    impl std::io::Write for CharCounter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            // UTF-8 continuation bytes do not start a character.
            self.0 += bytes.iter().filter(|byte| **byte & 0xC0 != 0x80).count();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = CharCounter(0);
    // Writing a `Value` into a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

fn block_chars(block: &Block) -> usize {
    match block {
        Block::Text(text) => text.chars().count(),
        Block::ToolUse { id, name, input } => {
            id.chars().count() + name.chars().count() + json_chars(input)
        }
        Block::InvalidToolUse {
            id,
            name,
            arguments,
            ..
        } => id.chars().count() + name.chars().count() + arguments.chars().count(),
        Block::ToolResult {
            tool_use_id,
            content,
            ..
        } => tool_use_id.chars().count() + content.chars().count(),
    }
}
