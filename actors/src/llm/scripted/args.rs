//! Tool arguments built from a tool's JSON Schema, the way a careful user
//! would fill in a form.
//!
//! Covers what the registry's schemas (schemars 1, draft 2020-12) use:
//! `$ref` into `$defs`/`definitions`, `allOf`, `anyOf`/`oneOf` with a null
//! branch or `const` branches, `type` as a string or a list with `"null"`,
//! `enum`, `minLength`/`maxLength`, `minimum`/`maximum`, `minItems`/
//! `maxItems`, and the formats `date`, `date-time`, `email`, `uuid`. It is
//! not a general JSON Schema implementation: there is no regex engine, so a
//! `pattern` is met with a known-good value per field name or, for an
//! optional field, by leaving the field out.

use std::borrow::Cow;
use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::rng::Rng;
use super::words;

/// How deep `$ref`s and nesting are followed. Tool schemas are two or
/// three levels deep; the limit only stops a self-referencing schema.
const MAX_DEPTH: usize = 12;

/// Fields that hold the end of a range; they are generated after the other
/// fields so they can be placed after the start (`end` after `start`, `to`
/// after `from`).
const END_FIELDS: &[&str] = &["end", "endat", "endsat", "enddate", "to", "until"];
const START_FIELDS: &[&str] = &["start", "startat", "startsat", "startdate", "from", "since"];

/// What the generator knows besides the schema.
pub(super) struct Context<'a> {
    pub module: &'a str,
    pub now: DateTime<Utc>,
    /// Ids seen for this module and not used up.
    pub ids: &'a [String],
    /// Words from earlier creates of this tick, for queries.
    pub query_words: &'a [String],
    /// Chance of filling in an optional property.
    pub optional_rate: f64,
}

#[derive(Debug)]
pub(super) struct Generated {
    /// Always a JSON object.
    pub input: Value,
    /// Harvested ids the input refers to.
    pub used_ids: Vec<String>,
}

/// Valid arguments for a tool with this input schema.
pub(super) fn generate(schema: &Value, context: &Context<'_>, rng: &mut Rng) -> Generated {
    let mut generator = Generator {
        root: schema,
        context,
        rng,
        used_ids: Vec::new(),
    };
    let input = generator.object(schema, 0);
    Generated {
        input,
        used_ids: generator.used_ids,
    }
}

/// Whether a property holds the id of a record: `id`, `habitId`, `task_id`.
pub(super) fn is_id_field(name: &str) -> bool {
    name == "id" || name.ends_with("Id") || name.ends_with("_id")
}

/// The required properties that name a record by id; a tool with any can
/// only be called once such an id is known.
pub(super) fn required_id_fields(schema: &Value) -> Vec<String> {
    required(&effective(schema, schema, 0))
        .into_iter()
        .filter(|name| is_id_field(name))
        .collect()
}

/// The required property names of an object schema.
pub(super) fn required(schema: &Value) -> Vec<String> {
    schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The schema behind `$ref`s, with `allOf` parts merged into one.
pub(super) fn effective<'a>(root: &'a Value, schema: &'a Value, depth: usize) -> Cow<'a, Value> {
    let resolved = resolve(root, schema);
    let Some(parts) = resolved.get("allOf").and_then(Value::as_array) else {
        return Cow::Borrowed(resolved);
    };
    let mut merged = resolved.as_object().cloned().unwrap_or_default();
    merged.remove("allOf");
    if depth < MAX_DEPTH {
        for part in parts {
            if let Value::Object(part) = effective(root, part, depth + 1).into_owned() {
                merge_into(&mut merged, part);
            }
        }
    }
    Cow::Owned(Value::Object(merged))
}

/// The values an enum-like schema allows (`enum`, `const`, or `anyOf`/
/// `oneOf` of those), without `null`; `None` for any other schema.
pub(super) fn enum_values(root: &Value, schema: &Value, depth: usize) -> Option<Vec<Value>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let schema = effective(root, schema, depth);
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        let values: Vec<Value> = values.iter().filter(|v| !v.is_null()).cloned().collect();
        return (!values.is_empty()).then_some(values);
    }
    if let Some(value) = schema.get("const") {
        return (!value.is_null()).then(|| vec![value.clone()]);
    }
    for key in ["anyOf", "oneOf"] {
        let Some(branches) = schema.get(key).and_then(Value::as_array) else {
            continue;
        };
        let mut values = Vec::new();
        for branch in branches {
            if is_null_schema(&effective(root, branch, depth + 1)) {
                continue;
            }
            values.extend(enum_values(root, branch, depth + 1)?);
        }
        return (!values.is_empty()).then_some(values);
    }
    None
}

/// The schema with a nullable `anyOf`/`oneOf` reduced to its first branch
/// that is not `null`: an optional field is filled with a real value.
pub(super) fn non_null<'a>(root: &'a Value, schema: &'a Value, depth: usize) -> Cow<'a, Value> {
    let current = effective(root, schema, depth);
    if depth >= MAX_DEPTH || current.get("type").is_some() {
        return current;
    }
    match current {
        Cow::Borrowed(schema) => match first_non_null_branch(root, schema, depth) {
            Some(branch) => non_null(root, branch, depth + 1),
            None => Cow::Borrowed(schema),
        },
        // A merged `allOf` is owned here and cannot lend a branch out with
        // the caller's lifetime, so the chosen branch is cloned.
        Cow::Owned(schema) => match first_non_null_branch(root, &schema, depth) {
            Some(branch) => Cow::Owned(non_null(root, branch, depth + 1).into_owned()),
            None => Cow::Owned(schema),
        },
    }
}

fn first_non_null_branch<'s>(root: &Value, schema: &'s Value, depth: usize) -> Option<&'s Value> {
    ["anyOf", "oneOf"].into_iter().find_map(|key| {
        schema
            .get(key)?
            .as_array()?
            .iter()
            .find(|branch| !is_null_schema(&effective(root, branch, depth + 1)))
    })
}

/// The schema's type other than `null` (`"string"` for `["string","null"]`).
pub(super) fn primary_type(schema: &Value) -> Option<&str> {
    match schema.get("type")? {
        Value::String(name) => Some(name.as_str()),
        Value::Array(names) => names
            .iter()
            .filter_map(Value::as_str)
            .find(|name| *name != "null"),
        _ => None,
    }
}

/// A fresh random (v4) UUID drawn from the simulator's own stream, so it
/// replays with the seed.
pub(super) fn fresh_uuid(rng: &mut Rng) -> String {
    uuid::Builder::from_random_bytes(rng.bytes16())
        .into_uuid()
        .to_string()
}

fn resolve<'a>(root: &'a Value, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    for _ in 0..MAX_DEPTH {
        let Some(target) = current
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|reference| reference.strip_prefix('#'))
            .and_then(|pointer| root.pointer(pointer))
        else {
            break;
        };
        current = target;
    }
    current
}

fn merge_into(merged: &mut Map<String, Value>, part: Map<String, Value>) {
    for (key, value) in part {
        match (key.as_str(), merged.get_mut(&key), value) {
            ("properties", Some(Value::Object(into)), Value::Object(more)) => into.extend(more),
            ("required", Some(Value::Array(into)), Value::Array(more)) => {
                for name in more {
                    if !into.contains(&name) {
                        into.push(name);
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, value) => {
                merged.insert(key, value);
            }
        }
    }
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
        || schema.get("const").is_some_and(Value::is_null)
}

fn number(schema: &Value, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

fn count(schema: &Value, key: &str) -> Option<usize> {
    schema
        .get(key)
        .and_then(Value::as_u64)
        .and_then(|count| usize::try_from(count).ok())
}

fn lower(field: &str) -> String {
    field.to_ascii_lowercase()
}

struct Generator<'a, 'r> {
    root: &'a Value,
    context: &'a Context<'a>,
    rng: &'r mut Rng,
    used_ids: Vec<String>,
}

impl Generator<'_, '_> {
    /// A value for `schema`; `None` when it cannot be met (a `pattern` the
    /// simulator has no value for).
    fn value(
        &mut self,
        schema: &Value,
        field: &str,
        siblings: &Map<String, Value>,
        depth: usize,
    ) -> Option<Value> {
        let root = self.root;
        if depth > MAX_DEPTH {
            return None;
        }
        if let Some(values) = enum_values(root, schema, depth) {
            return self.rng.pick(&values).cloned();
        }
        let schema = non_null(root, schema, depth);
        match primary_type(&schema) {
            Some("object") => Some(self.object(&schema, depth + 1)),
            Some("array") => Some(self.array(&schema, field, depth + 1)),
            Some("integer") => Some(self.integer(&schema, field)),
            Some("number") => Some(self.number(&schema)),
            Some("boolean") => Some(Value::Bool(self.boolean(field))),
            Some("null") => Some(Value::Null),
            Some(_) => self.string(&schema, field, siblings),
            None if schema.get("properties").is_some() => Some(self.object(&schema, depth + 1)),
            None => self.string(&schema, field, siblings),
        }
    }

    fn object(&mut self, schema: &Value, depth: usize) -> Value {
        let root = self.root;
        let schema = effective(root, schema, depth);
        let mut out = Map::new();
        let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
            return Value::Object(out);
        };
        let required: BTreeSet<String> = required(&schema).into_iter().collect();
        // One draw per optional property, in the schema's (sorted) order,
        // so the same seed fills the same fields.
        let mut chosen: Vec<(&String, &Value, bool)> = Vec::new();
        for (name, property) in properties {
            let is_required = required.contains(name);
            let wanted = self.rng.chance(self.context.optional_rate);
            // An optional reference to a record with none known would name
            // nothing; a person would leave it blank.
            let pointless = is_id_field(name) && self.context.ids.is_empty();
            if is_required || (wanted && !pointless) {
                chosen.push((name, property, is_required));
            }
        }
        chosen.sort_by_key(|(name, _, _)| END_FIELDS.contains(&lower(name).as_str()));
        for (name, property, is_required) in chosen {
            match self.value(property, name, &out, depth + 1) {
                Some(value) => {
                    out.insert(name.clone(), value);
                }
                None if is_required => {
                    // Best effort: a required field must be there, even if
                    // its pattern may reject the value.
                    let text = self.plain_text(&lower(name));
                    out.insert(name.clone(), Value::String(text));
                }
                None => {}
            }
        }
        Value::Object(out)
    }

    fn array(&mut self, schema: &Value, field: &str, depth: usize) -> Value {
        let min_items = count(schema, "minItems").unwrap_or(0);
        let max_items = count(schema, "maxItems").unwrap_or(usize::MAX);
        // Two or three items are what a person types; the bounds still win.
        let high = max_items.min(3).max(min_items);
        let low = min_items.max(1).min(high);
        let wanted = self.rng.range(low as i64, high as i64) as usize;
        let no_items = Value::Object(Map::new());
        let items = schema.get("items").unwrap_or(&no_items);
        let mut values: Vec<Value> = Vec::new();
        let mut attempts = 0;
        while values.len() < wanted && attempts < wanted * 4 + 4 {
            attempts += 1;
            let Some(value) = self.value(items, field, &Map::new(), depth + 1) else {
                continue;
            };
            // Duplicates break `uniqueItems` and look odd anyway; they are
            // let through only to reach `minItems`.
            if !values.contains(&value) || attempts > wanted * 3 {
                values.push(value);
            }
        }
        Value::Array(values)
    }

    fn integer(&mut self, schema: &Value, field: &str) -> Value {
        let minimum = number(schema, "minimum")
            .or_else(|| number(schema, "exclusiveMinimum").map(|value| value.floor() + 1.0))
            .map(|value| value.ceil() as i64);
        let maximum = number(schema, "maximum")
            .or_else(|| number(schema, "exclusiveMaximum").map(|value| value.ceil() - 1.0))
            .map(|value| value.floor() as i64);
        let (low, high) = match (minimum, maximum) {
            (Some(low), Some(high)) => (low, high.max(low)),
            (Some(low), None) => (low, low.saturating_add(9)),
            (None, Some(high)) => (high.saturating_sub(9).clamp(0.min(high), high), high),
            (None, None) => (1, 10),
        };
        // People ask for small numbers: a page of up to 20, a habit done up
        // to ten times, not the schema's upper bound.
        let high = match lower(field).as_str() {
            "limit" | "count" | "days" | "size" => high.min(low.saturating_add(19)),
            _ => high.min(low.saturating_add(9)),
        };
        Value::from(self.rng.range(low, high))
    }

    fn number(&mut self, schema: &Value) -> Value {
        let low = number(schema, "minimum").unwrap_or(0.0);
        let high = number(schema, "maximum").unwrap_or(low + 10.0).max(low);
        let value = low + self.rng.unit() * (high - low);
        // One decimal place, kept inside the bounds after rounding.
        let rounded = ((value * 10.0).round() / 10.0).clamp(low, high);
        serde_json::Number::from_f64(rounded)
            .map(Value::Number)
            .unwrap_or_else(|| Value::from(0))
    }

    fn boolean(&mut self, field: &str) -> bool {
        // "Include archived/deleted" widens a listing to records a follow-up
        // call could not act on; people rarely tick it.
        if lower(field).starts_with("include") {
            self.rng.chance(0.15)
        } else {
            self.rng.chance(0.5)
        }
    }

    fn string(
        &mut self,
        schema: &Value,
        field: &str,
        siblings: &Map<String, Value>,
    ) -> Option<Value> {
        let name = lower(field);
        let text = match schema.get("format").and_then(Value::as_str) {
            Some("date") => return Some(Value::String(self.date(&name, siblings))),
            Some("date-time") => return Some(Value::String(self.instant(&name, siblings))),
            Some("time") => "09:30:00".to_owned(),
            Some("email" | "idn-email") => self.email(),
            Some("uuid") => self.id(),
            Some("uri" | "url" | "iri") => "https://example.org".to_owned(),
            _ if is_id_field(field) => self.id(),
            _ if schema.get("pattern").is_some() => match name.as_str() {
                "color" | "colour" => self.pick(words::COLORS),
                _ => words::known_good(&name)?.to_owned(),
            },
            _ => self.text(&name),
        };
        Some(Value::String(fit_length(
            text,
            count(schema, "minLength"),
            count(schema, "maxLength"),
        )))
    }

    fn text(&mut self, field: &str) -> String {
        match field {
            "phone" | "telephone" | "mobile" => "+49 30 1234567".to_owned(),
            "color" | "colour" => self.pick(words::COLORS),
            "email" | "mail" => self.email(),
            "query" | "q" | "search" if !self.context.query_words.is_empty() => self
                .rng
                .pick(self.context.query_words)
                .cloned()
                .unwrap_or_default(),
            _ => self.plain_text(field),
        }
    }

    fn plain_text(&mut self, field: &str) -> String {
        let list = words::for_field(self.context.module, field).unwrap_or(words::FALLBACK);
        self.pick(list)
    }

    fn pick(&mut self, list: &[&str]) -> String {
        self.rng
            .pick(list)
            .map(|text| (*text).to_owned())
            .unwrap_or_default()
    }

    fn email(&mut self) -> String {
        format!("{}@example.org", self.pick(words::MAIL_NAMES))
    }

    /// A harvested id when there is one, else a fresh UUID.
    fn id(&mut self) -> String {
        match self.rng.pick(self.context.ids).cloned() {
            Some(id) => {
                self.used_ids.push(id.clone());
                id
            }
            None => fresh_uuid(self.rng),
        }
    }

    /// A `YYYY-MM-DD` near today: never in the future for the day something
    /// happened, years back for a birthday, after the start for a range end.
    fn date(&mut self, field: &str, siblings: &Map<String, Value>) -> String {
        let today = self.context.now.date_naive();
        let day = match field {
            "birthday" | "birthdate" | "dateofbirth" | "born" => {
                let days = self.rng.range(20, 60) * 365 + self.rng.range(0, 364);
                shift_days(today, -days)
            }
            "duedate" | "due" | "deadline" | "dueon" => shift_days(today, self.rng.range(-3, 10)),
            _ if END_FIELDS.contains(&field) => {
                let start = sibling(siblings, START_FIELDS)
                    .and_then(|text| NaiveDate::parse_from_str(text, "%Y-%m-%d").ok())
                    .unwrap_or(today);
                shift_days(start, self.rng.range(0, 10))
            }
            "date" | "day" | "on" | "from" | "since" | "start" | "startdate" => {
                shift_days(today, -self.rng.range(0, 10))
            }
            _ => shift_days(today, self.rng.range(-10, 10)),
        };
        day.format("%Y-%m-%d").to_string()
    }

    /// An RFC 3339 instant a few hours from now, on the quarter hour like a
    /// person would enter it: in the past for when something was felt or
    /// done (`at`), after the start for a range end.
    fn instant(&mut self, field: &str, siblings: &Map<String, Value>) -> String {
        let now = self.context.now;
        let quarter = round_to_quarter_hour(now);
        let instant = match field {
            "at" | "loggedat" | "occurredat" | "timestamp" | "when" => {
                now - TimeDelta::minutes(self.rng.range(0, 240))
            }
            "to" | "until" => {
                let start = sibling(siblings, START_FIELDS)
                    .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                    .map(|start| start.with_timezone(&Utc))
                    .unwrap_or(quarter);
                start + TimeDelta::days(self.rng.range(1, 14))
            }
            _ if END_FIELDS.contains(&field) => {
                let start = sibling(siblings, START_FIELDS)
                    .and_then(|text| DateTime::parse_from_rfc3339(text).ok())
                    .map(|start| start.with_timezone(&Utc))
                    .unwrap_or(quarter + TimeDelta::hours(1));
                start + TimeDelta::minutes(15 * self.rng.range(2, 12))
            }
            "from" | "since" => quarter - TimeDelta::minutes(15 * self.rng.range(0, 24)),
            _ => quarter + TimeDelta::minutes(15 * self.rng.range(-12, 48)),
        };
        instant.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

fn sibling<'a>(siblings: &'a Map<String, Value>, names: &[&str]) -> Option<&'a str> {
    siblings
        .iter()
        .find(|(name, _)| names.contains(&lower(name).as_str()))
        .and_then(|(_, value)| value.as_str())
}

fn shift_days(day: NaiveDate, days: i64) -> NaiveDate {
    day.checked_add_signed(TimeDelta::days(days)).unwrap_or(day)
}

fn round_to_quarter_hour(instant: DateTime<Utc>) -> DateTime<Utc> {
    let seconds = instant.timestamp();
    DateTime::from_timestamp(seconds - seconds.rem_euclid(900), 0).unwrap_or(instant)
}

/// The text cut to `max` characters, or padded with words to `min`.
fn fit_length(text: String, min: Option<usize>, max: Option<usize>) -> String {
    let mut text = text;
    if let Some(min) = min {
        let mut filler = words::FALLBACK.iter().cycle();
        while text.chars().count() < min {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(filler.next().copied().unwrap_or("x"));
        }
    }
    if let Some(max) = max
        && text.chars().count() > max
    {
        let cut: String = text.chars().take(max).collect();
        // A cut that ends in a space is trimmed unless that breaks `min`.
        let trimmed = cut.trim_end();
        text = if trimmed.chars().count() >= min.unwrap_or(0) {
            trimmed.to_owned()
        } else {
            cut
        };
    }
    text
}
