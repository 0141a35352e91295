//! The transcript of a tick: what the persona was told, what the model
//! answered, every tool call with its input and the tool's answer, and the
//! rating turn, item by item in the order they happened. The runner records
//! it, cuts and redacts it, and hands it over with the tick's end
//! ([`TickFinish::transcript`](crate::TickFinish::transcript)); the app stores
//! it beside the tick row and gives it back with the tick
//! ([`StoredTick`](crate::StoredTick)).

use serde::{Deserialize, Serialize};

use crate::{ActionResult, FailedBy, TokenUsage};

/// The part of the tick an item belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The main turn: the simulated day.
    Day,
    /// The rating turn.
    Rating,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Day => "day",
            Phase::Rating => "rating",
        }
    }
}

/// One item of a transcript; `kind` on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
// Each variant names its own field case (not `rename_all_fields`): the
// OpenAPI schema derived from this enum reads it there.
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TranscriptItem {
    /// A request that opens a phase: the persona's system prompt and the
    /// prompt of the day or of the rating turn.
    #[serde(rename_all = "camelCase")]
    Prompt {
        phase: Phase,
        system: String,
        text: String,
    },
    /// One answer of the model: its text (for the rating turn, the ratings
    /// it submitted), why it ended and the tokens it took.
    #[serde(rename_all = "camelCase")]
    Answer {
        phase: Phase,
        /// The LLM round, from 1; the rating answer comes after the last.
        turn: u32,
        text: String,
        finish_reason: String,
        tokens: TokenUsage,
    },
    /// One tool call and the tool's answer (or why it was not made).
    #[serde(rename_all = "camelCase")]
    Call {
        tool_use_id: String,
        tool: String,
        /// The arguments as the model sent them.
        input: String,
        result: ActionResult,
        #[serde(default)]
        failed_by: Option<FailedBy>,
        /// The tool's answer, or the error the model was given.
        output: String,
        latency_ms: u64,
    },
}

impl TranscriptItem {
    /// Every text the item carries, for cutting and redacting in one place.
    pub fn texts_mut(&mut self) -> Vec<&mut String> {
        match self {
            TranscriptItem::Prompt { system, text, .. } => vec![system, text],
            TranscriptItem::Answer { text, .. } => vec![text],
            TranscriptItem::Call { input, output, .. } => vec![input, output],
        }
    }
}

/// Cuts `text` to at most `max_chars` characters, saying how many were left
/// out, so a cut text never passes for the whole one.
pub fn cut(text: &mut String, max_chars: usize) {
    let Some((byte, _)) = text.char_indices().nth(max_chars) else {
        return;
    };
    let left_out = text[byte..].chars().count();
    text.truncate(byte);
    text.push_str(&format!(" … [{left_out} more characters cut]"));
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn items_are_tagged_by_kind_in_camel_case() {
        let item = TranscriptItem::Call {
            tool_use_id: "toolu_1".into(),
            tool: "todo.create".into(),
            input: "{}".into(),
            result: ActionResult::Error,
            failed_by: Some(FailedBy::Agent),
            output: "title: required".into(),
            latency_ms: 3,
        };
        let wire = serde_json::to_value(&item).unwrap();
        assert_eq!(
            wire,
            json!({ "kind": "call", "toolUseId": "toolu_1", "tool": "todo.create", "input": "{}",
                    "result": "error", "failedBy": "agent", "output": "title: required", "latencyMs": 3 })
        );
        assert_eq!(
            serde_json::from_value::<TranscriptItem>(wire).unwrap(),
            item
        );
    }

    #[test]
    fn cutting_counts_characters_not_bytes_and_says_so() {
        let mut text = "äöü".repeat(4);
        cut(&mut text, 5);
        assert_eq!(text, "äöüäö … [7 more characters cut]");
        let mut short = "kurz".to_owned();
        cut(&mut short, 4);
        assert_eq!(short, "kurz");
    }
}
