//! A faithful fake of Anthropic's hosted Messages API, for tests only: the
//! canned answers in its wire shapes (messages, `{"type":"error",…}` error
//! responses) and the checks the real API makes before it looks at the
//! model. The server that serves them, loopback only, bound to
//! `127.0.0.1:0` before serving, recording every request and replying from a
//! queue, is [`super::FakeServer`] with [`super::Dialect::Anthropic`].

use std::collections::HashSet;

use catalog::TokenUsage;
use http::Method;
use serde_json::{Value, json};

use super::{Canned, Recorded};
use crate::llm::Block;

/// A Messages API response with the given `content` blocks, `stop_reason`
/// and `usage`, all in wire form.
pub fn anthropic_message(content: Value, stop_reason: &str, usage: Value) -> Canned {
    Canned::json(
        200,
        json!({
            "id": "msg_01FakeFakeFakeFakeFake",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5-20250929",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": usage,
        }),
    )
}

/// A plain text answer that ends the turn.
pub fn anthropic_text(text: &str) -> Canned {
    anthropic_message(
        json!([{"type": "text", "text": text}]),
        "end_turn",
        json!({"input_tokens": 10, "output_tokens": 5}),
    )
}

/// A successful turn made of `blocks`, in order: `Text` and `ToolUse` as the
/// API sends them (a `ToolResult`, which no response contains, is sent in
/// its request form, and the provider skips it as an unknown block; an
/// `InvalidToolUse`, which the API cannot express because its input is
/// always an object, goes out as a `tool_use` with an empty input). The
/// stop reason is `tool_use` when there is a tool use, else `end_turn`;
/// `usage` fills all four token counts.
pub fn anthropic_reply(blocks: &[Block], usage: TokenUsage) -> Canned {
    let content: Vec<Value> = blocks
        .iter()
        .map(|block| match block {
            Block::Text(text) => json!({"type": "text", "text": text}),
            Block::ToolUse { id, name, input } => json!({
                "type": "tool_use",
                "id": id,
                "name": name,
                "input": input,
            }),
            Block::InvalidToolUse { id, name, .. } => json!({
                "type": "tool_use",
                "id": id,
                "name": name,
                "input": {},
            }),
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => json!({
                "type": "tool_result",
                "tool_use_id": tool_use_id,
                "content": content,
                "is_error": is_error,
            }),
        })
        .collect();
    let calls_tools = blocks
        .iter()
        .any(|block| matches!(block, Block::ToolUse { .. } | Block::InvalidToolUse { .. }));
    anthropic_message(
        Value::Array(content),
        if calls_tools { "tool_use" } else { "end_turn" },
        json!({
            "input_tokens": usage.input,
            "output_tokens": usage.output,
            "cache_read_input_tokens": usage.cache_read,
            "cache_creation_input_tokens": usage.cache_write,
        }),
    )
}

/// An Anthropic error: `{"type":"error","error":{type,message},"request_id"}`.
/// `kind` is the error type (`rate_limit_error`, `overloaded_error`,
/// `authentication_error`, `invalid_request_error`, `billing_error`…).
pub fn anthropic_error(status: u16, kind: &str, message: &str) -> Canned {
    Canned::json(
        status,
        json!({
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_011FakeFakeFake",
        }),
    )
}

/// What the real Messages API would refuse before looking at the model.
pub(super) fn refusal(request: &Recorded) -> Option<Canned> {
    if request.method != Method::POST || request.path != "/v1/messages" {
        return Some(anthropic_error(404, "not_found_error", "Not Found"));
    }
    if request.header("x-api-key").is_none_or(str::is_empty) {
        return Some(anthropic_error(
            401,
            "authentication_error",
            "x-api-key header is required",
        ));
    }
    if request.header("anthropic-version").is_none() {
        return Some(anthropic_error(
            400,
            "invalid_request_error",
            "anthropic-version: header is required",
        ));
    }
    let Ok(body) = serde_json::from_str::<Value>(&request.body) else {
        return Some(anthropic_error(
            400,
            "invalid_request_error",
            "There was an error parsing the body of your request.",
        ));
    };
    for field in ["model", "max_tokens", "messages"] {
        if body.get(field).is_none() {
            return Some(anthropic_error(
                400,
                "invalid_request_error",
                &format!("{field}: Field required"),
            ));
        }
    }
    if let Some(refused) = refused_tool_choice(&body) {
        return Some(anthropic_error(400, "invalid_request_error", &refused));
    }
    let breakpoints = request.body.matches("\"cache_control\"").count();
    if breakpoints > 4 {
        return Some(anthropic_error(
            400,
            "invalid_request_error",
            &format!(
                "A maximum of 4 blocks with cache_control may be provided. Found {breakpoints}."
            ),
        ));
    }
    let messages = body["messages"].as_array()?;
    for (index, message) in messages.iter().enumerate() {
        let blocks = message["content"].as_array().cloned().unwrap_or_default();
        if blocks
            .iter()
            .any(|block| block["type"] == "text" && block["text"] == "")
        {
            return Some(anthropic_error(
                400,
                "invalid_request_error",
                &format!("messages.{index}: text content blocks must be non-empty"),
            ));
        }
        if message["role"] != "assistant" {
            continue;
        }
        let calls: Vec<&str> = blocks
            .iter()
            .filter(|block| block["type"] == "tool_use")
            .filter_map(|block| block["id"].as_str())
            .collect();
        if calls.is_empty() {
            continue;
        }
        // Results must open the single next user message.
        let next = messages.get(index + 1);
        let answered: HashSet<&str> = next
            .filter(|next| next["role"] == "user")
            .and_then(|next| next["content"].as_array())
            .map(|content| {
                content
                    .iter()
                    .take_while(|block| block["type"] == "tool_result")
                    .filter_map(|block| block["tool_use_id"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        let missing: Vec<&str> = calls
            .into_iter()
            .filter(|id| !answered.contains(id))
            .collect();
        if !missing.is_empty() {
            return Some(anthropic_error(
                400,
                "invalid_request_error",
                &format!(
                    "messages.{}: `tool_use` ids were found without `tool_result` blocks \
                     immediately after: {}. Each `tool_use` block must have a corresponding \
                     `tool_result` block in the next message.",
                    index + 1,
                    missing.join(", ")
                ),
            ));
        }
    }
    None
}

/// The API's checks of `tool_choice`, in its words.
fn refused_tool_choice(body: &Value) -> Option<String> {
    let choice = body.get("tool_choice")?;
    let tools: Vec<&str> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tool| tool["name"].as_str())
        .collect();
    match choice["type"].as_str() {
        Some("auto" | "any" | "none") if !tools.is_empty() || choice["type"] == "none" => None,
        Some("tool") => {
            let name = choice["name"].as_str().unwrap_or_default();
            (!tools.contains(&name)).then(|| {
                format!("tool_choice.name: tool '{name}' was not found in the provided tools")
            })
        }
        Some("auto" | "any") => {
            Some("tool_choice may only be specified while providing tools.".to_owned())
        }
        _ => Some(format!(
            "tool_choice: Input tag '{}' found using 'type' does not match any of the expected \
             tags: 'auto', 'any', 'tool', 'none'",
            choice["type"]
        )),
    }
}
