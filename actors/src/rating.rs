//! The rating turn's structured output and turning its reply into feedback
//! rows.
//!
//! The turn forces the [`RATING_TOOL`] tool, whose schema names exactly the
//! modules used and ratings 1–5, so a model (or a grammar-constrained local
//! server) answers with an object. A model that answers in text anyway is
//! read tolerantly: whitespace, Markdown fences, prose around the object. Ratings are clamped to 1–5, modules the persona did not use are
//! dropped, and a reply that cannot be read becomes one `__parse` row with
//! the raw text, so operators see the failure instead of silence.

use std::collections::BTreeSet;

use catalog::{FeedbackRow, PARSE_FAILURE_MODULE, Rating};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::llm::{Block, LlmResponse, ToolDef};

/// The longest raw reply kept in a `__parse` row.
const MAX_RAW_LEN: usize = 4000;
/// The tool the rating turn forces.
pub const RATING_TOOL: &str = "submit_ratings";
/// The longest note the schema asks for: a grammar-constrained model cannot
/// ramble past it.
const MAX_NOTE_LEN: u32 = 400;
/// The longest story the schema asks for, about 120 words (the kept words
/// are cut again to the configured memory size). llama.cpp compiles a
/// bounded string into nested grammar rules and gives up past about 1,000
/// characters: measured on llama-cpp-python 0.3.36, a `maxLength` of 1,000
/// compiles, 1,100 crashes the server process.
const MAX_STORY_LEN: u32 = 800;

/// The `submit_ratings` tool for these modules.
pub fn rating_tool(used_modules: &BTreeSet<String>) -> ToolDef {
    let modules: Vec<&str> = used_modules.iter().map(String::as_str).collect();
    ToolDef {
        name: RATING_TOOL.to_owned(),
        description:
            "Submit your rating of each app module you used today, citing the calls it is about."
                .to_owned(),
        input_schema: json!({
            "type": "object",
            "properties": {
                "ratings": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": modules.len(),
                    "items": {
                        "type": "object",
                        "properties": {
                            "module": {"type": "string", "enum": modules},
                            "rating": {"type": "integer", "minimum": Rating::MIN, "maximum": Rating::MAX},
                            "notes": {"type": "string", "maxLength": MAX_NOTE_LEN},
                            "calls": {
                                "type": "array",
                                "description": "the numbers (#) of the calls this rating is about",
                                "items": {"type": "integer", "minimum": 1},
                            },
                        },
                        "required": ["module", "rating", "notes"],
                    },
                },
                "story": {
                    "type": "string",
                    "description": "the story so far, in a few sentences: what happened today and what you want to remember tomorrow",
                    "maxLength": MAX_STORY_LEN,
                },
            },
            // Not required: a small grammar-constrained model that must write
            // a story first can run out of output tokens before the ratings.
            "required": ["ratings"],
        }),
    }
}

/// The story so far the rating reply wrote (the forced tool's `story`, or
/// the same field in a text reply), cut to `max_words` words; `None` when
/// it wrote none.
pub fn story(response: &LlmResponse, max_words: u32) -> Option<String> {
    let from_tool = response.content.iter().find_map(|block| match block {
        Block::ToolUse { name, input, .. } if name == RATING_TOOL => Some(input.clone()),
        _ => None,
    });
    let reply = from_tool.or_else(|| extract_object(&response.text()))?;
    let words: Vec<&str> = reply.get("story")?.as_str()?.split_whitespace().collect();
    if words.is_empty() {
        return None;
    }
    let kept = words.len().min(max_words as usize);
    let mut story = words[..kept].join(" ");
    if kept < words.len() {
        story.push_str(" …");
    }
    Some(story)
}

/// Feedback rows from the rating turn's answer: the `submit_ratings` call's
/// input when the model made one, else its text (or the raw arguments of a
/// call that was not valid JSON) through the tolerant parser.
pub fn parse_rating_response(
    response: &LlmResponse,
    used_modules: &BTreeSet<String>,
    tick_id: &str,
    now: DateTime<Utc>,
) -> Vec<FeedbackRow> {
    for block in &response.content {
        match block {
            Block::ToolUse { name, input, .. } if name == RATING_TOOL => {
                if let Some(ratings) = input.get("ratings").and_then(Value::as_array) {
                    return rows_from(ratings, used_modules, tick_id, now);
                }
                return vec![parse_failure(&input.to_string(), tick_id, now)];
            }
            Block::InvalidToolUse {
                name, arguments, ..
            } if name == RATING_TOOL => {
                return parse_ratings(arguments, used_modules, tick_id, now);
            }
            _ => {}
        }
    }
    parse_ratings(&response.text(), used_modules, tick_id, now)
}

pub fn parse_ratings(
    reply: &str,
    used_modules: &BTreeSet<String>,
    tick_id: &str,
    now: DateTime<Utc>,
) -> Vec<FeedbackRow> {
    let parsed = extract_object(reply)
        .and_then(|object| object.get("ratings").and_then(Value::as_array).cloned());
    let Some(ratings) = parsed else {
        return vec![parse_failure(reply, tick_id, now)];
    };
    rows_from(&ratings, used_modules, tick_id, now)
}

/// Rows from a `ratings` array: clamped, modules not used dropped, one per
/// module.
fn rows_from(
    ratings: &[Value],
    used_modules: &BTreeSet<String>,
    tick_id: &str,
    now: DateTime<Utc>,
) -> Vec<FeedbackRow> {
    let mut seen = BTreeSet::new();
    let mut rows = Vec::new();
    for rating in ratings {
        let Some(module) = rating.get("module").and_then(Value::as_str).map(str::trim) else {
            continue;
        };
        let value = rating.get("rating").and_then(|value| {
            value
                .as_f64()
                .or_else(|| value.as_str()?.trim().parse().ok())
        });
        let Some(value) = value else { continue };
        if !used_modules.contains(module) || !seen.insert(module.to_owned()) {
            continue;
        }
        let notes = rating
            .get("notes")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .trim();
        rows.push(FeedbackRow {
            tick_id: tick_id.to_owned(),
            module: module.to_owned(),
            rating: Some(Rating::clamped(value.round() as i64)),
            notes: with_citations(notes, rating.get("calls")),
            created_at: now,
        });
    }
    rows
}

/// The note, with the numbers of the calls it is about (`calls`) that it
/// does not cite yet appended as `(#2, #5)`, so every stored note names its
/// evidence.
fn with_citations(notes: &str, calls: Option<&Value>) -> String {
    let missing: Vec<String> = calls
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .map(|number| format!("#{number}"))
        .filter(|cited| {
            !notes
                .match_indices(cited.as_str())
                .any(|(at, _)| !notes[at + cited.len()..].starts_with(|c: char| c.is_ascii_digit()))
        })
        .collect();
    match (notes.is_empty(), missing.is_empty()) {
        (_, true) => notes.to_owned(),
        (true, false) => format!("({})", missing.join(", ")),
        (false, false) => format!("{notes} ({})", missing.join(", ")),
    }
}

fn parse_failure(reply: &str, tick_id: &str, now: DateTime<Utc>) -> FeedbackRow {
    FeedbackRow {
        tick_id: tick_id.to_owned(),
        module: PARSE_FAILURE_MODULE.to_owned(),
        rating: None,
        notes: reply.chars().take(MAX_RAW_LEN).collect(),
        created_at: now,
    }
}

/// The first JSON object in the text: the whole text, a fenced block, or
/// the span from the first `{` to the last `}`.
fn extract_object(reply: &str) -> Option<Value> {
    let trimmed = reply.trim();
    let candidates = [
        Some(trimmed),
        fenced(trimmed),
        trimmed
            .find('{')
            .zip(trimmed.rfind('}'))
            .filter(|(start, end)| start < end)
            .map(|(start, end)| &trimmed[start..=end]),
    ];
    candidates.into_iter().flatten().find_map(|text| {
        serde_json::from_str::<Value>(text)
            .ok()
            .filter(Value::is_object)
    })
}

fn fenced(text: &str) -> Option<&str> {
    let start = text.find("```")?;
    let after = &text[start + 3..];
    let body_start = after.find('\n')? + 1;
    let body = &after[body_start..];
    let end = body.find("```")?;
    Some(body[..end].trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(modules: &[&str]) -> BTreeSet<String> {
        modules.iter().map(|module| (*module).to_owned()).collect()
    }

    fn ratings(rows: &[FeedbackRow]) -> Vec<(String, Option<i64>)> {
        rows.iter()
            .map(|row| (row.module.clone(), row.rating.map(Rating::get)))
            .collect()
    }

    #[test]
    fn plain_fenced_and_wrapped_replies_parse() {
        let now = Utc::now();
        let modules = used(&["todo", "notes"]);
        let plain = r#"{"ratings":[{"module":"todo","rating":4,"notes":"gut"}]}"#;
        let fenced = "```json\n{\"ratings\":[{\"module\":\"notes\",\"rating\":2,\"notes\":\"langsam\"}]}\n```";
        let wrapped =
            "Hier meine Bewertung:\n{\"ratings\":[{\"module\":\"todo\",\"rating\":\"5\"}]}\nDanke!";
        assert_eq!(
            ratings(&parse_ratings(plain, &modules, "t", now)),
            vec![("todo".into(), Some(4))]
        );
        assert_eq!(
            ratings(&parse_ratings(fenced, &modules, "t", now)),
            vec![("notes".into(), Some(2))]
        );
        assert_eq!(
            ratings(&parse_ratings(wrapped, &modules, "t", now)),
            vec![("todo".into(), Some(5))]
        );
    }

    #[test]
    fn clamps_drops_unused_and_duplicate_modules() {
        let reply = r#"{"ratings":[{"module":"todo","rating":9},{"module":"notes","rating":-2},{"module":"mood","rating":3},{"module":"todo","rating":1}]}"#;
        let rows = parse_ratings(reply, &used(&["todo", "notes"]), "t", Utc::now());
        assert_eq!(
            ratings(&rows),
            vec![("todo".into(), Some(5)), ("notes".into(), Some(1))]
        );
    }

    #[test]
    fn a_note_names_the_calls_it_is_about() {
        let reply = r##"{"ratings":[{"module":"todo","rating":2,"notes":"#2 schlug fehl","calls":[2,12]},{"module":"notes","rating":5,"notes":"","calls":[1]}]}"##;
        let rows = parse_ratings(reply, &used(&["todo", "notes"]), "t", Utc::now());
        assert_eq!(rows[0].notes, "#2 schlug fehl (#12)");
        assert_eq!(rows[1].notes, "(#1)");
    }

    #[test]
    fn the_story_comes_from_the_tool_or_the_text_cut_to_its_words() {
        let reply = |content| LlmResponse {
            content,
            stop_reason: crate::llm::StopReason::EndTurn,
            usage: catalog::TokenUsage::default(),
        };
        let forced = reply(vec![Block::ToolUse {
            id: "t".into(),
            name: RATING_TOOL.into(),
            input: json!({"ratings": [], "story": "Ich  habe heute\nviel geschafft und bin müde"}),
        }]);
        assert_eq!(story(&forced, 4).as_deref(), Some("Ich habe heute viel …"));
        let text = reply(vec![Block::Text(
            r#"{"ratings":[],"story":"Alles gut."}"#.into(),
        )]);
        assert_eq!(story(&text, 150).as_deref(), Some("Alles gut."));
        assert_eq!(story(&reply(vec![Block::Text("nichts".into())]), 150), None);
    }

    #[test]
    fn garbage_becomes_one_parse_row_with_the_raw_text() {
        let rows = parse_ratings(
            "Ich fand alles super!",
            &used(&["todo"]),
            "tick-1",
            Utc::now(),
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].module, PARSE_FAILURE_MODULE);
        assert_eq!(rows[0].rating, None);
        assert_eq!(rows[0].notes, "Ich fand alles super!");
        assert_eq!(rows[0].id(), "tick-1-__parse");
        let rows = parse_ratings(r#"{"score": 3}"#, &used(&["todo"]), "t", Utc::now());
        assert_eq!(rows[0].module, PARSE_FAILURE_MODULE);
    }
}
