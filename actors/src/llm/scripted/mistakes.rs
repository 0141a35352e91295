//! The deliberate mistakes of the simulated users, so the app's error
//! messages get exercised: an empty title, a date written the way people
//! say it, a German field name, a German enum value, an id that names
//! nothing.
//!
//! A mistake is applied to arguments that were valid; which one depends on
//! what the tool's schema offers (no enum, no enum mistake).

use serde_json::{Map, Value};

use super::args::{self, effective, enum_values, non_null, primary_type};
use super::rng::Rng;
use super::words;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mistake {
    /// `""` for the title, name or content.
    EmptyTitle,
    /// `morgen` or `31.12.` where a date or instant belongs.
    BadDate,
    /// A German field name: `titel` instead of `title`, `suche` for
    /// `query`; `titel` added where nothing can be renamed.
    UnknownField,
    /// `hoch` for `high`, `täglich` for `daily`.
    WrongEnum,
    /// A well-formed UUID that names no record.
    MadeUpId,
}

/// Fields a user types text into first; emptying one is the classic slip.
const TEXT_FIELDS: &[&str] = &["title", "name", "content"];

/// How people write a date when they do not read the hint.
const HUMAN_DATES: &[&str] = &["morgen", "31.12."];

/// Spoils `input` (an object of valid arguments for `schema`) with one
/// mistake the schema allows, and says which.
pub(super) fn spoil(schema: &Value, input: &mut Value, rng: &mut Rng) -> Mistake {
    let candidates = Candidates::of(schema);
    let mut options = vec![Mistake::UnknownField];
    if !candidates.text.is_empty() {
        options.push(Mistake::EmptyTitle);
    }
    if !candidates.dates.is_empty() {
        options.push(Mistake::BadDate);
    }
    if !candidates.enums.is_empty() {
        options.push(Mistake::WrongEnum);
    }
    if !candidates.ids.is_empty() {
        options.push(Mistake::MadeUpId);
    }
    let mistake = rng.pick(&options).copied().unwrap_or(Mistake::UnknownField);
    let Some(object) = input.as_object_mut() else {
        return mistake;
    };
    match mistake {
        Mistake::EmptyTitle => {
            // The first of title, name, content: a note's content may be
            // empty, its title may not.
            let field = TEXT_FIELDS
                .iter()
                .find(|field| candidates.text.iter().any(|name| name == *field));
            if let Some(field) = field {
                object.insert((*field).to_owned(), Value::String(String::new()));
            }
        }
        Mistake::BadDate => {
            if let Some(field) = rng.pick(&candidates.dates) {
                let text = rng.pick(HUMAN_DATES).copied().unwrap_or("morgen");
                object.insert(field.clone(), Value::String(text.to_owned()));
            }
        }
        Mistake::WrongEnum => {
            if let Some((field, allowed)) = rng.pick(&candidates.enums) {
                object.insert(field.clone(), wrong_value(allowed));
            }
        }
        Mistake::MadeUpId => replace_ids(object, &candidates.ids, rng),
        Mistake::UnknownField => germanise_field(object),
    }
    mistake
}

/// Replaces the ids the tool requires with made-up ones; `false` when it
/// requires none (then nothing changed).
pub(super) fn make_up_id(schema: &Value, input: &mut Value, rng: &mut Rng) -> bool {
    let ids = Candidates::of(schema).ids;
    match input.as_object_mut() {
        Some(object) if !ids.is_empty() => {
            replace_ids(object, &ids, rng);
            true
        }
        _ => false,
    }
}

fn replace_ids(object: &mut Map<String, Value>, fields: &[String], rng: &mut Rng) {
    for field in fields {
        object.insert(field.clone(), Value::String(args::fresh_uuid(rng)));
    }
}

/// Renames a field to its German name, `title` first; a tool with no
/// such field gets a `titel` it does not know.
fn germanise_field(object: &mut Map<String, Value>) {
    let field = ["title"]
        .into_iter()
        .chain(object.keys().map(String::as_str))
        .find(|field| object.contains_key(*field) && words::german_field(field).is_some())
        .map(str::to_owned);
    let renamed = field.and_then(|field| {
        let german = words::german_field(&field)?;
        let value = object.remove(&field)?;
        object.insert(german.to_owned(), value);
        Some(())
    });
    if renamed.is_none() {
        object.insert(
            "titel".to_owned(),
            Value::String("Neuer Eintrag".to_owned()),
        );
    }
}

/// A German spelling of one of the allowed values that is not allowed.
fn wrong_value(allowed: &[Value]) -> Value {
    let first = allowed.first().and_then(Value::as_str).unwrap_or_default();
    let wrong = Value::String(words::german_for(first).to_owned());
    if allowed.contains(&wrong) {
        Value::String("dringend!".to_owned())
    } else {
        wrong
    }
}

/// The top-level properties each kind of mistake can target.
struct Candidates {
    text: Vec<String>,
    dates: Vec<String>,
    enums: Vec<(String, Vec<Value>)>,
    ids: Vec<String>,
}

impl Candidates {
    fn of(schema: &Value) -> Candidates {
        let top = effective(schema, schema, 0);
        let mut candidates = Candidates {
            text: Vec::new(),
            dates: Vec::new(),
            enums: Vec::new(),
            ids: args::required_id_fields(schema),
        };
        let Some(properties) = top.get("properties").and_then(Value::as_object) else {
            return candidates;
        };
        for (name, property) in properties {
            if let Some(values) = enum_values(schema, property, 1) {
                candidates.enums.push((name.clone(), values));
                continue;
            }
            let property = non_null(schema, property, 1);
            let format = property.get("format").and_then(Value::as_str);
            if matches!(format, Some("date" | "date-time")) {
                candidates.dates.push(name.clone());
            } else if TEXT_FIELDS.contains(&name.as_str())
                && primary_type(&property) == Some("string")
            {
                candidates.text.push(name.clone());
            }
        }
        candidates
    }
}
