//! One tick of one persona, as a plain async function with explicit inputs,
//! so the persona actor, `persona up --once` and tests run the same step.
//!
//! 1. list the tools and map their names to ones the LLM accepts;
//! 2. main turn: the persona's system prompt and a dated "spend one day in
//!    the app" prompt naming the module mix; up to `max_turns` LLM rounds.
//!    Every tool_use becomes an action row (measured latency, input hash);
//!    the calls of one round run concurrently, and a tool_result with
//!    `is_error` flips exactly the row with that tool_use_id;
//!    A call the model botched (arguments that are not JSON, a tool that
//!    does not exist) is answered with a tool error and never reaches the
//!    app; its row is the agent's failure, not the app's. Arguments the
//!    tool's listed schema rejects do go to the app, so its own validation
//!    and error text are exercised, but its refusal is the agent's failure
//!    too ([`crate::tool_schemas`]); any other error result is the app's.
//!    Before each round the request is fitted into the model's context
//!    window ([`crate::context`]);
//! 3. rating turn: a fresh request forcing the `submit_ratings` tool, so the
//!    ratings come back structured ([`crate::rating`]).
//!
//! [`TickEnd::verdict`] turns how the turns ended into an honest status:
//! `ok` only when tools were used, the day ran to its end and the modules
//! were rated; `idle` without a tool call; `incomplete` when turns, tokens
//! or the context ran out or the ratings could not be read.
//!
//! Rows go into a [`TickRecorder`] as they are produced, so a tick cut off
//! by its timeout still hands over every row it made.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use catalog::target::Language;
use catalog::transcript::{Phase, TranscriptItem};
use catalog::{
    ActionResult, ActionRow, Archetype, Cadence, FailedBy, FeedbackRow, ModuleMix, TickStatus,
    TokenUsage,
};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::Instrument as _;

use crate::context::{ContextBudget, Fit};
use crate::day_log::DayLog;
use crate::llm::names::ToolNames;
use crate::llm::{
    Block, Llm, LlmError, LlmRequest, LlmResponse, Message, Role, StopReason, ToolChoice, ToolDef,
};
use crate::mcp_client::{McpError, ToolSurface};
use crate::progress::{TickEvent, TickObserver, Waiting};
pub use crate::prompts::{day_prompt, rating_prompt};
use crate::tool_schemas::ToolSchemas;

/// Who is ticking.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonaProfile {
    pub id: String,
    pub email: String,
    pub name: String,
    pub archetype: Archetype,
    pub module_mix: ModuleMix,
    pub system_prompt: String,
    /// How often it ticks; bounds its failure backoff.
    pub cadence: Cadence,
}

#[derive(Debug, Clone, Copy)]
pub struct TickSettings {
    /// LLM rounds in the main turn at most.
    pub max_turns: u32,
    /// Output tokens one main-turn answer may use at most; less when the
    /// model's context window has less room left.
    pub max_tokens: u32,
    /// Output tokens the rating answer may use at most.
    pub rating_max_tokens: u32,
    /// Words the persona's memory ("the story so far") keeps at most.
    pub memory_words: u32,
    /// Characters each text of the transcript keeps at most.
    pub transcript_chars: u32,
}

impl Default for TickSettings {
    fn default() -> Self {
        TickSettings {
            max_turns: 15,
            max_tokens: 2048,
            rating_max_tokens: 1024,
            memory_words: 150,
            transcript_chars: 4000,
        }
    }
}

/// The day a tick plays: its date, and what the persona remembers of the
/// days before (its memory, "the story so far").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub now: DateTime<Utc>,
    pub memory: Option<String>,
    /// The app's name as the persona knows it.
    pub app: String,
    /// The language of the prompts and the day log.
    pub language: Language,
    /// The target's day prompt template (`prompt.day`); `None`: the
    /// language's own.
    pub template: Option<Arc<str>>,
}

impl From<DateTime<Utc>> for Day {
    /// A day in the built-in app with nothing remembered.
    fn from(now: DateTime<Utc>) -> Day {
        Day {
            now,
            memory: None,
            app: "Mana".to_owned(),
            language: Language::German,
            template: None,
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
    /// Why the last main-turn answer ended.
    pub finish_reason: Option<String>,
    /// What the tick is waiting for right now; names the culprit of a
    /// timeout.
    pub waiting: Option<Waiting>,
    /// What its LLM answers cost so far.
    pub cost: TickCost,
    /// The story so far as the rating turn wrote it, cut to
    /// `memory_words`; the persona's next day starts from it.
    pub story: Option<String>,
    /// What happened, item by item, redacted and cut.
    pub transcript: Vec<TranscriptItem>,
}

/// What a tick's LLM answers cost: a sum in US dollars, unknown as soon as
/// one answer's cost is (a hosted model without a price).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TickCost {
    usd: f64,
    unknown: bool,
}

impl TickCost {
    pub fn add(&mut self, usd: Option<f64>) {
        match usd {
            Some(usd) => self.usd += usd,
            None => self.unknown = true,
        }
    }

    /// The sum, or `None` when any part of it is unknown.
    pub fn usd(&self) -> Option<f64> {
        (!self.unknown).then_some(self.usd)
    }
}

/// A tick's record, shared between the tick and whoever cuts it short, and
/// the observer told about each step. Two recorders are equal when they are
/// the same record.
#[derive(Clone, Default)]
pub struct TickRecorder {
    record: Arc<Mutex<TickRecord>>,
    observer: Option<Arc<dyn TickObserver>>,
}

impl fmt::Debug for TickRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TickRecorder")
            .field("record", &self.record)
            .field("observed", &self.observer.is_some())
            .finish()
    }
}

impl PartialEq for TickRecorder {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.record, &other.record)
    }
}

/// How far a running tick has got, for progress lines and `/supervisor`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickProgress {
    /// LLM rounds answered so far.
    pub turns: u32,
    pub tool_calls: usize,
    /// What the tick is waiting for now; `None` after it ended.
    pub waiting: Option<Waiting>,
}

impl TickRecorder {
    /// A recorder that tells `observer` about every step.
    pub fn observed(observer: Arc<dyn TickObserver>) -> TickRecorder {
        TickRecorder {
            record: Arc::default(),
            observer: Some(observer),
        }
    }

    fn with<T>(&self, change: impl FnOnce(&mut TickRecord) -> T) -> T {
        // Every change is a single push or assignment, so a record behind a
        // poisoned lock is still whole.
        let mut record = self
            .record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        change(&mut record)
    }

    /// Tells the observer, if there is one.
    pub fn observe(&self, event: TickEvent) {
        if let Some(observer) = &self.observer {
            observer.observe(event);
        }
    }

    /// The tick waits for `what` from now on (`None`: for nothing).
    pub fn waiting(&self, what: Option<Waiting>) {
        let changed = self.with(|record| std::mem::replace(&mut record.waiting, what) != what);
        if changed && let Some(what) = what {
            self.observe(TickEvent::Waiting(what));
        }
    }

    /// Takes everything recorded so far.
    pub fn take(&self) -> TickRecord {
        self.with(std::mem::take)
    }

    pub fn action_count(&self) -> usize {
        self.with(|record| record.actions.len())
    }

    /// Adds an item to the transcript, redacted and cut to `max_chars`.
    pub fn note(&self, item: TranscriptItem, max_chars: u32) {
        let item = crate::transcript::keepable(item, max_chars as usize);
        self.with(|record| record.transcript.push(item));
    }

    /// Adds one LLM answer's cost (`None`: unknown).
    pub fn add_cost(&self, usd: Option<f64>) {
        self.with(|record| record.cost.add(usd));
    }

    /// What the tick is waiting for, if anything.
    pub fn waiting_for(&self) -> Option<Waiting> {
        self.with(|record| record.waiting)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error(transparent)]
    Llm(#[from] LlmError),
    #[error(transparent)]
    Mcp(#[from] McpError),
}

impl TickError {
    /// Whose failure this is; `None` when the runner itself stopped it.
    pub fn failed_by(&self) -> Option<FailedBy> {
        match self {
            TickError::Llm(LlmError::NoRateSlot | LlmError::BudgetSpent(_)) => None,
            TickError::Llm(_) => Some(FailedBy::Llm),
            TickError::Mcp(_) => Some(FailedBy::App),
        }
    }
}

/// How the main turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayEnd {
    /// The model answered without calling a tool: its day is done.
    Finished,
    /// It was still calling tools after `max_turns` rounds.
    OutOfTurns { max_turns: u32 },
    /// Its answer was cut off at `max_tokens` with nothing to act on.
    CutOff { max_tokens: u32 },
    /// The conversation no longer fits the model's context window.
    ContextFull(String),
}

/// How the rating turn ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RatingEnd {
    /// No module was used, so there was nothing to rate.
    NotAsked,
    /// This many modules were rated.
    Rated(usize),
    /// The reply could not be read; it is kept as a `__parse` row.
    Unreadable { cut_off: bool },
}

/// How a tick that ran to its end went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TickEnd {
    pub day: DayEnd,
    pub rating: RatingEnd,
}

impl TickEnd {
    /// The tick's status and, unless it is `ok`, why: `ok` only when tools
    /// were used, the day ran to its end and the ratings were stored.
    pub fn verdict(&self, tool_calls: usize) -> (TickStatus, Option<String>) {
        let day = match &self.day {
            DayEnd::Finished => None,
            DayEnd::OutOfTurns { max_turns } => Some(format!(
                "the model was still calling tools after {max_turns} rounds (PERSONA_MAX_TURNS)"
            )),
            DayEnd::CutOff { max_tokens } => Some(format!(
                "the model's answer was cut off at {max_tokens} output tokens (finish_reason length)"
            )),
            DayEnd::ContextFull(why) => Some(why.clone()),
        };
        if tool_calls == 0 {
            let reason = match day {
                Some(day) => format!("the model used no tool: {day}"),
                None => "the model used no tool".to_owned(),
            };
            return (TickStatus::Idle, Some(reason));
        }
        let rating = match self.rating {
            RatingEnd::Rated(0) => Some("the ratings named none of the modules used".to_owned()),
            RatingEnd::Unreadable { cut_off: false } => Some(
                "the rating reply could not be read (kept as a __parse feedback row)".to_owned(),
            ),
            RatingEnd::Unreadable { cut_off: true } => Some(
                "the rating reply was cut off at max_tokens and could not be read (kept as a __parse feedback row)"
                    .to_owned(),
            ),
            RatingEnd::Rated(_) | RatingEnd::NotAsked => None,
        };
        match (day, rating) {
            (None, None) => (TickStatus::Ok, None),
            (Some(day), Some(rating)) => (TickStatus::Incomplete, Some(format!("{day}; {rating}"))),
            (Some(reason), None) | (None, Some(reason)) => (TickStatus::Incomplete, Some(reason)),
        }
    }
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
    day: Day,
) -> Result<TickEnd, TickError> {
    recorder.waiting(Some(Waiting::Tool));
    let listed = tools.list_tools().await?;
    let names = ToolNames::new(listed.iter().map(|tool| tool.name.as_str()));
    let schemas = ToolSchemas::compile(&listed);
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
    let mut budget = ContextBudget::new(llm.context_window().await);
    let language = day.language;
    let opening = day_prompt(persona, &day);
    recorder.note(
        TranscriptItem::Prompt {
            phase: Phase::Day,
            system: persona.system_prompt.clone(),
            text: opening.clone(),
        },
        settings.transcript_chars,
    );
    let mut request = LlmRequest {
        system: persona.system_prompt.clone(),
        messages: vec![Message::user_text(opening)],
        tools: tool_defs.into(),
        tool_choice: ToolChoice::Auto,
        max_tokens: settings.max_tokens,
    };
    // tool_use_id → index of its action row, for this tick only.
    let mut rows_by_tool_use: HashMap<String, usize> = HashMap::new();
    // What the persona did, for the rating turn.
    let mut day_log = DayLog::default();
    let mut used_modules = BTreeSet::new();
    let mut day = DayEnd::OutOfTurns {
        max_turns: settings.max_turns,
    };
    for _ in 0..settings.max_turns {
        if let Fit::Full {
            estimated_prompt,
            window,
        } = budget.fit(&mut request, settings.max_tokens)
        {
            day = DayEnd::ContextFull(format!(
                "the conversation (about {estimated_prompt} tokens) leaves no room for an answer \
                 in the model's {window}-token context window, even with older tool results shortened"
            ));
            break;
        }
        let response = match ask(llm, &request, recorder).await {
            Ok(response) => response,
            Err(LlmError::ContextOverflow { message }) => {
                day = DayEnd::ContextFull(format!(
                    "the LLM server said the context is full: {message}"
                ));
                break;
            }
            Err(error) => return Err(error.into()),
        };
        budget.observe(
            crate::context::request_chars(&request),
            response.usage.input + response.usage.cache_read + response.usage.cache_write,
        );
        let turns = recorder.with(|record| {
            record.turns += 1;
            add_tokens(&mut record.tokens, response.usage);
            record.finish_reason = Some(response.stop_reason.as_str().to_owned());
            record.turns
        });
        recorder.observe(TickEvent::Answered { turns });
        recorder.note(
            TranscriptItem::Answer {
                phase: Phase::Day,
                turn: turns,
                text: response.text(),
                finish_reason: response.stop_reason.as_str().to_owned(),
                tokens: response.usage,
            },
            settings.transcript_chars,
        );
        request.messages.push(Message {
            role: Role::Assistant,
            content: response.content.clone(),
        });
        let calls: Vec<Call> = response
            .content
            .iter()
            .filter_map(Call::from_block)
            .collect();
        if calls.is_empty() {
            recorder.with(|record| {
                record.summary = Some(response.text()).filter(|text| !text.trim().is_empty())
            });
            day = if response.stop_reason == StopReason::MaxTokens {
                DayEnd::CutOff {
                    max_tokens: request.max_tokens,
                }
            } else {
                DayEnd::Finished
            };
            break;
        }
        recorder.waiting(Some(Waiting::Tool));
        let (names, schemas) = (&names, &schemas);
        let results = futures::future::join_all(calls.iter().map(|call| async move {
            recorder.observe(TickEvent::CallStarted {
                tool_use_id: call.id.clone(),
                tool: call.tool_name(names),
            });
            let started = Instant::now();
            let span = crate::gen_ai::execute_tool(&call.tool_name(names), &call.id);
            let outcome = call
                .run(names, schemas, tools)
                .instrument(span.clone())
                .await;
            if let Some(by) = outcome.failed_by {
                crate::gen_ai::failed(&span, by.as_str());
            }
            let latency = started.elapsed();
            recorder.observe(TickEvent::CallEnded {
                tool_use_id: call.id.clone(),
                result: outcome.result(),
                failed_by: outcome.failed_by,
                latency_ms: latency.as_millis() as u64,
            });
            (outcome, latency)
        }))
        .await;
        let mut tool_results = Vec::with_capacity(calls.len());
        for (call, (outcome, latency)) in calls.iter().zip(results) {
            let tool_name = call.tool_name(names);
            // A call the app saw is part of the persona's day with its
            // module, even when the model's arguments were to blame.
            if outcome.sent_to_app {
                used_modules.insert(tools.module_of(&tool_name));
            }
            let index = recorder.with(|record| {
                record.actions.push(ActionRow {
                    tick_id: tick_id.to_owned(),
                    action_idx: record.actions.len() as u32,
                    tool_use_id: Some(call.id.clone()),
                    tool_name: tool_name.clone(),
                    input_hash: call.input_hash(),
                    result: ActionResult::Ok,
                    error_message: None,
                    failed_by: None,
                    latency_ms: latency.as_millis() as u64,
                    created_at: Utc::now(),
                });
                record.actions.len() - 1
            });
            rows_by_tool_use.insert(call.id.clone(), index);
            let input = call.input_text();
            day_log.push(
                &tool_name,
                &tools.module_of(&tool_name),
                &input,
                outcome.failed_by,
                Some(&outcome.text),
            );
            recorder.note(
                TranscriptItem::Call {
                    tool_use_id: call.id.clone(),
                    tool: tool_name.clone(),
                    input,
                    result: outcome.result(),
                    failed_by: outcome.failed_by,
                    output: outcome.text.clone(),
                    latency_ms: latency.as_millis() as u64,
                },
                settings.transcript_chars,
            );
            // `agent_error` for every agent failure, those the app refused
            // for arguments its schema rejects included, so the metric and
            // the rows agree on who failed.
            let result_label = match outcome.failed_by {
                None => "ok",
                Some(FailedBy::Agent) => "agent_error",
                Some(_) => "error",
            };
            metrics::counter!(crate::metrics::TOOL_CALLS_TOTAL, "tool" => tool_name.clone(), "result" => result_label).increment(1);
            metrics::histogram!(crate::metrics::TOOL_LATENCY_SECONDS, "tool" => tool_name)
                .record(latency.as_secs_f64());
            tool_results.push((
                Block::ToolResult {
                    tool_use_id: call.id.clone(),
                    content: outcome.text,
                    is_error: outcome.failed_by.is_some(),
                },
                outcome.failed_by,
                outcome.error_message,
            ));
        }
        for (block, failed_by, error_message) in &mut tool_results {
            if let Block::ToolResult {
                tool_use_id,
                is_error: true,
                ..
            } = block
                && let Some(index) = rows_by_tool_use.get(tool_use_id)
            {
                recorder.with(|record| {
                    let row = &mut record.actions[*index];
                    row.result = ActionResult::Error;
                    row.error_message = error_message.take();
                    row.failed_by = *failed_by;
                });
            }
        }
        request.messages.push(Message {
            role: Role::User,
            content: tool_results
                .into_iter()
                .map(|(block, _, _)| block)
                .collect(),
        });
    }
    if used_modules.is_empty() {
        recorder.waiting(None);
        return Ok(TickEnd {
            day,
            rating: RatingEnd::NotAsked,
        });
    }
    let rating = rate_modules(
        persona,
        tick_id,
        llm,
        settings,
        &budget,
        (&used_modules, &day_log, language),
        recorder,
    )
    .await?;
    recorder.waiting(None);
    Ok(TickEnd { day, rating })
}

/// One LLM round, marked as waiting on the LLM while in flight.
async fn ask(
    llm: &dyn Llm,
    request: &LlmRequest,
    recorder: &TickRecorder,
) -> Result<LlmResponse, LlmError> {
    recorder.waiting(Some(Waiting::Llm));
    llm.complete(request).await
}

/// The rating turn: a fresh request forcing the `submit_ratings` tool, so
/// the answer is structured; a text answer is read by the tolerant parser.
async fn rate_modules(
    persona: &PersonaProfile,
    tick_id: &str,
    llm: &dyn Llm,
    settings: TickSettings,
    budget: &ContextBudget,
    (used_modules, day_log, language): (&BTreeSet<String>, &DayLog, Language),
    recorder: &TickRecorder,
) -> Result<RatingEnd, TickError> {
    let tool = crate::rating::rating_tool(used_modules);
    let prompt = rating_prompt(used_modules, day_log, language);
    recorder.note(
        TranscriptItem::Prompt {
            phase: Phase::Rating,
            system: persona.system_prompt.clone(),
            text: prompt.clone(),
        },
        settings.transcript_chars,
    );
    let mut request = LlmRequest {
        system: persona.system_prompt.clone(),
        messages: vec![Message::user_text(prompt)],
        tool_choice: ToolChoice::Tool(tool.name.clone()),
        tools: Arc::from([tool]),
        max_tokens: settings.rating_max_tokens,
    };
    // The rating request is small; if even it does not fit, the server's
    // answer says so and the tick fails with that reason.
    let _ = budget.fit(&mut request, settings.rating_max_tokens);
    let response = ask(llm, &request, recorder).await?;
    let turn = recorder.with(|record| record.turns) + 1;
    recorder.note(
        TranscriptItem::Answer {
            phase: Phase::Rating,
            turn,
            text: crate::transcript::answer_text(&response),
            finish_reason: response.stop_reason.as_str().to_owned(),
            tokens: response.usage,
        },
        settings.transcript_chars,
    );
    let feedback =
        crate::rating::parse_rating_response(&response, used_modules, tick_id, Utc::now());
    let story = crate::rating::story(&response, settings.memory_words);
    let rating = if feedback.iter().any(FeedbackRow::is_parse_failure) {
        RatingEnd::Unreadable {
            cut_off: response.stop_reason == StopReason::MaxTokens,
        }
    } else {
        RatingEnd::Rated(feedback.len())
    };
    recorder.with(|record| {
        add_tokens(&mut record.tokens, response.usage);
        record.feedback = feedback;
        record.story = story;
    });
    Ok(rating)
}

/// A tool call the model asked for, usable or not.
struct Call {
    id: String,
    llm_name: String,
    input: CallInput,
}

/// A call's arguments: an object to send, or why there is none.
enum CallInput {
    Usable(Value),
    /// Arguments that are not JSON, and what the model is told instead of
    /// calling the app.
    Refused {
        arguments: String,
        why: String,
        /// The parser's complaint, without the arguments.
        parse_error: String,
    },
}

/// At most this many characters of a failed call's error go into its action
/// row (`error_message`, stored in plaintext). The app quotes at most a
/// short prefix of a bad value; this bounds what any MCP server's text
/// costs, and the runner's own messages quote no arguments at all.
pub const ERROR_MESSAGE_CHARS: usize = 300;

/// At most this many characters of a name the model made up are quoted in
/// an action row.
const QUOTED_NAME_CHARS: usize = 40;

/// What a call came to.
struct CallOutcome {
    text: String,
    /// `None` when the call succeeded.
    failed_by: Option<FailedBy>,
    /// Whether the call went to the app (`false`: refused before it).
    sent_to_app: bool,
    /// What the action row stores of a failure: no arguments, at most
    /// [`ERROR_MESSAGE_CHARS`] characters.
    error_message: Option<String>,
}

impl CallOutcome {
    fn result(&self) -> ActionResult {
        match self.failed_by {
            Some(_) => ActionResult::Error,
            None => ActionResult::Ok,
        }
    }
}

/// `text` cut to [`ERROR_MESSAGE_CHARS`] characters, marked when cut.
fn bounded(text: &str) -> String {
    let mut text = text.to_owned();
    catalog::transcript::cut(&mut text, ERROR_MESSAGE_CHARS);
    text
}

impl Call {
    fn from_block(block: &Block) -> Option<Call> {
        match block {
            Block::ToolUse { id, name, input } => Some(Call {
                id: id.clone(),
                llm_name: name.clone(),
                input: CallInput::Usable(input.clone()),
            }),
            Block::InvalidToolUse {
                id,
                name,
                arguments,
                error,
            } => Some(Call {
                id: id.clone(),
                llm_name: name.clone(),
                input: CallInput::Refused {
                    arguments: arguments.clone(),
                    why: format!(
                        "your arguments were not valid JSON: {error}. You sent: {}",
                        arguments.chars().take(300).collect::<String>()
                    ),
                    parse_error: error.clone(),
                },
            }),
            _ => None,
        }
    }

    /// Calls the app, unless the call cannot be made: then the model is told
    /// why and the app never sees it (the agent's mistake, not the app's).
    /// An error the app answers to arguments its listed schema rejects is
    /// the agent's too; one it could not answer (unreachable, timed out)
    /// stays the app's.
    async fn run(
        &self,
        names: &ToolNames,
        schemas: &ToolSchemas,
        tools: &dyn ToolSurface,
    ) -> CallOutcome {
        let input = match &self.input {
            CallInput::Usable(input) => input,
            CallInput::Refused {
                why, parse_error, ..
            } => {
                return CallOutcome {
                    text: why.clone(),
                    failed_by: Some(FailedBy::Agent),
                    sent_to_app: false,
                    error_message: Some(bounded(&format!(
                        "the arguments were not valid JSON: {parse_error}"
                    ))),
                };
            }
        };
        let Some(mcp_name) = names.to_mcp(&self.llm_name) else {
            return CallOutcome {
                text: format!(
                    "there is no tool called {:?}; use one of the listed tools",
                    self.llm_name
                ),
                failed_by: Some(FailedBy::Agent),
                sent_to_app: false,
                error_message: Some(format!(
                    "there is no tool called {:?}",
                    self.llm_name
                        .chars()
                        .take(QUOTED_NAME_CHARS)
                        .collect::<String>()
                )),
            };
        };
        let schema_rejects = schemas.rejects(mcp_name, input);
        let result = tools.call(mcp_name, input.clone()).await;
        let failed_by = match (result.is_error, schema_rejects && result.answered) {
            (false, _) => None,
            (true, true) => Some(FailedBy::Agent),
            (true, false) => Some(FailedBy::App),
        };
        CallOutcome {
            failed_by,
            error_message: result.is_error.then(|| bounded(&result.text)),
            text: result.text,
            sent_to_app: true,
        }
    }

    /// The tool's name in the app; the model's name for a tool that does
    /// not exist.
    fn tool_name(&self, names: &ToolNames) -> String {
        names
            .to_mcp(&self.llm_name)
            .unwrap_or(&self.llm_name)
            .to_owned()
    }

    /// The input as the model sent it: its JSON, or the raw text it could
    /// not parse.
    fn input_text(&self) -> String {
        match &self.input {
            CallInput::Usable(input) => input.to_string(),
            CallInput::Refused { arguments, .. } => arguments.clone(),
        }
    }

    /// The input hash of the action row; for arguments that were not JSON,
    /// the hash of the raw text as a JSON string.
    fn input_hash(&self) -> String {
        match &self.input {
            CallInput::Usable(input) => input_hash(input),
            CallInput::Refused { arguments, .. } => input_hash(&Value::String(arguments.clone())),
        }
    }
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
