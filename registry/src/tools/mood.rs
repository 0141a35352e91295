//! `mood.log`, `mood.today`, `mood.recent` over the encrypted `moodEntries`
//! collection.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Checks, non_blank, today};
use crate::context::{Doc, ToolContext};
use crate::error::ToolError;
use crate::spec::{PolicyHint, SpecError, ToolSpec};

const COLLECTION: &str = "moodEntries";
const ENCRYPTED: &[&str] = &["withWhom", "notes"];

/// Clients' clocks drift; an entry logged "now" may arrive slightly ahead of
/// ours, but anything further ahead is a mistake, not a mood.
const FUTURE_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

pub(super) fn tools() -> Result<Vec<ToolSpec>, SpecError> {
    Ok(vec![
        ToolSpec::new(
            "mood.log",
            "Log how the user feels: a mood from 1 (awful) to 5 (great), optionally energy (1–5), \
             who they were with and notes. Logged for now unless `at` (RFC 3339) says when. \
             Returns the entry with its id.",
            PolicyHint::Write,
            log,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
        ToolSpec::new(
            "mood.today",
            "Today's mood entries (UTC day), oldest first, with the average mood (null when \
             nothing was logged today). Use it to see how the day has gone so far.",
            PolicyHint::Read,
            today_entries,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
        ToolSpec::new(
            "mood.recent",
            "Mood entries of the last few days (7 by default, today included), newest first, \
             plus one summary per day that has entries (date, average mood, count), newest \
             first. Use it to spot trends.",
            PolicyHint::Read,
            recent,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
    ])
}

/// A mood entry as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MoodEntry {
    mood: u8,
    #[serde(default)]
    energy: Option<u8>,
    #[serde(default)]
    with_whom: Option<String>,
    #[serde(default)]
    notes: Option<String>,
    at: DateTime<Utc>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EntryOut {
    id: String,
    /// 1 awful, 2 bad, 3 okay, 4 good, 5 great.
    mood: u8,
    /// 1 exhausted … 5 full of energy.
    energy: Option<u8>,
    with_whom: Option<String>,
    notes: Option<String>,
    /// When the mood was felt.
    at: DateTime<Utc>,
}

impl From<Doc<MoodEntry>> for EntryOut {
    fn from(doc: Doc<MoodEntry>) -> EntryOut {
        EntryOut {
            id: doc.id,
            mood: doc.doc.mood,
            energy: doc.doc.energy,
            with_whom: doc.doc.with_whom,
            notes: doc.doc.notes,
            at: doc.doc.at,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogInput {
    /// How the user feels: 1 awful, 2 bad, 3 okay, 4 good, 5 great.
    #[schemars(range(min = 1, max = 5))]
    mood: u8,
    /// Energy level: 1 exhausted … 5 full of energy.
    #[schemars(range(min = 1, max = 5))]
    energy: Option<u8>,
    /// Who the user was with.
    #[schemars(length(max = 200))]
    with_whom: Option<String>,
    #[schemars(length(max = 2000))]
    notes: Option<String>,
    /// When it was felt, RFC 3339 (default: now); not in the future.
    at: Option<DateTime<Utc>>,
}

async fn log(input: LogInput, context: ToolContext) -> Result<EntryOut, ToolError> {
    let at = input.at.unwrap_or(context.now);
    let mut checks = Checks::default();
    if at > context.now + FUTURE_TOLERANCE {
        checks.fail(
            "at",
            "must not be more than 5 minutes in the future (leave it out to log for now)",
        );
    }
    checks.finish()?;
    let entry = MoodEntry {
        mood: input.mood,
        energy: input.energy,
        with_whom: non_blank(input.with_whom),
        notes: non_blank(input.notes),
        at,
    };
    Ok(context.records(COLLECTION).insert(&entry).await?.into())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TodayInput {}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TodayOutput {
    /// Today's entries, oldest first.
    entries: Vec<EntryOut>,
    /// Average mood of today's entries; null when there are none.
    average: Option<f64>,
}

async fn today_entries(_input: TodayInput, context: ToolContext) -> Result<TodayOutput, ToolError> {
    let day = today(&context);
    let mut entries = entries_since(&context, day).await?;
    entries.retain(|doc| doc.doc.at.date_naive() == day);
    entries.sort_by_key(|doc| (doc.doc.at, doc.created_at));
    let average = average(entries.iter().map(|doc| doc.doc.mood));
    Ok(TodayOutput {
        entries: entries.into_iter().map(EntryOut::from).collect(),
        average,
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecentInput {
    /// How many days back, today included (default 7).
    #[schemars(range(min = 1, max = 90))]
    days: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RecentOutput {
    /// The entries of those days, newest first.
    entries: Vec<EntryOut>,
    /// One summary per day that has entries, newest first.
    days: Vec<DaySummary>,
}

#[derive(Debug, PartialEq, Serialize, JsonSchema)]
pub struct DaySummary {
    /// The UTC day, YYYY-MM-DD.
    date: NaiveDate,
    /// Average mood of the day's entries.
    average: f64,
    /// How many entries the day has.
    count: usize,
}

async fn recent(input: RecentInput, context: ToolContext) -> Result<RecentOutput, ToolError> {
    let day = today(&context);
    let days = input.days.unwrap_or(7).max(1);
    let first = day
        .checked_sub_days(Days::new(u64::from(days - 1)))
        .unwrap_or(NaiveDate::MIN);
    let mut entries = entries_since(&context, first).await?;
    // Entries a few minutes ahead of the clock may fall on tomorrow; they
    // are not part of "the last days" yet.
    entries.retain(|doc| doc.doc.at.date_naive() <= day);
    entries.sort_by_key(|doc| std::cmp::Reverse((doc.doc.at, doc.created_at)));
    let days = day_summaries(entries.iter().map(|doc| (doc.doc.at, doc.doc.mood)));
    Ok(RecentOutput {
        entries: entries.into_iter().map(EntryOut::from).collect(),
        days,
    })
}

/// Every entry of the space felt on or after `first` (UTC).
async fn entries_since(
    context: &ToolContext,
    first: NaiveDate,
) -> Result<Vec<Doc<MoodEntry>>, ToolError> {
    Ok(context
        .records(COLLECTION)
        .list()
        .await?
        .into_iter()
        .filter(|doc: &Doc<MoodEntry>| doc.doc.at.date_naive() >= first)
        .collect())
}

fn average(moods: impl IntoIterator<Item = u8>) -> Option<f64> {
    let (sum, count) = moods.into_iter().fold((0u64, 0u64), |(sum, count), mood| {
        (sum + u64::from(mood), count + 1)
    });
    (count > 0).then(|| sum as f64 / count as f64)
}

/// Average and count per UTC day, newest day first.
fn day_summaries(entries: impl IntoIterator<Item = (DateTime<Utc>, u8)>) -> Vec<DaySummary> {
    let mut by_day: BTreeMap<NaiveDate, Vec<u8>> = BTreeMap::new();
    for (at, mood) in entries {
        by_day.entry(at.date_naive()).or_default().push(mood);
    }
    by_day
        .into_iter()
        .rev()
        .filter_map(|(date, moods)| {
            let count = moods.len();
            average(moods).map(|average| DaySummary {
                date,
                average,
                count,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn average_is_the_mean_or_none() {
        assert_eq!(average([]), None);
        assert_eq!(average([4]), Some(4.0));
        assert_eq!(average([1, 2, 2]), Some(5.0 / 3.0));
    }

    #[test]
    fn days_are_bucketed_by_utc_date_newest_first() {
        let summaries = day_summaries([
            (at("2026-03-01T23:59:59Z"), 2),
            (at("2026-03-02T00:00:00Z"), 5),
            (at("2026-03-01T08:00:00Z"), 3),
            // 23:30 in UTC−2 is already the next UTC day.
            (at("2026-03-01T23:30:00-02:00"), 4),
            (at("2026-03-04T12:00:00Z"), 1),
        ]);
        assert_eq!(
            summaries,
            vec![
                DaySummary {
                    date: date("2026-03-04"),
                    average: 1.0,
                    count: 1
                },
                DaySummary {
                    date: date("2026-03-02"),
                    average: 4.5,
                    count: 2
                },
                DaySummary {
                    date: date("2026-03-01"),
                    average: 2.5,
                    count: 2
                },
            ]
        );
        assert_eq!(day_summaries([]), vec![]);
    }

    #[test]
    fn blank_texts_are_dropped_and_others_trimmed() {
        assert_eq!(non_blank(Some("  Ben ".into())), Some("Ben".into()));
        assert_eq!(non_blank(Some("   ".into())), None);
        assert_eq!(non_blank(None), None);
    }
}
