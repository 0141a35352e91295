//! A fake Anthropic model that plays whole ticks over the wire: each request
//! is read back into the provider-neutral [`LlmRequest`], answered by a
//! [`ScriptedLlm`] kept per conversation, and sent in the Messages API's
//! shapes. Around that sit what benchmarks and fault tests need from a
//! hosted API: a latency per answer, a requests-per-minute limit answered
//! with the real 429, and injected faults (429, 529, 500, a hung request,
//! a garbage body) at a chosen rate.
//!
//! It also keeps the ground truth a loss check needs: every `tool_use` id
//! it issued, with its conversation, and whether a later request carried
//! that id's `tool_result` back (the runner executed the call and went on).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use catalog::{Archetype, KnownArchetype, ModuleMix, ModuleMixError};
use serde_json::Value;

use super::{Canned, Recorded, Respond, anthropic_error, anthropic_reply, lock};
use crate::llm::scripted::{ScriptedLlm, ScriptedProfile};
use crate::llm::{Block, Llm as _, LlmRequest, Message, Role, ToolChoice, ToolDef};

/// How the fake model behaves.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// Added before every answer, faults included.
    pub latency: Duration,
    /// Requests accepted per sliding minute; above it a 429
    /// `rate_limit_error` with `retry-after`, as the real API answers.
    pub per_minute: Option<u32>,
    /// Share (0–1) of requests answered with an injected fault instead.
    pub fault_rate: f64,
    /// How long a hung request is held before the server gives up on it;
    /// longer than the client's timeout, so the client's timeout fires.
    pub hang_for: Duration,
    /// Seeds the fault draws, so a run can be repeated.
    pub seed: u64,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions {
            latency: Duration::ZERO,
            per_minute: None,
            fault_rate: 0.0,
            hang_for: Duration::from_secs(5),
            seed: 7,
        }
    }
}

/// The faults [`ModelOptions::fault_rate`] draws from, evenly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    RateLimited,
    Overloaded,
    ServerError,
    Hang,
    Garbage,
}

const FAULTS: [Fault; 5] = [
    Fault::RateLimited,
    Fault::Overloaded,
    Fault::ServerError,
    Fault::Hang,
    Fault::Garbage,
];

/// What the model saw and did so far.
#[derive(Debug, Clone, Default)]
pub struct ModelStats {
    pub requests: u64,
    /// Answered by the simulator (the requests that counted against the
    /// limit).
    pub answered: u64,
    /// 429s because the per-minute limit was exceeded.
    pub over_limit: u64,
    pub faults: HashMap<Fault, u64>,
    /// When each answered request arrived, oldest first.
    pub accepted_at: Vec<Instant>,
}

/// One `tool_use` the model issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToolUse {
    pub id: String,
    /// Which conversation (tick attempt) issued it; numbered from 1.
    pub conversation: u64,
    /// A later request carried its `tool_result`.
    pub answered: bool,
}

struct Conversation {
    number: u64,
    llm: ScriptedLlm,
}

#[derive(Default)]
struct State {
    stats: ModelStats,
    /// Accepted requests of the last minute, for the limit.
    window: VecDeque<Instant>,
    /// The current conversation per opening (system prompt and first
    /// message): a persona's ticks never overlap, so the latest opening
    /// with that text is the live one.
    conversations: HashMap<String, Arc<Conversation>>,
    /// The latest conversation per system prompt: a rating turn is a fresh
    /// request forcing the rating tool, and rates the day of the persona's
    /// live conversation.
    latest_by_system: HashMap<String, Arc<Conversation>>,
    next_conversation: u64,
    issued: Vec<IssuedToolUse>,
    answered: HashSet<String>,
    draws: u64,
}

/// The fake model; serve it with [`super::FakeServer::start_model`].
pub struct FakeModel {
    options: ModelOptions,
    profile: ScriptedProfile,
    state: Mutex<State>,
}

impl FakeModel {
    pub fn new(options: ModelOptions) -> Result<FakeModel, ModuleMixError> {
        Ok(FakeModel {
            options,
            profile: ScriptedProfile {
                archetype: Archetype::from(KnownArchetype::SoloDev),
                // Names no module, so the simulator spreads its day evenly
                // over whatever tools the request lists.
                module_mix: ModuleMix::new(BTreeMap::from([("any".to_owned(), 1.0)]))?,
            },
            state: Mutex::new(State::default()),
        })
    }

    pub fn stats(&self) -> ModelStats {
        lock(&self.state).stats.clone()
    }

    /// Every tool use issued so far, in order.
    pub fn issued(&self) -> Vec<IssuedToolUse> {
        let state = lock(&self.state);
        state
            .issued
            .iter()
            .map(|issued| IssuedToolUse {
                answered: state.answered.contains(&issued.id),
                ..issued.clone()
            })
            .collect()
    }

    /// A fault for this request, or none; a seeded hash of the request
    /// number, so the same run draws the same faults.
    fn draw_fault(&self, state: &mut State) -> Option<Fault> {
        state.draws += 1;
        let mut x = state
            .draws
            .wrapping_add(self.options.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
        if unit >= self.options.fault_rate {
            return None;
        }
        let slot = (unit / self.options.fault_rate * FAULTS.len() as f64) as usize;
        Some(FAULTS[slot.min(FAULTS.len() - 1)])
    }

    /// Whether one more request fits the per-minute limit; counts it if so.
    fn admit(&self, state: &mut State, now: Instant) -> bool {
        let Some(limit) = self.options.per_minute else {
            return true;
        };
        while state
            .window
            .front()
            .is_some_and(|at| now.duration_since(*at) >= Duration::from_secs(60))
        {
            state.window.pop_front();
        }
        if state.window.len() >= limit as usize {
            return false;
        }
        state.window.push_back(now);
        true
    }

    fn conversation(&self, state: &mut State, request: &LlmRequest) -> Arc<Conversation> {
        let opening = format!(
            "{}\u{0}{}",
            request.system,
            request.messages.first().map(first_text).unwrap_or_default()
        );
        let fresh = request.messages.len() <= 1;
        if !fresh && let Some(live) = state.conversations.get(&opening) {
            return Arc::clone(live);
        }
        if matches!(request.tool_choice, ToolChoice::Tool(_))
            && let Some(live) = state.latest_by_system.get(&request.system)
        {
            return Arc::clone(live);
        }
        state.next_conversation += 1;
        let number = state.next_conversation;
        let conversation = Arc::new(Conversation {
            number,
            llm: ScriptedLlm::new(
                self.profile.clone(),
                &format!("fake-model-{}-{number}", self.options.seed),
            ),
        });
        state
            .conversations
            .insert(opening, Arc::clone(&conversation));
        state
            .latest_by_system
            .insert(request.system.clone(), Arc::clone(&conversation));
        conversation
    }
}

fn first_text(message: &Message) -> String {
    message
        .content
        .iter()
        .filter_map(|block| match block {
            Block::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[async_trait]
impl Respond for FakeModel {
    async fn respond(&self, request: &Recorded) -> Canned {
        let arrived = Instant::now();
        tokio::time::sleep(self.options.latency).await;
        let parsed = request
            .json()
            .map_err(|error| InvalidRequest(error.to_string()))
            .and_then(|body| parse_request(&body));
        let request = match parsed {
            Ok(request) => request,
            Err(problem) => {
                return anthropic_error(400, "invalid_request_error", &problem.0);
            }
        };
        // The state lock is released before the fault's or the simulator's
        // await; a fault goes out instead of the conversation.
        let conversation = {
            let mut state = lock(&self.state);
            state.stats.requests += 1;
            for message in &request.messages {
                for block in &message.content {
                    if let Block::ToolResult { tool_use_id, .. } = block {
                        state.answered.insert(tool_use_id.clone());
                    }
                }
            }
            if !self.admit(&mut state, arrived) {
                state.stats.over_limit += 1;
                return anthropic_error(
                    429,
                    "rate_limit_error",
                    "This request would exceed your organization's rate limit of requests per minute.",
                )
                .retry_after(Duration::from_secs(1));
            }
            match self.draw_fault(&mut state) {
                Some(fault) => {
                    *state.stats.faults.entry(fault).or_default() += 1;
                    Err(fault)
                }
                None => {
                    state.stats.answered += 1;
                    state.stats.accepted_at.push(arrived);
                    Ok(self.conversation(&mut state, &request))
                }
            }
        };
        let conversation = match conversation {
            Ok(conversation) => conversation,
            Err(fault) => return self.fault(fault).await,
        };
        let response = match conversation.llm.complete(&request).await {
            Ok(response) => response,
            Err(error) => return anthropic_error(500, "api_error", &error.to_string()),
        };
        {
            let mut state = lock(&self.state);
            for (id, _, _) in response.tool_uses() {
                state.issued.push(IssuedToolUse {
                    id: id.to_owned(),
                    conversation: conversation.number,
                    answered: false,
                });
            }
        }
        anthropic_reply(&response.content, response.usage)
    }
}

impl FakeModel {
    async fn fault(&self, fault: Fault) -> Canned {
        match fault {
            Fault::RateLimited => anthropic_error(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
            )
            .retry_after(Duration::from_millis(200)),
            Fault::Overloaded => anthropic_error(529, "overloaded_error", "Overloaded"),
            Fault::ServerError => anthropic_error(500, "api_error", "Internal server error"),
            Fault::Hang => {
                tokio::time::sleep(self.options.hang_for).await;
                anthropic_error(504, "api_error", "fake model: the request hung")
            }
            Fault::Garbage => Canned::raw(200, "application/json", "{\"id\": \"msg_01\", \"conte"),
        }
    }
}

/// A Messages API request body read back into the provider-neutral form:
/// the inverse of what the Anthropic provider sends. A forced tool
/// (`tool_choice: {"type": "tool", "name": …}`) becomes
/// [`ToolChoice::Tool`], so the simulator answers it with that tool; any
/// other choice, or none, is [`ToolChoice::Auto`].
/// Why a request body is not a Messages API request, in the API's words
/// (`messages: Field required`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidRequest(pub String);

impl From<&str> for InvalidRequest {
    fn from(problem: &str) -> Self {
        InvalidRequest(problem.to_owned())
    }
}

pub fn parse_request(body: &Value) -> Result<LlmRequest, InvalidRequest> {
    let system = match &body["system"] {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|block| block["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    let max_tokens = body["max_tokens"]
        .as_u64()
        .and_then(|tokens| u32::try_from(tokens).ok())
        .ok_or("max_tokens: Field required")?;
    let tools = body["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|tool| ToolDef {
                    name: tool["name"].as_str().unwrap_or_default().to_owned(),
                    description: tool["description"].as_str().unwrap_or_default().to_owned(),
                    input_schema: tool["input_schema"].clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let messages = body["messages"]
        .as_array()
        .ok_or("messages: Field required")?
        .iter()
        .enumerate()
        .map(|(index, message)| {
            parse_message(message)
                .map_err(|problem| InvalidRequest(format!("messages.{index}: {problem}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let tool_choice = match (
        body["tool_choice"]["type"].as_str(),
        body["tool_choice"]["name"].as_str(),
    ) {
        (Some("tool"), Some(name)) => ToolChoice::Tool(name.to_owned()),
        _ => ToolChoice::Auto,
    };
    Ok(LlmRequest {
        system,
        messages,
        tools,
        tool_choice,
        max_tokens,
    })
}

fn parse_message(message: &Value) -> Result<Message, InvalidRequest> {
    let role = match message["role"].as_str() {
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        other => return Err(InvalidRequest(format!("unexpected role {other:?}"))),
    };
    let content = match &message["content"] {
        Value::String(text) => vec![Block::Text(text.clone())],
        Value::Array(blocks) => blocks.iter().map(parse_block).collect::<Result<_, _>>()?,
        _ => return Err("content: Field required".into()),
    };
    Ok(Message { role, content })
}

fn parse_block(block: &Value) -> Result<Block, InvalidRequest> {
    let text_of = |value: &Value| match value {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    match block["type"].as_str() {
        Some("text") => Ok(Block::Text(text_of(&block["text"]))),
        Some("tool_use") => Ok(Block::ToolUse {
            id: block["id"].as_str().unwrap_or_default().to_owned(),
            name: block["name"].as_str().unwrap_or_default().to_owned(),
            input: block["input"].clone(),
        }),
        Some("tool_result") => Ok(Block::ToolResult {
            tool_use_id: block["tool_use_id"].as_str().unwrap_or_default().to_owned(),
            content: text_of(&block["content"]),
            is_error: block["is_error"].as_bool().unwrap_or(false),
        }),
        other => Err(InvalidRequest(format!(
            "unknown content block type {other:?}"
        ))),
    }
}
