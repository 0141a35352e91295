//! A faithful fake of OpenAI's hosted Chat Completions API (and the
//! compatible servers: vLLM, Ollama, llama.cpp), for tests only: the canned
//! answers in its wire shapes (completions, `{"error":{…}}` error responses)
//! and the checks a server makes before it looks at the model. The server
//! that serves them, loopback only, bound to `127.0.0.1:0` before serving,
//! recording every request and replying from a queue, is
//! [`super::FakeServer`] with [`super::Dialect::OpenAi`].

use std::collections::HashMap;

use catalog::TokenUsage;
use http::Method;
use serde_json::{Value, json};

use super::{Canned, Recorded};
use crate::llm::Block;

/// A Chat Completions response with one choice: `message`, `finish_reason`
/// and `usage` in wire form.
pub fn openai_completion(message: Value, finish_reason: &str, usage: Value) -> Canned {
    Canned::json(
        200,
        json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_767_225_600,
            "model": "qwen3:8b",
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": usage,
        }),
    )
}

/// A plain text answer that ends the turn.
pub fn openai_text(text: &str) -> Canned {
    openai_completion(
        json!({"role": "assistant", "content": text}),
        "stop",
        json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}),
    )
}

/// A successful turn made of `blocks`: the text blocks joined by newlines
/// as `content` (null when there are none), each `ToolUse` as a tool call
/// with its input as a JSON string, `ToolResult` blocks left out (a
/// response has no place for them). The finish reason is `tool_calls` when
/// there is a call, else `stop`. `usage.input + usage.cache_read` is sent
/// as `prompt_tokens` with `cache_read` as its cached part;
/// `usage.cache_write` has no counterpart and is dropped.
pub fn openai_reply(blocks: &[Block], usage: TokenUsage) -> Canned {
    let texts: Vec<&str> = blocks
        .iter()
        .filter_map(|block| match block {
            Block::Text(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let calls: Vec<Value> = blocks
        .iter()
        .filter_map(|block| match block {
            Block::ToolUse { id, name, input } => Some(json!({
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": input.to_string()},
            })),
            _ => None,
        })
        .collect();
    let content = if texts.is_empty() {
        Value::Null
    } else {
        json!(texts.join("\n"))
    };
    let mut message = json!({"role": "assistant", "content": content});
    let finish_reason = if calls.is_empty() {
        "stop"
    } else {
        message["tool_calls"] = Value::Array(calls);
        "tool_calls"
    };
    let prompt = usage.input.saturating_add(usage.cache_read);
    openai_completion(
        message,
        finish_reason,
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": usage.output,
            "total_tokens": prompt.saturating_add(usage.output),
            "prompt_tokens_details": {"cached_tokens": usage.cache_read},
        }),
    )
}

/// An OpenAI error: `{"error":{message,type,param,code}}`. `kind` is the
/// error type (`invalid_request_error`, `server_error`,
/// `insufficient_quota`…).
pub fn openai_error(status: u16, kind: &str, message: &str) -> Canned {
    Canned::json(
        status,
        json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
    )
}

/// What an OpenAI-compatible server would refuse before looking at the
/// model.
pub(super) fn refusal(request: &Recorded) -> Option<Canned> {
    if request.method != Method::POST || request.path != "/v1/chat/completions" {
        return Some(openai_error(
            404,
            "invalid_request_error",
            &format!("Invalid URL ({} {})", request.method, request.path),
        ));
    }
    let Ok(body) = serde_json::from_str::<Value>(&request.body) else {
        return Some(openai_error(
            400,
            "invalid_request_error",
            "We could not parse the JSON body of your request.",
        ));
    };
    for field in ["model", "messages"] {
        if body.get(field).is_none() {
            return Some(openai_error(
                400,
                "invalid_request_error",
                &format!("Missing required parameter: '{field}'."),
            ));
        }
    }
    let messages = body["messages"].as_array()?;
    // Every tool message answers a call of the assistant message before the
    // run of tool messages, and every call gets answered.
    let mut open_calls: HashMap<String, usize> = HashMap::new();
    for (index, message) in messages.iter().enumerate() {
        match message["role"].as_str() {
            Some("tool") => {
                let id = message["tool_call_id"].as_str().unwrap_or("");
                if open_calls.remove(id).is_none() {
                    return Some(openai_error(
                        400,
                        "invalid_request_error",
                        &format!(
                            "Invalid parameter: messages.[{index}]: messages with role 'tool' \
                             must be a response to a preceeding message with 'tool_calls'."
                        ),
                    ));
                }
            }
            role => {
                if !open_calls.is_empty() {
                    let mut ids: Vec<&String> = open_calls.keys().collect();
                    ids.sort();
                    return Some(openai_error(
                        400,
                        "invalid_request_error",
                        &format!(
                            "An assistant message with 'tool_calls' must be followed by tool \
                             messages responding to each 'tool_call_id'. The following \
                             tool_call_ids did not have response messages: {ids:?}"
                        ),
                    ));
                }
                if role == Some("assistant") {
                    for call in message["tool_calls"].as_array().into_iter().flatten() {
                        if call["type"] != "function" || !call["function"]["arguments"].is_string()
                        {
                            return Some(openai_error(
                                400,
                                "invalid_request_error",
                                &format!(
                                    "messages.[{index}].tool_calls: each call needs \
                                     type 'function' and string arguments"
                                ),
                            ));
                        }
                        let id = call["id"].as_str().unwrap_or("").to_owned();
                        open_calls.insert(id, index);
                    }
                }
            }
        }
    }
    if !open_calls.is_empty() {
        return Some(openai_error(
            400,
            "invalid_request_error",
            "An assistant message with 'tool_calls' must be followed by tool messages \
             responding to each 'tool_call_id'.",
        ));
    }
    None
}
