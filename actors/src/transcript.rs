//! Makes a tick's transcript fit to keep: every text is redacted (bearer
//! tokens, JWTs, API keys, values of password- and secret-named fields), then
//! cut to the configured number of characters, before it goes into the
//! tick's record. Redacting first means a cut can never leave half a secret
//! that the patterns no longer recognise.
//!
//! The patterns catch what is shaped like a secret; the persona's own
//! password and session token never enter the conversation (the model sees
//! only prompts and tool answers), so there is no exact secret to look for.

use std::borrow::Cow;
use std::sync::LazyLock;

use catalog::transcript::{TranscriptItem, cut};
use regex::Regex;

use crate::llm::{Block, LlmResponse};

/// What a redacted secret is replaced with.
pub const REDACTED: &str = "[redacted]";
/// Each pattern and what its match becomes; `$keep` keeps the part that
/// says what the secret was. Replacements spell out [`REDACTED`].
static PATTERNS: LazyLock<Vec<(Regex, &str)>> = LazyLock::new(|| {
    [
        // `Authorization: Bearer …` and bearer tokens in prose.
        (
            r"(?i)(?P<keep>\bbearer\s+)[A-Za-z0-9\-._~+/]{8,}=*",
            "${keep}[redacted]",
        ),
        // JSON Web Tokens: three base64url parts, the first a JSON header.
        (
            r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
            "[redacted]",
        ),
        // Provider API keys (Anthropic, OpenAI), GitHub and AWS tokens.
        (
            r"\b(?:sk-(?:ant-)?[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|AKIA[0-9A-Z]{16})\b",
            "[redacted]",
        ),
        // `"password": "…"` and the like, in JSON.
        (
            r#"(?i)(?P<keep>"(?:password|passwort|secret|client_secret|api_?key|access_token|refresh_token|id_token|authorization|service_key)"\s*:\s*)"(?:[^"\\]|\\.)*""#,
            r#"${keep}"[redacted]""#,
        ),
        // `password=…` and `api_key: …` outside JSON.
        (
            r"(?i)(?P<keep>\b(?:password|passwort|secret|api_?key|service_key)\s*[:=]\s*)[^\s,;&]+",
            "${keep}[redacted]",
        ),
    ]
    .into_iter()
    // The patterns are constants; one that did not compile would be left
    // out, which the test counting them catches.
    .filter_map(|(pattern, replacement)| Some((Regex::new(pattern).ok()?, replacement)))
    .collect()
});

/// `text` with every secret-shaped part replaced by [`REDACTED`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(text);
    for (pattern, replacement) in PATTERNS.iter() {
        if let Cow::Owned(changed) = pattern.replace_all(&text, *replacement) {
            text = Cow::Owned(changed);
        }
    }
    text
}

/// The item as it may be kept: each text redacted, then cut to `max_chars`.
pub fn keepable(mut item: TranscriptItem, max_chars: usize) -> TranscriptItem {
    for text in item.texts_mut() {
        if let Cow::Owned(redacted) = redact(text) {
            *text = redacted;
        }
        cut(text, max_chars);
    }
    item
}

/// An answer as the transcript shows it: its text, and each tool call in it
/// as `name {arguments}` (for the rating turn, the ratings it submitted).
pub fn answer_text(response: &LlmResponse) -> String {
    response
        .content
        .iter()
        .map(|block| match block {
            Block::Text(text) => text.clone(),
            Block::ToolUse { name, input, .. } => format!("{name} {input}"),
            Block::InvalidToolUse {
                name, arguments, ..
            } => format!("{name} {arguments}"),
            Block::ToolResult { content, .. } => content.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(PATTERNS.len(), 5);
    }

    #[test]
    fn secret_shaped_text_is_redacted_and_the_rest_kept() {
        let jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1MSJ9.c2lnbmF0dXJlX2J5dGVz";
        let cases = [
            (
                format!("Authorization: Bearer {jwt}"),
                "Authorization: Bearer [redacted]".to_owned(),
            ),
            (
                format!("token {jwt} end"),
                "token [redacted] end".to_owned(),
            ),
            (
                "key sk-ant-api03-abcdefghijklmnopqrstuv and more".to_owned(),
                "key [redacted] and more".to_owned(),
            ),
            (
                r#"{"email":"anna@mana.test","password":"geheim \"123\"","title":"Einkaufen"}"#
                    .to_owned(),
                r#"{"email":"anna@mana.test","password":"[redacted]","title":"Einkaufen"}"#
                    .to_owned(),
            ),
            (
                "login with password=hunter22 then".to_owned(),
                "login with password=[redacted] then".to_owned(),
            ),
            (
                "Milch kaufen, 3 Tokens übrig: input_tokens: 5".to_owned(),
                "Milch kaufen, 3 Tokens übrig: input_tokens: 5".to_owned(),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(redact(&text), expected, "{text}");
        }
    }

    #[test]
    fn an_item_is_redacted_before_it_is_cut() {
        let item = TranscriptItem::Prompt {
            phase: catalog::transcript::Phase::Day,
            system: "Du bist Anna.".into(),
            text: format!("Bearer {} und viel mehr Text", "a".repeat(40)),
        };
        let TranscriptItem::Prompt { system, text, .. } = keepable(item, 20) else {
            unreachable!("keepable keeps the kind");
        };
        assert_eq!(system, "Du bist Anna.");
        assert_eq!(text, "Bearer [redacted] un … [16 more characters cut]");
    }
}
