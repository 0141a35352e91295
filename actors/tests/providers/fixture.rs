//! Reading the wire captures in `tests/fixtures/llama-cpp-python-0.3.36/`:
//! the answer a real server gave, to serve again from a fake, and the
//! request that got it, read back into an `LlmRequest` so that today's
//! provider sends it again.

use std::sync::Arc;

use actors::llm::{Block, LlmRequest, Message, Role, ToolChoice, ToolDef};
use actors::testing::Canned;
use serde_json::Value;

/// One capture file.
pub struct Capture {
    pub file: Value,
}

impl Capture {
    /// The capture whose file name starts with `number` (`"03"`).
    pub fn load(number: &str) -> Capture {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/llama-cpp-python-0.3.36"
        );
        let path = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .find(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with(&format!("{number}-")))
            })
            .unwrap_or_else(|| panic!("no capture {number} in {dir}"));
        let text = std::fs::read_to_string(&path).unwrap();
        Capture {
            file: serde_json::from_str(&text).unwrap(),
        }
    }

    /// The server's answer as it was sent: the captured status, content
    /// type and body (byte for byte where the capture kept the raw body,
    /// else the captured JSON).
    pub fn answer(&self) -> Canned {
        let status = self.file["status"].as_u64().unwrap() as u16;
        let content_type = self.file["response_headers"]["content-type"]
            .as_str()
            .unwrap();
        let body = match self.file["raw_body"].as_str() {
            Some(raw) => raw.to_owned(),
            None => self.file["response"].to_string(),
        };
        Canned::raw(status, content_type, &body)
    }

    /// The request as the runner sent it, read back into our types.
    pub fn request(&self) -> LlmRequest {
        let wire = &self.file["request"];
        let mut system = String::new();
        let mut messages: Vec<Message> = Vec::new();
        for message in wire["messages"].as_array().unwrap() {
            let text = message["content"].as_str().unwrap_or_default().to_owned();
            match message["role"].as_str().unwrap() {
                "system" => system = text,
                "user" => messages.push(Message::user_text(text)),
                "assistant" => {
                    let mut content = Vec::new();
                    if !text.is_empty() {
                        content.push(Block::Text(text));
                    }
                    for call in message["tool_calls"].as_array().into_iter().flatten() {
                        let arguments = call["function"]["arguments"].as_str().unwrap();
                        content.push(Block::ToolUse {
                            id: call["id"].as_str().unwrap().to_owned(),
                            name: call["function"]["name"].as_str().unwrap().to_owned(),
                            input: serde_json::from_str(arguments).unwrap(),
                        });
                    }
                    messages.push(Message {
                        role: Role::Assistant,
                        content,
                    });
                }
                "tool" => {
                    let (content, is_error) = match text.strip_prefix("ERROR: ") {
                        Some(error) => (error.to_owned(), true),
                        None => (text, false),
                    };
                    let result = Block::ToolResult {
                        tool_use_id: message["tool_call_id"].as_str().unwrap().to_owned(),
                        content,
                        is_error,
                    };
                    // Results of one round share a user message.
                    match messages.last_mut() {
                        Some(last)
                            if last.role == Role::User
                                && matches!(
                                    last.content.last(),
                                    Some(Block::ToolResult { .. })
                                ) =>
                        {
                            last.content.push(result)
                        }
                        _ => messages.push(Message {
                            role: Role::User,
                            content: vec![result],
                        }),
                    }
                }
                other => panic!("unexpected role {other}"),
            }
        }
        let tools: Vec<ToolDef> = wire["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|tool| ToolDef {
                name: tool["function"]["name"].as_str().unwrap().to_owned(),
                description: tool["function"]["description"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                input_schema: tool["function"]["parameters"].clone(),
            })
            .collect();
        let tool_choice = match &wire["tool_choice"] {
            Value::Object(choice) => {
                ToolChoice::Tool(choice["function"]["name"].as_str().unwrap().to_owned())
            }
            _ => ToolChoice::Auto,
        };
        LlmRequest {
            system,
            messages,
            tools: Arc::from(tools),
            tool_choice,
            max_tokens: wire["max_tokens"].as_u64().unwrap() as u32,
        }
    }

    /// The captured request's JSON, for comparing with what we send now.
    pub fn wire_request(&self) -> &Value {
        &self.file["request"]
    }
}
