//! What we send an OpenAI-compatible server: a conversation as a Chat
//! Completions request body (streaming fields aside, which the provider
//! adds).

use serde_json::{Value, json};

use crate::llm::{Block, LlmRequest, Role, ToolChoice};

/// The JSON body of a Chat Completions request, without the streaming
/// fields.
pub(super) fn request_body(model: &str, request: &LlmRequest) -> Value {
    let mut body = serde_json::Map::new();
    body.insert("model".to_owned(), json!(model));
    // `max_tokens`, not OpenAI's newer `max_completion_tokens`: it is the one
    // vLLM, Ollama and llama.cpp all read.
    body.insert("max_tokens".to_owned(), json!(request.max_tokens));
    body.insert("messages".to_owned(), Value::Array(wire_messages(request)));
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                json!({
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.input_schema,
                    },
                })
            })
            .collect();
        body.insert("tools".to_owned(), Value::Array(tools));
        // IMPORTANT: always sent. Without it llama-cpp-python's
        // chatml-function-calling takes "none" and leaves the tools out of
        // the prompt (fixture 01).
        let choice = match &request.tool_choice {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
        };
        body.insert("tool_choice".to_owned(), choice);
    }
    Value::Object(body)
}

/// Our conversation in wire form: the system prompt as the first message,
/// one `tool` message per tool result right after the assistant message that
/// called the tools (the format has no other place for them), then any user
/// text.
fn wire_messages(request: &LlmRequest) -> Vec<Value> {
    let mut wire = Vec::new();
    if !request.system.is_empty() {
        wire.push(json!({"role": "system", "content": request.system}));
    }
    for message in &request.messages {
        let texts: Vec<&str> = message
            .content
            .iter()
            .filter_map(|block| match block {
                Block::Text(text) if !text.is_empty() => Some(text.as_str()),
                _ => None,
            })
            .collect();
        match message.role {
            Role::Assistant => {
                let tool_calls: Vec<Value> = message
                    .content
                    .iter()
                    .filter_map(|block| match block {
                        Block::ToolUse { id, name, input } => {
                            Some(wire_call(id, name, input.to_string()))
                        }
                        // Echoed as written: the model sees its own mistake
                        // next to the error its tool result names.
                        Block::InvalidToolUse {
                            id,
                            name,
                            arguments,
                            ..
                        } => Some(wire_call(id, name, arguments.clone())),
                        _ => None,
                    })
                    .collect();
                // IMPORTANT: "" and never null, even beside tool calls:
                // llama-cpp-python refuses null with a 500 (fixture 03).
                let mut assistant = json!({"role": "assistant", "content": texts.join("\n")});
                // Some servers reject an empty `tool_calls` array.
                if !tool_calls.is_empty() {
                    assistant["tool_calls"] = Value::Array(tool_calls);
                }
                wire.push(assistant);
            }
            Role::User => {
                for block in &message.content {
                    if let Block::ToolResult {
                        tool_use_id,
                        content,
                        is_error,
                    } = block
                    {
                        // The format has no error flag, so the model learns
                        // of the failure from the text.
                        let content = if *is_error {
                            format!("ERROR: {content}")
                        } else {
                            content.clone()
                        };
                        wire.push(json!({
                            "role": "tool",
                            "tool_call_id": tool_use_id,
                            "content": content,
                        }));
                    }
                }
                if !texts.is_empty() {
                    wire.push(json!({"role": "user", "content": texts.join("\n")}));
                }
            }
        }
    }
    wire
}

fn wire_call(id: &str, name: &str, arguments: String) -> Value {
    json!({
        "id": id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    })
}
