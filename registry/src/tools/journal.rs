//! `journal.add`, `journal.list` over the encrypted `journalEntries`
//! collection.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Checks, today};
use crate::context::{Doc, ToolContext};
use crate::error::ToolError;
use crate::spec::{PolicyHint, SpecError, ToolSpec};

const COLLECTION: &str = "journalEntries";
const ENCRYPTED: &[&str] = &["title", "content"];

pub(super) fn tools() -> Result<Vec<ToolSpec>, SpecError> {
    Ok(vec![
        ToolSpec::new(
            "journal.add",
            "Write a journal entry in the current space: the text (content), optionally a title, \
             the day it is about (YYYY-MM-DD, default today, not in the future) and a mood from \
             1 (awful) to 5 (great). Use it when the user reflects on their day. Returns the \
             entry with its id.",
            PolicyHint::Write,
            add,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
        ToolSpec::new(
            "journal.list",
            "List journal entries of the current space, newest day first, optionally only those \
             from/to a day (YYYY-MM-DD, both inclusive). Returns the entries (20 by default) and \
             how many matched in total.",
            PolicyHint::Read,
            list,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
    ])
}

/// A journal entry as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JournalEntry {
    date: NaiveDate,
    #[serde(default)]
    title: Option<String>,
    content: String,
    #[serde(default)]
    mood: Option<u8>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntryOut {
    id: String,
    /// The day the entry is about.
    date: NaiveDate,
    title: Option<String>,
    content: String,
    /// 1 awful, 2 bad, 3 okay, 4 good, 5 great.
    mood: Option<u8>,
    created_at: DateTime<Utc>,
}

impl From<Doc<JournalEntry>> for EntryOut {
    fn from(doc: Doc<JournalEntry>) -> EntryOut {
        EntryOut {
            id: doc.id,
            date: doc.doc.date,
            title: doc.doc.title,
            content: doc.doc.content,
            mood: doc.doc.mood,
            created_at: doc.created_at,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddInput {
    /// The entry's text.
    #[schemars(length(min = 1, max = 20000))]
    content: String,
    #[schemars(length(max = 500))]
    title: Option<String>,
    /// The day the entry is about, YYYY-MM-DD (default today); not in the
    /// future.
    date: Option<NaiveDate>,
    /// How the day felt: 1 awful, 2 bad, 3 okay, 4 good, 5 great.
    #[schemars(range(min = 1, max = 5))]
    mood: Option<u8>,
}

async fn add(input: AddInput, context: ToolContext) -> Result<EntryOut, ToolError> {
    let today = today(&context);
    let date = input.date.unwrap_or(today);
    let mut checks = Checks::default();
    checks.not_blank("content", &input.content);
    if date > today {
        checks.fail(
            "date",
            format!("must not be in the future (today is {today})"),
        );
    }
    checks.finish()?;
    let entry = JournalEntry {
        date,
        title: input
            .title
            .map(|title| title.trim().to_owned())
            .filter(|title| !title.is_empty()),
        content: input.content.trim().to_owned(),
        mood: input.mood,
    };
    Ok(context.records(COLLECTION).insert(&entry).await?.into())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListInput {
    /// Only entries on or after this day, YYYY-MM-DD.
    from: Option<NaiveDate>,
    /// Only entries on or before this day, YYYY-MM-DD.
    to: Option<NaiveDate>,
    /// At most this many entries (default 20).
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListOutput {
    /// Newest day first; entries of the same day newest first.
    entries: Vec<EntryOut>,
    /// How many entries matched before the limit.
    total: usize,
}

async fn list(input: ListInput, context: ToolContext) -> Result<ListOutput, ToolError> {
    let mut checks = Checks::default();
    if let (Some(from), Some(to)) = (input.from, input.to)
        && from > to
    {
        checks.fail("from", "must not be after to");
    }
    checks.finish()?;
    let mut entries: Vec<Doc<JournalEntry>> = context
        .records(COLLECTION)
        .list()
        .await?
        .into_iter()
        .filter(|doc: &Doc<JournalEntry>| within(doc.doc.date, input.from, input.to))
        .collect();
    // Ids are UUIDv7, so they order entries written in the same instant.
    entries
        .sort_by(|a, b| (b.doc.date, b.created_at, &b.id).cmp(&(a.doc.date, a.created_at, &a.id)));
    let total = entries.len();
    let limit = input.limit.unwrap_or(20) as usize;
    Ok(ListOutput {
        entries: entries
            .into_iter()
            .take(limit)
            .map(EntryOut::from)
            .collect(),
        total,
    })
}

/// Whether `date` lies in the inclusive range; a missing bound is open.
fn within(date: NaiveDate, from: Option<NaiveDate>, to: Option<NaiveDate>) -> bool {
    from.is_none_or(|from| date >= from) && to.is_none_or(|to| date <= to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn range_bounds_are_inclusive_and_optional() {
        let (from, to) = (Some(date("2026-03-01")), Some(date("2026-03-31")));
        assert!(within(date("2026-03-01"), from, to));
        assert!(within(date("2026-03-31"), from, to));
        assert!(!within(date("2026-02-28"), from, to));
        assert!(!within(date("2026-04-01"), from, to));
        assert!(within(date("1999-12-31"), None, to));
        assert!(within(date("2099-01-01"), from, None));
        assert!(within(date("2026-03-15"), None, None));
    }
}
