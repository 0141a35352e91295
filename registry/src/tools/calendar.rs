//! `calendar.create_event`, `calendar.list_events` over the encrypted
//! `events` collection.

use chrono::{DateTime, NaiveTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Checks, non_blank, today};
use crate::context::{Doc, ToolContext};
use crate::error::ToolError;
use crate::spec::{PolicyHint, SpecError, ToolSpec};

const COLLECTION: &str = "events";
const ENCRYPTED: &[&str] = &["title", "description", "location"];

const DEFAULT_DURATION: TimeDelta = TimeDelta::hours(1);
const DEFAULT_RANGE: TimeDelta = TimeDelta::days(7);
/// Keeps a listing to about a year, so one call cannot pull the whole
/// calendar through the agent's context.
const MAX_RANGE: TimeDelta = TimeDelta::days(366);

pub(super) fn tools() -> Result<Vec<ToolSpec>, SpecError> {
    Ok(vec![
        ToolSpec::new(
            "calendar.create_event",
            "Create a calendar event in the current space. Give a title and a start (RFC 3339, \
             e.g. 2026-05-01T09:00:00Z); the end defaults to one hour after the start. Optionally \
             mark it all-day and add a location and description. Returns the event with its id.",
            PolicyHint::Write,
            create_event,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
        ToolSpec::new(
            "calendar.list_events",
            "List calendar events overlapping a time range, sorted by start. The range defaults \
             to the next 7 days from the start of today (UTC); give from/to (RFC 3339, at most \
             366 days apart) for another. Returns the events and how many matched.",
            PolicyHint::Read,
            list_events,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
    ])
}

/// An event as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    location: Option<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    #[serde(default)]
    all_day: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventOut {
    id: String,
    title: String,
    start: DateTime<Utc>,
    /// Exclusive: the event is over at this instant.
    end: DateTime<Utc>,
    all_day: bool,
    location: Option<String>,
    description: Option<String>,
    created_at: DateTime<Utc>,
}

impl From<Doc<Event>> for EventOut {
    fn from(doc: Doc<Event>) -> EventOut {
        EventOut {
            id: doc.id,
            title: doc.doc.title,
            start: doc.doc.start,
            end: doc.doc.end,
            all_day: doc.doc.all_day,
            location: doc.doc.location,
            description: doc.doc.description,
            created_at: doc.created_at,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateEventInput {
    /// What the event is, in a few words.
    #[schemars(length(min = 1, max = 500))]
    title: String,
    /// When it starts, RFC 3339.
    start: DateTime<Utc>,
    /// When it ends, RFC 3339, after the start (default: one hour after it).
    end: Option<DateTime<Utc>>,
    /// Whether it lasts the whole day (default false).
    all_day: Option<bool>,
    #[schemars(length(max = 500))]
    location: Option<String>,
    #[schemars(length(max = 5000))]
    description: Option<String>,
}

async fn create_event(
    input: CreateEventInput,
    context: ToolContext,
) -> Result<EventOut, ToolError> {
    let end = input.end.unwrap_or(input.start + DEFAULT_DURATION);
    let mut checks = Checks::default();
    checks.not_blank("title", &input.title);
    if end <= input.start {
        checks.fail("end", "must be after start");
    }
    checks.finish()?;
    let event = Event {
        title: input.title.trim().to_owned(),
        description: non_blank(input.description),
        location: non_blank(input.location),
        start: input.start,
        end,
        all_day: input.all_day.unwrap_or(false),
    };
    Ok(context.records(COLLECTION).insert(&event).await?.into())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListEventsInput {
    /// Start of the range, RFC 3339 (default: start of today, UTC).
    from: Option<DateTime<Utc>>,
    /// End of the range (exclusive), RFC 3339, at most 366 days after `from` (default: 7 days).
    to: Option<DateTime<Utc>>,
    /// At most this many events (default 50).
    #[schemars(range(min = 1, max = 200))]
    limit: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListEventsOutput {
    /// Events overlapping the range, by start.
    events: Vec<EventOut>,
    /// How many events matched before the limit.
    total: usize,
}

async fn list_events(
    input: ListEventsInput,
    context: ToolContext,
) -> Result<ListEventsOutput, ToolError> {
    let from = input
        .from
        .unwrap_or_else(|| today(&context).and_time(NaiveTime::MIN).and_utc());
    let to = input.to.unwrap_or(from + DEFAULT_RANGE);
    let mut checks = Checks::default();
    if to <= from {
        checks.fail("to", "must be after from");
    } else if to - from > MAX_RANGE {
        checks.fail(
            "to",
            "must be at most 366 days after from; list a long span in several calls",
        );
    }
    checks.finish()?;
    let mut events: Vec<Doc<Event>> = context
        .records(COLLECTION)
        .list()
        .await?
        .into_iter()
        .filter(|doc: &Doc<Event>| overlaps(&doc.doc, from, to))
        .collect();
    events.sort_by_key(|doc| (doc.doc.start, doc.doc.end, doc.created_at));
    let total = events.len();
    let limit = input.limit.unwrap_or(50) as usize;
    Ok(ListEventsOutput {
        events: events.into_iter().take(limit).map(EventOut::from).collect(),
        total,
    })
}

/// Whether the event shares any instant with `[from, to)`; its own end is
/// exclusive too, so one that ends as the range starts is not in it.
fn overlaps(event: &Event, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
    event.start < to && event.end > from
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn event(start: &str, end: &str) -> Event {
        Event {
            title: "Arzt".into(),
            description: None,
            location: None,
            start: at(start),
            end: at(end),
            all_day: false,
        }
    }

    #[test]
    fn overlap_is_half_open_at_both_edges() {
        let (from, to) = (at("2026-05-01T00:00:00Z"), at("2026-05-08T00:00:00Z"));
        let cases = [
            ("2026-04-30T23:00:00Z", "2026-05-01T00:00:00Z", false), // ends as the range starts
            ("2026-04-30T23:00:00Z", "2026-05-01T00:00:01Z", true),  // runs into the range
            ("2026-05-01T00:00:00Z", "2026-05-01T01:00:00Z", true),  // starts with the range
            ("2026-05-07T23:59:59Z", "2026-05-08T01:00:00Z", true),  // starts just before its end
            ("2026-05-08T00:00:00Z", "2026-05-08T01:00:00Z", false), // starts as the range ends
            ("2026-04-01T00:00:00Z", "2026-06-01T00:00:00Z", true),  // spans the whole range
        ];
        for (start, end, expected) in cases {
            assert_eq!(
                overlaps(&event(start, end), from, to),
                expected,
                "{start} – {end}"
            );
        }
    }

    #[test]
    fn blank_texts_are_dropped_and_others_trimmed() {
        assert_eq!(non_blank(Some(" Praxis ".into())), Some("Praxis".into()));
        assert_eq!(non_blank(Some("\n".into())), None);
    }
}
