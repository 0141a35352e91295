//! Fitting a conversation into the model's context window.
//!
//! A local model has a small window (8,192 tokens is common) and a tool loop
//! grows by every tool result. Before each request the tick asks
//! [`ContextBudget::fit`] how many output tokens are left once the prompt is
//! in; when too few are, the oldest tool results are shortened (the newest
//! round's results stay whole, since the model is acting on them) until the
//! answer fits, or the budget says the day cannot go on.
//!
//! Prompt size is estimated from characters, calibrated by what the server
//! reported: after each answer the ratio of reported prompt tokens to the
//! characters sent is remembered, so the estimate follows the model's
//! tokenizer. Before the first answer a conservative ratio is used. This
//! never replaces the server's own check: an overflow it still reports ends
//! the main turn with that reason.

use crate::llm::{Block, LlmRequest};

/// Characters per token assumed before the server has reported any usage:
/// on the low side (JSON schemas and German text run at 3–4), so the first
/// request overestimates rather than overflows.
const FALLBACK_CHARS_PER_TOKEN: f64 = 2.5;
/// Tokens kept free on top of the estimate: chat templates add role markers
/// and tool framing the character count does not see.
const SAFETY_MARGIN_TOKENS: u32 = 256;
/// Fewer output tokens than this is not worth a request: no tool call or
/// summary fits.
pub const MIN_ANSWER_TOKENS: u32 = 256;
/// What a shortened tool result keeps of its beginning.
const KEPT_CHARS: usize = 160;

/// The window and what has been learnt about the tokenizer.
#[derive(Debug, Clone)]
pub struct ContextBudget {
    /// The model's window, prompt and output together; `None` = unknown,
    /// and then nothing is trimmed or sized.
    window: Option<u32>,
    chars_per_token: f64,
}

/// What [`ContextBudget::fit`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// Send with this `max_tokens` (already applied to the request);
    /// `shortened` tool results were cut to make room.
    Fits { max_tokens: u32, shortened: usize },
    /// Even with every older tool result shortened, fewer than
    /// [`MIN_ANSWER_TOKENS`] would be left for the answer.
    Full { estimated_prompt: u32, window: u32 },
}

impl ContextBudget {
    pub fn new(window: Option<u32>) -> ContextBudget {
        ContextBudget {
            window,
            chars_per_token: FALLBACK_CHARS_PER_TOKEN,
        }
    }

    pub fn window(&self) -> Option<u32> {
        self.window
    }

    /// Learns from an answer: the server counted `prompt_tokens` for a
    /// request of `prompt_chars` characters.
    pub fn observe(&mut self, prompt_chars: usize, prompt_tokens: u64) {
        if prompt_tokens > 0 && prompt_chars > 0 {
            self.chars_per_token = prompt_chars as f64 / prompt_tokens as f64;
        }
    }

    /// Estimated prompt tokens of `request`.
    pub fn estimate(&self, request: &LlmRequest) -> u32 {
        (request_chars(request) as f64 / self.chars_per_token).ceil() as u32
    }

    /// Sizes `request.max_tokens` to what is left of the window (never above
    /// `cap`), shortening the oldest tool results when too little is.
    pub fn fit(&self, request: &mut LlmRequest, cap: u32) -> Fit {
        let Some(window) = self.window else {
            request.max_tokens = cap;
            return Fit::Fits {
                max_tokens: cap,
                shortened: 0,
            };
        };
        let mut shortened = 0;
        loop {
            let estimated_prompt = self.estimate(request);
            let left = window.saturating_sub(estimated_prompt.saturating_add(SAFETY_MARGIN_TOKENS));
            if left >= MIN_ANSWER_TOKENS {
                request.max_tokens = left.min(cap);
                return Fit::Fits {
                    max_tokens: request.max_tokens,
                    shortened,
                };
            }
            if !shorten_oldest_tool_result(request) {
                return Fit::Full {
                    estimated_prompt,
                    window,
                };
            }
            shortened += 1;
        }
    }
}

/// Characters of everything a request sends: system prompt, messages and
/// tool definitions.
pub fn request_chars(request: &LlmRequest) -> usize {
    let tools: usize = request
        .tools
        .iter()
        .map(|tool| tool.name.len() + tool.description.len() + tool.input_schema.to_string().len())
        .sum();
    let messages: usize = request
        .messages
        .iter()
        .flat_map(|message| &message.content)
        .map(block_chars)
        .sum();
    request.system.len() + tools + messages
}

fn block_chars(block: &Block) -> usize {
    match block {
        Block::Text(text) => text.len(),
        Block::ToolUse { name, input, .. } => name.len() + input.to_string().len(),
        Block::InvalidToolUse {
            name, arguments, ..
        } => name.len() + arguments.len(),
        Block::ToolResult { content, .. } => content.len(),
    }
}

/// Cuts the oldest tool result that is still long, leaving the last
/// message's results whole. Returns whether there was one.
fn shorten_oldest_tool_result(request: &mut LlmRequest) -> bool {
    let Some((_, older)) = request.messages.split_last_mut() else {
        return false;
    };
    for message in older {
        for block in &mut message.content {
            if let Block::ToolResult { content, .. } = block
                && content.chars().count() > KEPT_CHARS * 2
            {
                let total = content.chars().count();
                let kept: String = content.chars().take(KEPT_CHARS).collect();
                *content = format!(
                    "{kept}… [older result shortened to fit the context window: {} of {total} characters left out]",
                    total - KEPT_CHARS
                );
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::llm::{Message, Role, ToolChoice};

    fn request_with_results(results: &[usize]) -> LlmRequest {
        let mut messages = vec![Message::user_text("Tag")];
        for (index, size) in results.iter().enumerate() {
            messages.push(Message {
                role: Role::Assistant,
                content: vec![Block::ToolUse {
                    id: format!("call_{index}"),
                    name: "todo_list".into(),
                    input: serde_json::json!({}),
                }],
            });
            messages.push(Message {
                role: Role::User,
                content: vec![Block::ToolResult {
                    tool_use_id: format!("call_{index}"),
                    content: "x".repeat(*size),
                    is_error: false,
                }],
            });
        }
        LlmRequest {
            system: "persona".into(),
            messages,
            tools: Arc::from([]),
            tool_choice: ToolChoice::Auto,
            max_tokens: 0,
        }
    }

    #[test]
    fn an_unknown_window_sends_the_cap() {
        let mut request = request_with_results(&[100_000]);
        let fit = ContextBudget::new(None).fit(&mut request, 2048);
        assert_eq!(
            fit,
            Fit::Fits {
                max_tokens: 2048,
                shortened: 0
            }
        );
        assert_eq!(request.max_tokens, 2048);
    }

    #[test]
    fn max_tokens_shrinks_to_what_the_window_leaves() {
        let mut budget = ContextBudget::new(Some(8192));
        // The server said 1 token per 4 characters.
        budget.observe(4000, 1000);
        let mut request = request_with_results(&[24_000]);
        let Fit::Fits { max_tokens, .. } = budget.fit(&mut request, 2048) else {
            panic!("should fit")
        };
        let prompt = budget.estimate(&request);
        assert!(prompt > 6000, "{prompt}");
        assert!((MIN_ANSWER_TOKENS..2048).contains(&max_tokens));
        assert!(prompt + max_tokens + SAFETY_MARGIN_TOKENS <= 8192);
    }

    #[test]
    fn old_results_are_shortened_oldest_first_and_the_newest_kept() {
        let mut budget = ContextBudget::new(Some(6000));
        budget.observe(4000, 1000);
        let mut request = request_with_results(&[20_000, 20_000, 5_000]);
        let Fit::Fits { shortened, .. } = budget.fit(&mut request, 2048) else {
            panic!("should fit after shortening")
        };
        assert_eq!(shortened, 2);
        let sizes: Vec<usize> = request
            .messages
            .iter()
            .flat_map(|message| &message.content)
            .filter_map(|block| match block {
                Block::ToolResult { content, .. } => Some(content.len()),
                _ => None,
            })
            .collect();
        assert!(sizes[0] < 400 && sizes[1] < 400, "{sizes:?}");
        assert_eq!(sizes[2], 5_000, "the newest round stays whole");
    }

    #[test]
    fn a_window_too_small_for_the_newest_round_is_full() {
        let mut budget = ContextBudget::new(Some(2048));
        budget.observe(4000, 1000);
        let mut request = request_with_results(&[40_000]);
        assert!(matches!(
            budget.fit(&mut request, 2048),
            Fit::Full { window: 2048, .. }
        ));
    }
}
