//! Pseudo token counts for the simulator's [`TokenUsage`]: there is no
//! tokenizer, only characters counted in the request and the response.
//!
//! [`TokenUsage`]: catalog::TokenUsage

use serde_json::Value;

use crate::llm::{Block, LlmRequest};

/// About four characters per token, the usual rule of thumb; enough for
/// accounting code to have numbers.
pub(super) fn pseudo_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}

pub(super) fn request_chars(request: &LlmRequest) -> usize {
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
pub(super) fn json_chars(value: &Value) -> usize {
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

pub(super) fn block_chars(block: &Block) -> usize {
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
