//! A faithful fake of OpenAI's hosted Chat Completions API (and the
//! compatible servers: vLLM, Ollama, llama.cpp, llama-cpp-python), for
//! tests only: the canned answers in its wire shapes (completions, their
//! event streams, `{"error":{…}}` error responses) and the checks a server
//! makes before it looks at the model. The server that serves them,
//! loopback only, bound to `127.0.0.1:0` before serving, recording every
//! request and replying from a queue, is [`super::FakeServer`] with
//! [`super::Dialect::OpenAi`].

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
/// with its input as a JSON string, each `InvalidToolUse` as a tool call
/// with its arguments as written, `ToolResult` blocks left out (a
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
            Block::InvalidToolUse {
                id,
                name,
                arguments,
                ..
            } => Some(json!({
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": arguments},
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

/// The event stream llama-cpp-python 0.3.36 sends when asked to stream the
/// answer `completion` (a whole `chat.completion` body), in the chunk
/// shapes captured from it (`actors/tests/fixtures/llama-cpp-python-0.3.36/`
/// 09 and 10): `data: <chunk>` events separated by a blank line; a first
/// chunk with the role; the content a word at a time; each tool call in two
/// fragments of its arguments, every fragment repeating the call's index,
/// id, type and name as that server does; a chunk with an empty delta and
/// the finish reason; then `data: [DONE]`. When the completion has usage, a
/// usage chunk (`choices: []`) comes before `[DONE]`, as OpenAI sends it
/// for `stream_options.include_usage`; llama-cpp-python sends none.
pub fn openai_event_stream(completion: &Value) -> String {
    let chunk = |delta: Value, finish_reason: &Value| {
        json!({
            "id": completion["id"],
            "object": "chat.completion.chunk",
            "created": completion["created"],
            "model": completion["model"],
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        })
    };
    let choice = &completion["choices"][0];
    let message = &choice["message"];
    let mut chunks = vec![chunk(json!({"role": "assistant"}), &Value::Null)];
    if let Some(text) = message["content"].as_str() {
        for word in text.split_inclusive(' ') {
            chunks.push(chunk(json!({"content": word}), &Value::Null));
        }
    }
    for (index, call) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let arguments = match &call["function"]["arguments"] {
            Value::String(text) => text.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        let middle = arguments
            .char_indices()
            .map(|(at, _)| at)
            .nth(arguments.chars().count() / 2)
            .unwrap_or(arguments.len());
        let (first, second) = arguments.split_at(middle);
        for fragment in [first, second] {
            let mut streamed = json!({
                "index": index,
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": fragment},
            });
            if !call["id"].is_null() {
                streamed["id"] = call["id"].clone();
            }
            chunks.push(chunk(
                json!({"role": null, "content": null, "tool_calls": [streamed]}),
                &Value::Null,
            ));
        }
    }
    chunks.push(chunk(json!({}), &choice["finish_reason"]));
    if !completion["usage"].is_null() {
        chunks.push(json!({
            "id": completion["id"],
            "object": "chat.completion.chunk",
            "created": completion["created"],
            "model": completion["model"],
            "choices": [],
            "usage": completion["usage"],
        }));
    }
    let mut stream: String = chunks
        .iter()
        .map(|chunk| format!("data: {chunk}\n\n"))
        .collect();
    stream.push_str("data: [DONE]\n\n");
    stream
}

/// Whether `body` is a whole completion with a message to stream.
pub(super) fn is_completion(body: &Value) -> bool {
    body["choices"][0]["message"].is_object()
}

/// Whether the request asks to stream an answer with tools and automatic
/// tool choice, which llama-cpp-python cannot do.
pub(super) fn is_streamed_auto_tool_choice(request: &Recorded) -> bool {
    request.json().is_ok_and(|body| {
        body["stream"] == true
            && body["tools"]
                .as_array()
                .is_some_and(|tools| !tools.is_empty())
            && body["tool_choice"] == "auto"
    })
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
    if let Some(refused) = refused_options(&body) {
        return Some(openai_error(400, "invalid_request_error", &refused));
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

/// OpenAI's checks of `tool_choice` and `stream_options`, in its words.
fn refused_options(body: &Value) -> Option<String> {
    if body.get("stream_options").is_some() && body["stream"] != true {
        return Some(
            "The 'stream_options' parameter is only allowed when 'stream' is enabled.".to_owned(),
        );
    }
    let choice = body.get("tool_choice")?;
    let tools: Vec<&str> = body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tool| tool["function"]["name"].as_str())
        .collect();
    if tools.is_empty() {
        return Some(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are \
             specified."
                .to_owned(),
        );
    }
    match choice {
        Value::String(mode) if ["auto", "none", "required"].contains(&mode.as_str()) => None,
        Value::Object(_) if choice["type"] == "function" => {
            let name = choice["function"]["name"].as_str().unwrap_or_default();
            (!tools.contains(&name)).then(|| {
                format!("Invalid value for 'tool_choice': no function named '{name}' was specified in the 'tools' parameter.")
            })
        }
        other => Some(format!("Invalid value for 'tool_choice': {other}.")),
    }
}
