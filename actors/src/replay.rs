//! Replaying a recorded tick against the app as it is now: the same tool
//! calls with the same arguments in the same order, no LLM, and for each
//! call whether its outcome (ok or error) or the shape of its answer (keys
//! and value types, not values) changed — a regression check for a new
//! build of the app that costs no tokens.
//!
//! Ids the app hands out differ between runs: when a replayed answer holds a
//! different value where the recorded one held an id (a key `id` or ending
//! in `Id`), later arguments naming the recorded id get the new one, so a
//! `todo.complete` of the task a `todo.create` made earlier in the tick
//! completes the task the replay made.

use std::collections::{BTreeMap, HashMap};

use catalog::ActionResult;
use catalog::transcript::TranscriptItem;
use serde_json::Value;

use crate::mcp_client::ToolSurface;

/// One recorded call, from a tick's transcript.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedCall {
    pub tool: String,
    /// The arguments as the model sent them.
    pub input: String,
    pub result: ActionResult,
    /// The app's answer as recorded (possibly cut).
    pub output: String,
    /// The tick did not send it: the model's arguments were not JSON, or it
    /// named no listed tool.
    pub never_sent: bool,
}

impl RecordedCall {
    /// The calls of a transcript, in order.
    pub fn from_transcript(items: &[TranscriptItem]) -> Vec<RecordedCall> {
        items
            .iter()
            .filter_map(|item| match item {
                TranscriptItem::Call {
                    tool,
                    input,
                    result,
                    failed_by,
                    output,
                    ..
                } => Some(RecordedCall {
                    tool: tool.clone(),
                    input: input.clone(),
                    result: *result,
                    output: output.clone(),
                    never_sent: *failed_by == Some(catalog::FailedBy::Agent)
                        && serde_json::from_str::<Value>(input).is_err(),
                }),
                _ => None,
            })
            .collect()
    }
}

/// What replaying one call showed.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Same outcome, same shape of answer.
    Same,
    /// Ok then and an error now, or the other way round.
    OutcomeChanged {
        was: ActionResult,
        now: ActionResult,
        /// The app's answer now (cut).
        answer: String,
    },
    /// Same outcome; the answer's structure differs, one line per path.
    ShapeChanged(Vec<String>),
    /// Not sent again, and why.
    NotReplayable(String),
}

/// One call of the replay.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayedCall {
    /// Its position among the tick's calls, from 0.
    pub index: usize,
    pub tool: String,
    pub verdict: Verdict,
}

/// The marker [`catalog::transcript::cut`] leaves in a cut text.
const CUT_MARKER: &str = " more characters cut]";

/// How much of a changed answer a report keeps.
const ANSWER_CHARS: usize = 300;

/// Replays `calls` through `tools`, in order.
pub async fn replay(calls: &[RecordedCall], tools: &dyn ToolSurface) -> Vec<ReplayedCall> {
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut replayed = Vec::with_capacity(calls.len());
    for (index, call) in calls.iter().enumerate() {
        let verdict = replay_one(call, tools, &mut ids).await;
        replayed.push(ReplayedCall {
            index,
            tool: call.tool.clone(),
            verdict,
        });
    }
    replayed
}

async fn replay_one(
    call: &RecordedCall,
    tools: &dyn ToolSurface,
    ids: &mut HashMap<String, String>,
) -> Verdict {
    if call.never_sent {
        return Verdict::NotReplayable(
            "the tick never sent it (its arguments were not JSON)".into(),
        );
    }
    if call.input.ends_with(CUT_MARKER) {
        return Verdict::NotReplayable(
            "its arguments were cut in the transcript (PERSONA_TRANSCRIPT_CHARS)".into(),
        );
    }
    let Ok(mut input) = serde_json::from_str::<Value>(&call.input) else {
        return Verdict::NotReplayable("its recorded arguments are not JSON".into());
    };
    substitute_ids(&mut input, ids);
    let answer = tools.call(&call.tool, input).await;
    let now = if answer.is_error {
        ActionResult::Error
    } else {
        ActionResult::Ok
    };
    if now != call.result {
        return Verdict::OutcomeChanged {
            was: call.result,
            now,
            answer: answer.text.chars().take(ANSWER_CHARS).collect(),
        };
    }
    let recorded = serde_json::from_str::<Value>(&call.output).ok();
    let current = serde_json::from_str::<Value>(&answer.text).ok();
    match (recorded, current) {
        (Some(recorded), Some(current)) => {
            learn_ids(&recorded, &current, ids);
            let differences = shape_differences(&shape_of(&recorded), &shape_of(&current), "");
            if differences.is_empty() {
                Verdict::Same
            } else {
                Verdict::ShapeChanged(differences)
            }
        }
        // A cut recording cannot be compared; the outcome matched.
        (None, _) if call.output.ends_with(CUT_MARKER) => Verdict::Same,
        (None, None) => Verdict::Same,
        (None, Some(_)) => {
            Verdict::ShapeChanged(vec!["the answer is JSON now, text before".into()])
        }
        (Some(_), None) => {
            Verdict::ShapeChanged(vec!["the answer is text now, JSON before".into()])
        }
    }
}

fn is_id_key(key: &str) -> bool {
    key == "id" || key.ends_with("Id")
}

/// Pairs the ids of a recorded answer with those of the replayed one.
fn learn_ids(recorded: &Value, current: &Value, ids: &mut HashMap<String, String>) {
    match (recorded, current) {
        (Value::Object(recorded), Value::Object(current)) => {
            for (key, was) in recorded {
                let Some(now) = current.get(key) else {
                    continue;
                };
                match (was, now) {
                    (Value::String(was), Value::String(now)) if is_id_key(key) && was != now => {
                        ids.insert(was.clone(), now.clone());
                    }
                    _ => learn_ids(was, now, ids),
                }
            }
        }
        (Value::Array(recorded), Value::Array(current)) => {
            for (was, now) in recorded.iter().zip(current) {
                learn_ids(was, now, ids);
            }
        }
        _ => {}
    }
}

/// Replaces every string that is a recorded id by the replay's.
fn substitute_ids(value: &mut Value, ids: &HashMap<String, String>) {
    match value {
        Value::String(text) => {
            if let Some(now) = ids.get(text.as_str()) {
                *text = now.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| substitute_ids(item, ids)),
        Value::Object(map) => map.values_mut().for_each(|item| substitute_ids(item, ids)),
        _ => {}
    }
}

/// The structure of a JSON value: keys and value types, not values.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// `null`, or an empty array's element: fits any shape.
    Unknown,
    Bool,
    Number,
    String,
    /// The union of its elements' shapes.
    Array(Box<Shape>),
    Object(BTreeMap<String, Shape>),
    /// Elements of different kinds.
    Mixed,
}

impl Shape {
    fn kind(&self) -> &'static str {
        match self {
            Shape::Unknown => "null",
            Shape::Bool => "a boolean",
            Shape::Number => "a number",
            Shape::String => "a string",
            Shape::Array(_) => "an array",
            Shape::Object(_) => "an object",
            Shape::Mixed => "mixed values",
        }
    }
}

fn shape_of(value: &Value) -> Shape {
    match value {
        Value::Null => Shape::Unknown,
        Value::Bool(_) => Shape::Bool,
        Value::Number(_) => Shape::Number,
        Value::String(_) => Shape::String,
        Value::Array(items) => Shape::Array(Box::new(
            items.iter().map(shape_of).fold(Shape::Unknown, union),
        )),
        Value::Object(map) => Shape::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), shape_of(value)))
                .collect(),
        ),
    }
}

/// Two shapes as one: objects keep every key, an unknown fits anything.
fn union(a: Shape, b: Shape) -> Shape {
    match (a, b) {
        (Shape::Unknown, other) | (other, Shape::Unknown) => other,
        (Shape::Object(mut a), Shape::Object(b)) => {
            for (key, shape) in b {
                let merged = match a.remove(&key) {
                    Some(existing) => union(existing, shape),
                    None => shape,
                };
                a.insert(key, merged);
            }
            Shape::Object(a)
        }
        (Shape::Array(a), Shape::Array(b)) => Shape::Array(Box::new(union(*a, *b))),
        (a, b) if a == b => a,
        _ => Shape::Mixed,
    }
}

/// Where `current` differs from `recorded`, as `path: what` lines.
fn shape_differences(recorded: &Shape, current: &Shape, path: &str) -> Vec<String> {
    let here = if path.is_empty() { "/" } else { path };
    match (recorded, current) {
        (Shape::Unknown, _) | (_, Shape::Unknown) => Vec::new(),
        (Shape::Object(was), Shape::Object(now)) => {
            let mut differences = Vec::new();
            for (key, shape) in was {
                let at = format!("{path}/{key}");
                match now.get(key) {
                    None => differences.push(format!("{at}: gone")),
                    Some(now) => differences.extend(shape_differences(shape, now, &at)),
                }
            }
            for key in now.keys().filter(|key| !was.contains_key(*key)) {
                differences.push(format!("{path}/{key}: new"));
            }
            differences
        }
        (Shape::Array(was), Shape::Array(now)) => shape_differences(was, now, &format!("{path}[]")),
        (was, now) if was == now => Vec::new(),
        (was, now) => vec![format!("{here}: {} before, {} now", was.kind(), now.kind())],
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn differences(was: Value, now: Value) -> Vec<String> {
        shape_differences(&shape_of(&was), &shape_of(&now), "")
    }

    #[test]
    fn values_may_change_and_the_shape_stays() {
        assert!(
            differences(
                json!({"items": [{"id": "a", "done": false, "dueDate": null}], "total": 1}),
                json!({"items": [{"id": "b", "done": true, "dueDate": "2026-12-02"}, {"id": "c", "done": false, "dueDate": null}], "total": 2}),
            )
            .is_empty()
        );
        // An empty list fits any list.
        assert!(differences(json!({"items": [{"id": "a"}]}), json!({"items": []})).is_empty());
    }

    #[test]
    fn a_gone_key_a_new_key_and_a_changed_type_are_named_by_path() {
        assert_eq!(
            differences(
                json!({"items": [{"id": "a", "done": false}], "total": 1}),
                json!({"items": [{"id": "a", "state": "open"}], "total": "1"}),
            ),
            vec![
                "/items[]/done: gone".to_owned(),
                "/items[]/state: new".to_owned(),
                "/total: a number before, a string now".to_owned(),
            ]
        );
    }

    #[test]
    fn ids_of_the_replay_replace_the_recorded_ones_in_later_arguments() {
        let mut ids = HashMap::new();
        learn_ids(
            &json!({"id": "old-task", "title": "x", "space": {"spaceId": "s1"}}),
            &json!({"id": "new-task", "title": "x", "space": {"spaceId": "s1"}}),
            &mut ids,
        );
        assert_eq!(ids.len(), 1, "an id that did not change maps nothing");
        let mut input = json!({"id": "old-task", "note": "old-task is done"});
        substitute_ids(&mut input, &ids);
        assert_eq!(input, json!({"id": "new-task", "note": "old-task is done"}));
    }
}
