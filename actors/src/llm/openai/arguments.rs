//! Reading a tool call's `function.arguments` leniently: what a model wrote
//! becomes an input object when its meaning is unambiguous, and an
//! [`Block::InvalidToolUse`](crate::llm::Block::InvalidToolUse) with a
//! reason the model can act on when it is not.
//!
//! Repaired: arguments sent as an object (Ollama, llama.cpp) instead of a
//! JSON string; raw control characters inside JSON strings (small models
//! write real newlines into string values, which JSON forbids); an object
//! encoded twice (a JSON string holding the object's text). Not repaired:
//! anything that needs a guess, such as a missing brace or a trailing comma.

use serde_json::{Map, Value};

/// A tool call's arguments, read.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Arguments {
    /// A JSON object, ready to pass to the tool.
    Usable(Map<String, Value>),
    /// Not a JSON object, even read leniently.
    Invalid {
        /// The arguments exactly as the model wrote them.
        raw: String,
        /// Why, addressed to the model.
        error: String,
    },
}

/// Reads `function.arguments` as the server sent it: absent, null, an empty
/// string, a JSON string or an object.
pub(super) fn read_arguments(arguments: Option<&Value>) -> Arguments {
    match arguments {
        // A tool without parameters is called with nothing at all.
        None | Some(Value::Null) => Arguments::Usable(Map::new()),
        Some(Value::Object(object)) => Arguments::Usable(object.clone()),
        Some(Value::String(text)) if text.trim().is_empty() => Arguments::Usable(Map::new()),
        Some(Value::String(text)) => read_text(text),
        Some(other) => Arguments::Invalid {
            raw: other.to_string(),
            error: not_an_object(other),
        },
    }
}

fn read_text(text: &str) -> Arguments {
    let parsed = serde_json::from_str::<Value>(text).or_else(|error| {
        match escape_control_characters_in_strings(text) {
            Some(repaired) => serde_json::from_str::<Value>(&repaired).map_err(|_| error),
            None => Err(error),
        }
    });
    let invalid = |error: String| Arguments::Invalid {
        raw: text.to_owned(),
        error,
    };
    match parsed {
        Ok(Value::Object(object)) => Arguments::Usable(object),
        // An object encoded twice: its text as a JSON string.
        Ok(Value::String(inner)) => match serde_json::from_str::<Value>(&inner) {
            Ok(Value::Object(object)) => Arguments::Usable(object),
            _ => invalid(not_an_object(&Value::String(inner))),
        },
        Ok(other) => invalid(not_an_object(&other)),
        Err(error) => invalid(format!("your arguments were not valid JSON: {error}")),
    }
}

fn not_an_object(value: &Value) -> String {
    let kind = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("your arguments were {kind}, not a JSON object of the tool's parameters")
}

/// `text` with every raw control character (U+0000 to U+001F) inside a JSON
/// string written as its escape, or `None` when there is none. Characters
/// outside strings are whitespace or errors the parser will report, and a
/// control character right after a backslash is left alone: whether the
/// backslash was meant to escape it is a guess.
fn escape_control_characters_in_strings(text: &str) -> Option<String> {
    let mut repaired = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut after_backslash = false;
    let mut changed = false;
    for c in text.chars() {
        if !in_string {
            in_string = c == '"';
            repaired.push(c);
            continue;
        }
        if after_backslash {
            after_backslash = false;
            repaired.push(c);
            continue;
        }
        match c {
            '\\' => {
                after_backslash = true;
                repaired.push(c);
            }
            '"' => {
                in_string = false;
                repaired.push(c);
            }
            '\u{0}'..='\u{1f}' => {
                changed = true;
                match c {
                    '\n' => repaired.push_str("\\n"),
                    '\r' => repaired.push_str("\\r"),
                    '\t' => repaired.push_str("\\t"),
                    _ => repaired.push_str(&format!("\\u{:04x}", u32::from(c))),
                }
            }
            _ => repaired.push(c),
        }
    }
    changed.then_some(repaired)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn usable(value: Value) -> Arguments {
        match value {
            Value::Object(object) => Arguments::Usable(object),
            other => panic!("not an object: {other}"),
        }
    }

    #[test]
    fn objects_strings_and_nothing_read_as_objects() {
        assert_eq!(
            read_arguments(Some(&json!({"q": 1}))),
            usable(json!({"q": 1}))
        );
        assert_eq!(
            read_arguments(Some(&json!("{\"q\": \"a&#34;b\"}"))),
            usable(json!({"q": "a&#34;b"}))
        );
        for nothing in [None, Some(&Value::Null), Some(&json!("  "))] {
            assert_eq!(read_arguments(nothing), usable(json!({})));
        }
        assert_eq!(
            read_arguments(Some(&json!("\"{\\\"q\\\": 2}\""))),
            usable(json!({"q": 2}))
        );
    }

    #[test]
    fn raw_control_characters_inside_strings_are_escaped() {
        let text = "{\"memory\": \"line one\nline\ttwo\u{1}\", \"n\": 1}";
        assert_eq!(
            read_arguments(Some(&json!(text))),
            usable(json!({"memory": "line one\nline\ttwo\u{1}", "n": 1}))
        );
        // Whitespace between tokens is not inside a string and stays.
        assert_eq!(
            read_arguments(Some(&json!("{\n\"a\": \"x\\\"\n\"}"))),
            usable(json!({"a": "x\"\n"}))
        );
    }

    #[test]
    fn what_cannot_be_read_unambiguously_is_invalid_with_a_reason() {
        let cases = [
            (
                json!("{\"q\": \"unterminated"),
                "your arguments were not valid JSON: ",
            ),
            (json!("{\"q\": 1,}"), "your arguments were not valid JSON: "),
            (
                json!("[1, 2]"),
                "your arguments were an array, not a JSON object",
            ),
            (
                json!("\"just text\""),
                "your arguments were a string, not a JSON object",
            ),
            (json!(42), "your arguments were a number, not a JSON object"),
        ];
        for (arguments, reason) in cases {
            let Arguments::Invalid { raw, error } = read_arguments(Some(&arguments)) else {
                panic!("{arguments} read as usable");
            };
            assert!(error.starts_with(reason), "{error}");
            let expected_raw = match &arguments {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            assert_eq!(raw, expected_raw);
        }
    }
}
