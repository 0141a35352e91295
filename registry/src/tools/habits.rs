//! `habits.create`, `habits.list`, `habits.update`, `habits.archive`,
//! `habits.log` over the plaintext `habits` and `habitLogs` collections.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Checks, today};
use crate::context::{Doc, ToolContext};
use crate::error::ToolError;
use crate::spec::{PolicyHint, SpecError, ToolSpec};

const HABITS: &str = "habits";
const LOGS: &str = "habitLogs";

pub(super) fn tools() -> Result<Vec<ToolSpec>, SpecError> {
    Ok(vec![
        ToolSpec::new(
            "habits.create",
            "Create a habit to track in the current space: a name, how often it is due (daily or \
             weekly), optionally how many times per day/week counts as done (default 1) and a \
             color (#RRGGBB). Returns the habit with its id; record progress with habits.log.",
            PolicyHint::Write,
            create,
        )?,
        ToolSpec::new(
            "habits.list",
            "List the habits of the current space (archived ones only with includeArchived), \
             oldest first, each with doneThisPeriod (logs today for daily habits, this ISO week \
             Monday–Sunday for weekly ones, UTC) and streak (how many periods in a row reached \
             the target, counting the current one once it is reached). Use the ids with \
             habits.log, habits.update and habits.archive.",
            PolicyHint::Read,
            list,
        )?,
        ToolSpec::new(
            "habits.update",
            "Change a habit's name, frequency, target per period or color by its id (from \
             habits.list); give only the fields to change. Archived habits can be updated too. \
             Returns the updated habit.",
            PolicyHint::Write,
            update,
        )?,
        ToolSpec::new(
            "habits.archive",
            "Archive a habit by its id: it leaves habits.list (unless includeArchived) and takes \
             no new logs, but its history is kept. Archiving an archived habit again changes \
             nothing. Returns the habit.",
            PolicyHint::Write,
            archive,
        )?,
        ToolSpec::new(
            "habits.log",
            "Record that a habit was done, for today (UTC) or an earlier date (YYYY-MM-DD), with \
             an optional note. Log once per time it was done. Returns the log entry, how many \
             logs the habit has in the current period (today / this ISO week) and its target.",
            PolicyHint::Write,
            log,
        )?,
    ])
}

/// How often a habit is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Frequency {
    /// Every UTC day.
    Daily,
    /// Every ISO week (Monday to Sunday, UTC).
    Weekly,
}

/// A habit as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Habit {
    name: String,
    frequency: Frequency,
    target_per_period: u32,
    #[serde(default)]
    color: Option<String>,
    #[serde(default)]
    archived: bool,
}

/// One time a habit was done, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HabitLog {
    habit_id: String,
    date: NaiveDate,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HabitOut {
    id: String,
    name: String,
    frequency: Frequency,
    /// How many logs per period count as done.
    target_per_period: u32,
    /// `#RRGGBB`, or null.
    color: Option<String>,
    archived: bool,
    created_at: DateTime<Utc>,
}

impl From<Doc<Habit>> for HabitOut {
    fn from(doc: Doc<Habit>) -> HabitOut {
        HabitOut {
            id: doc.id,
            name: doc.doc.name,
            frequency: doc.doc.frequency,
            target_per_period: doc.doc.target_per_period,
            color: doc.doc.color,
            archived: doc.doc.archived,
            created_at: doc.created_at,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogOut {
    id: String,
    habit_id: String,
    /// The day it was done, YYYY-MM-DD.
    date: NaiveDate,
    note: Option<String>,
}

impl From<Doc<HabitLog>> for LogOut {
    fn from(doc: Doc<HabitLog>) -> LogOut {
        LogOut {
            id: doc.id,
            habit_id: doc.doc.habit_id,
            date: doc.doc.date,
            note: doc.doc.note,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInput {
    /// What the habit is, in a few words.
    #[schemars(length(min = 1, max = 200))]
    name: String,
    /// daily or weekly.
    frequency: Frequency,
    /// How many times per day/week counts as done (default 1).
    #[schemars(range(min = 1, max = 50))]
    target_per_period: Option<u32>,
    /// Display color, `#RRGGBB`.
    #[schemars(regex(pattern = r"^#[0-9A-Fa-f]{6}$"))]
    color: Option<String>,
}

async fn create(input: CreateInput, context: ToolContext) -> Result<HabitOut, ToolError> {
    let mut checks = Checks::default();
    checks.not_blank("name", &input.name);
    checks.finish()?;
    let habit = Habit {
        name: input.name.trim().to_owned(),
        frequency: input.frequency,
        target_per_period: input.target_per_period.unwrap_or(1),
        color: input.color,
        archived: false,
    };
    Ok(context.records(HABITS).insert(&habit).await?.into())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListInput {
    /// Also list archived habits (default false).
    include_archived: Option<bool>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HabitSummary {
    #[serde(flatten)]
    habit: HabitOut,
    /// Logs in the current period: today for daily habits, this ISO week for
    /// weekly ones (UTC).
    done_this_period: u32,
    /// Periods in a row whose logs reached the target, up to the current
    /// period, or up to the previous one while the current is not reached yet.
    streak: u32,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListOutput {
    habits: Vec<HabitSummary>,
}

async fn list(input: ListInput, context: ToolContext) -> Result<ListOutput, ToolError> {
    let include_archived = input.include_archived.unwrap_or(false);
    let mut habits: Vec<Doc<Habit>> = context
        .records(HABITS)
        .list()
        .await?
        .into_iter()
        .filter(|doc: &Doc<Habit>| include_archived || !doc.doc.archived)
        .collect();
    habits.sort_by_key(|doc| (doc.doc.archived, doc.created_at));
    let mut dates: HashMap<String, Vec<NaiveDate>> = HashMap::new();
    for doc in context.records(LOGS).list::<HabitLog>().await? {
        dates
            .entry(doc.doc.habit_id)
            .or_default()
            .push(doc.doc.date);
    }
    let day = today(&context);
    let habits = habits
        .into_iter()
        .map(|doc| {
            let logged = dates.get(&doc.id).map(Vec::as_slice).unwrap_or_default();
            let progress = progress(
                doc.doc.frequency,
                doc.doc.target_per_period,
                logged.iter().copied(),
                day,
            );
            HabitSummary {
                habit: doc.into(),
                done_this_period: progress.done_this_period,
                streak: progress.streak,
            }
        })
        .collect();
    Ok(ListOutput { habits })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateInput {
    /// The habit's id.
    id: Uuid,
    /// New name.
    #[schemars(length(min = 1, max = 200))]
    name: Option<String>,
    /// New frequency: daily or weekly.
    frequency: Option<Frequency>,
    /// New number of times per day/week that counts as done.
    #[schemars(range(min = 1, max = 50))]
    target_per_period: Option<u32>,
    /// New display color, `#RRGGBB`.
    #[schemars(regex(pattern = r"^#[0-9A-Fa-f]{6}$"))]
    color: Option<String>,
}

async fn update(input: UpdateInput, context: ToolContext) -> Result<HabitOut, ToolError> {
    let mut checks = Checks::default();
    if let Some(name) = &input.name {
        checks.not_blank("name", name);
    }
    let mut patch = Map::new();
    if let Some(name) = input.name {
        patch.insert("name".into(), Value::String(name.trim().to_owned()));
    }
    if let Some(frequency) = input.frequency {
        patch.insert(
            "frequency".into(),
            serde_json::to_value(frequency).unwrap_or(Value::Null),
        );
    }
    if let Some(target) = input.target_per_period {
        patch.insert("targetPerPeriod".into(), Value::from(target));
    }
    if let Some(color) = input.color {
        patch.insert("color".into(), Value::String(color));
    }
    if patch.is_empty() {
        checks.fail(
            "",
            "nothing to change: give at least one of name, frequency, targetPerPeriod, color",
        );
    }
    checks.finish()?;
    let id = input.id.to_string();
    Ok(context
        .records(HABITS)
        .update::<Habit>("habit", &id, patch)
        .await?
        .into())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArchiveInput {
    /// The habit's id.
    id: Uuid,
}

async fn archive(input: ArchiveInput, context: ToolContext) -> Result<HabitOut, ToolError> {
    let records = context.records(HABITS);
    let id = input.id.to_string();
    let habit: Doc<Habit> = records.require("habit", &id).await?;
    if habit.doc.archived {
        return Ok(habit.into());
    }
    let mut patch = Map::new();
    patch.insert("archived".into(), Value::Bool(true));
    Ok(records.update::<Habit>("habit", &id, patch).await?.into())
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogInput {
    /// The habit's id.
    id: Uuid,
    /// The day it was done, YYYY-MM-DD (default today, UTC); not in the future.
    date: Option<NaiveDate>,
    #[schemars(length(max = 500))]
    note: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogOutput {
    log: LogOut,
    /// The habit's logs in the current period (today / this ISO week, UTC),
    /// this one included if it falls in it.
    done_this_period: u32,
    /// The habit's target per period.
    target: u32,
}

async fn log(input: LogInput, context: ToolContext) -> Result<LogOutput, ToolError> {
    let day = today(&context);
    let date = input.date.unwrap_or(day);
    let mut checks = Checks::default();
    if date > day {
        checks.fail(
            "date",
            format!("must not be in the future (today is {day}; leave it out to log for today)"),
        );
    }
    checks.finish()?;
    let id = input.id.to_string();
    let habit: Doc<Habit> = context.records(HABITS).require("habit", &id).await?;
    if habit.doc.archived {
        return Err(ToolError::Conflict(format!(
            "habit {id} ({}) is archived; archived habits take no new logs, so pick an active \
             habit from habits.list or create a new one",
            habit.doc.name
        )));
    }
    let logs = context.records(LOGS);
    let entry = HabitLog {
        habit_id: id.clone(),
        date,
        note: input
            .note
            .map(|note| note.trim().to_owned())
            .filter(|note| !note.is_empty()),
    };
    let logged = logs.insert(&entry).await?;
    let dates: Vec<NaiveDate> = logs
        .list::<HabitLog>()
        .await?
        .into_iter()
        .filter(|doc| doc.doc.habit_id == id)
        .map(|doc| doc.doc.date)
        .collect();
    let progress = progress(habit.doc.frequency, habit.doc.target_per_period, dates, day);
    Ok(LogOutput {
        log: logged.into(),
        done_this_period: progress.done_this_period,
        target: habit.doc.target_per_period,
    })
}

/// Where a habit stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    done_this_period: u32,
    streak: u32,
}

/// The first day of the period that holds `date`: the day itself, or the
/// Monday of its ISO week.
fn period_start(frequency: Frequency, date: NaiveDate) -> NaiveDate {
    match frequency {
        Frequency::Daily => date,
        Frequency::Weekly => date
            .checked_sub_days(Days::new(u64::from(date.weekday().num_days_from_monday())))
            .unwrap_or(NaiveDate::MIN),
    }
}

fn previous_period(frequency: Frequency, start: NaiveDate) -> Option<NaiveDate> {
    let length = match frequency {
        Frequency::Daily => 1,
        Frequency::Weekly => 7,
    };
    start.checked_sub_days(Days::new(length))
}

/// Counts the logs of the period holding `today` and the streak of periods
/// that reached `target`. A current period not yet reached does not break the
/// streak, since it can still be met.
fn progress(
    frequency: Frequency,
    target: u32,
    dates: impl IntoIterator<Item = NaiveDate>,
    today: NaiveDate,
) -> Progress {
    // A stored target of 0 would make every empty period "reached" and the
    // walk back endless.
    let target = target.max(1);
    let mut per_period: BTreeMap<NaiveDate, u32> = BTreeMap::new();
    for date in dates {
        *per_period.entry(period_start(frequency, date)).or_default() += 1;
    }
    let count = |start: NaiveDate| per_period.get(&start).copied().unwrap_or(0);
    let current = period_start(frequency, today);
    let done_this_period = count(current);
    let mut period = if done_this_period >= target {
        Some(current)
    } else {
        previous_period(frequency, current)
    };
    let mut streak = 0;
    while let Some(start) = period
        && count(start) >= target
    {
        streak += 1;
        period = previous_period(frequency, start);
    }
    Progress {
        done_this_period,
        streak,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    fn dates(texts: &[&str]) -> Vec<NaiveDate> {
        texts.iter().map(|text| date(text)).collect()
    }

    #[test]
    fn nothing_logged_is_zero_and_no_streak() {
        let progress = progress(Frequency::Daily, 1, [], date("2026-03-10"));
        assert_eq!(
            progress,
            Progress {
                done_this_period: 0,
                streak: 0
            }
        );
    }

    #[test]
    fn a_daily_streak_counts_today_once_it_is_reached() {
        let logged = dates(&["2026-03-08", "2026-03-09", "2026-03-10"]);
        assert_eq!(
            progress(Frequency::Daily, 1, logged, date("2026-03-10")),
            Progress {
                done_this_period: 1,
                streak: 3
            }
        );
    }

    #[test]
    fn an_open_today_does_not_break_the_streak() {
        let logged = dates(&["2026-03-07", "2026-03-08", "2026-03-09"]);
        assert_eq!(
            progress(Frequency::Daily, 1, logged, date("2026-03-10")),
            Progress {
                done_this_period: 0,
                streak: 3
            }
        );
    }

    #[test]
    fn a_missed_day_ends_the_streak() {
        // 03-07 missing; 03-10 is today and not logged yet.
        let logged = dates(&["2026-03-05", "2026-03-06", "2026-03-08", "2026-03-09"]);
        assert_eq!(
            progress(Frequency::Daily, 1, logged, date("2026-03-10")),
            Progress {
                done_this_period: 0,
                streak: 2
            }
        );
        // A gap of two days: yesterday is missed too, so there is no streak.
        let logged = dates(&["2026-03-07", "2026-03-08"]);
        assert_eq!(
            progress(Frequency::Daily, 1, logged, date("2026-03-10")).streak,
            0
        );
    }

    #[test]
    fn periods_below_target_do_not_count() {
        // Target 2: 03-09 has two logs, 03-08 only one.
        let logged = dates(&["2026-03-08", "2026-03-09", "2026-03-09", "2026-03-10"]);
        assert_eq!(
            progress(Frequency::Daily, 2, logged, date("2026-03-10")),
            Progress {
                done_this_period: 1,
                streak: 1
            }
        );
    }

    #[test]
    fn weeks_run_monday_to_sunday_across_the_iso_year_boundary() {
        // 2025-12-29 (Monday) to 2026-01-04 (Sunday) is ISO week 2026-W01;
        // 2025-12-22 to 2025-12-28 is 2025-W52.
        assert_eq!(
            period_start(Frequency::Weekly, date("2026-01-01")),
            date("2025-12-29")
        );
        assert_eq!(
            period_start(Frequency::Weekly, date("2026-01-04")),
            date("2025-12-29")
        );
        assert_eq!(
            period_start(Frequency::Weekly, date("2025-12-28")),
            date("2025-12-22")
        );
        assert_eq!(
            period_start(Frequency::Weekly, date("2025-12-29")),
            date("2025-12-29")
        );

        let logged = dates(&[
            "2025-12-15", // W51: one log, below the target of 2
            "2025-12-22", // W52
            "2025-12-28", // W52, Sunday
            "2025-12-29", // W01, Monday
        ]);
        // Thursday of W01: one of two done, so the streak is W52 alone.
        assert_eq!(
            progress(Frequency::Weekly, 2, logged.clone(), date("2026-01-01")),
            Progress {
                done_this_period: 1,
                streak: 1
            }
        );
        // A second log on Sunday of W01 reaches the target; W01 joins.
        let mut logged = logged;
        logged.push(date("2026-01-04"));
        assert_eq!(
            progress(Frequency::Weekly, 2, logged.clone(), date("2026-01-04")),
            Progress {
                done_this_period: 2,
                streak: 2
            }
        );
        // The next Monday starts a fresh week; the streak carries over.
        assert_eq!(
            progress(Frequency::Weekly, 2, logged, date("2026-01-05")),
            Progress {
                done_this_period: 0,
                streak: 2
            }
        );
    }

    #[test]
    fn a_zero_target_cannot_loop_forever() {
        assert_eq!(
            progress(Frequency::Daily, 0, [], date("2026-03-10")),
            Progress {
                done_this_period: 0,
                streak: 0
            }
        );
    }

    #[test]
    fn the_tools_build_and_the_color_schema_has_its_pattern() {
        let tools = tools().unwrap();
        let create = tools
            .iter()
            .find(|spec| spec.name.as_str() == "habits.create")
            .unwrap();
        let color = &create.input_schema["properties"]["color"];
        assert_eq!(color["pattern"], "^#[0-9A-Fa-f]{6}$", "{color}");
        assert!(
            create
                .validate(
                    &serde_json::json!({ "name": "Lesen", "frequency": "daily", "color": "red" })
                )
                .is_err()
        );
        assert!(create.validate(&serde_json::json!({ "name": "Lesen", "frequency": "daily", "color": "#a0B1c2" })).is_ok());
    }
}
