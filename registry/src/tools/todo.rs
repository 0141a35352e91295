//! `todo.create`, `todo.list`, `todo.complete` over the encrypted `tasks`
//! collection.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::Checks;
use crate::context::{Doc, ToolContext};
use crate::error::ToolError;
use crate::spec::{PolicyHint, SpecError, ToolSpec};

const COLLECTION: &str = "tasks";
const ENCRYPTED: &[&str] = &["title", "description", "subtasks", "metadata"];

pub(super) fn tools() -> Result<Vec<ToolSpec>, SpecError> {
    Ok(vec![
        ToolSpec::new(
            "todo.create",
            "Create a task in the current space. Give a short title; optionally a description, a due \
             date (YYYY-MM-DD), a priority and subtasks. Returns the task with its id.",
            PolicyHint::Write,
            create,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
        ToolSpec::new(
            "todo.list",
            "List tasks of the current space: open ones by default, or done/all. Open tasks come \
             first, by due date. Use the ids with todo.complete.",
            PolicyHint::Read,
            list,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
        ToolSpec::new(
            "todo.complete",
            "Mark a task as done by its id (from todo.list or todo.create). Completing a done task \
             again changes nothing.",
            PolicyHint::Write,
            complete,
        )?
        .encrypts(COLLECTION, ENCRYPTED),
    ])
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Subtask {
    pub title: String,
    pub done: bool,
}

/// A task as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Task {
    title: String,
    #[serde(default)]
    description: Option<String>,
    done: bool,
    #[serde(default)]
    due_date: Option<NaiveDate>,
    #[serde(default)]
    priority: Priority,
    #[serde(default)]
    subtasks: Vec<Subtask>,
    #[serde(default)]
    completed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskOut {
    id: String,
    title: String,
    description: Option<String>,
    done: bool,
    due_date: Option<NaiveDate>,
    priority: Priority,
    subtasks: Vec<Subtask>,
    created_at: DateTime<Utc>,
    completed_at: Option<DateTime<Utc>>,
}

impl From<Doc<Task>> for TaskOut {
    fn from(doc: Doc<Task>) -> TaskOut {
        TaskOut {
            id: doc.id,
            title: doc.doc.title,
            description: doc.doc.description,
            done: doc.doc.done,
            due_date: doc.doc.due_date,
            priority: doc.doc.priority,
            subtasks: doc.doc.subtasks,
            created_at: doc.created_at,
            completed_at: doc.doc.completed_at,
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateInput {
    /// What to do, in a few words.
    #[schemars(length(min = 1, max = 500))]
    title: String,
    #[schemars(length(max = 5000))]
    description: Option<String>,
    /// Due date, YYYY-MM-DD.
    due_date: Option<NaiveDate>,
    priority: Option<Priority>,
    /// Titles of subtasks, each 1–200 characters.
    #[schemars(length(max = 50), inner(length(min = 1, max = 200)))]
    subtasks: Option<Vec<String>>,
}

async fn create(input: CreateInput, context: ToolContext) -> Result<TaskOut, ToolError> {
    let mut checks = Checks::default();
    checks.not_blank("title", &input.title);
    for (index, subtask) in input.subtasks.iter().flatten().enumerate() {
        checks.not_blank(&format!("subtasks[{index}]"), subtask);
    }
    checks.finish()?;
    let task = Task {
        title: input.title.trim().to_owned(),
        description: input.description.filter(|text| !text.trim().is_empty()),
        done: false,
        due_date: input.due_date,
        priority: input.priority.unwrap_or_default(),
        subtasks: input
            .subtasks
            .unwrap_or_default()
            .into_iter()
            .map(|title| Subtask {
                title: title.trim().to_owned(),
                done: false,
            })
            .collect(),
        completed_at: None,
    };
    Ok(context.records(COLLECTION).insert(&task).await?.into())
}

#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Status {
    #[default]
    Open,
    Done,
    All,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ListInput {
    /// Which tasks: open (default), done or all.
    status: Option<Status>,
    /// At most this many tasks (default 50).
    #[schemars(range(min = 1, max = 200))]
    limit: Option<u32>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListOutput {
    tasks: Vec<TaskOut>,
    /// How many tasks matched before the limit.
    total: usize,
}

async fn list(input: ListInput, context: ToolContext) -> Result<ListOutput, ToolError> {
    let status = input.status.unwrap_or_default();
    let mut tasks: Vec<Doc<Task>> = context
        .records(COLLECTION)
        .list()
        .await?
        .into_iter()
        .filter(|doc: &Doc<Task>| match status {
            Status::Open => !doc.doc.done,
            Status::Done => doc.doc.done,
            Status::All => true,
        })
        .collect();
    tasks.sort_by(|a, b| {
        (
            a.doc.done,
            a.doc.due_date.is_none(),
            a.doc.due_date,
            a.created_at,
        )
            .cmp(&(
                b.doc.done,
                b.doc.due_date.is_none(),
                b.doc.due_date,
                b.created_at,
            ))
    });
    let total = tasks.len();
    let limit = input.limit.unwrap_or(50) as usize;
    Ok(ListOutput {
        tasks: tasks.into_iter().take(limit).map(TaskOut::from).collect(),
        total,
    })
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteInput {
    /// The task's id.
    id: Uuid,
}

async fn complete(input: CompleteInput, context: ToolContext) -> Result<TaskOut, ToolError> {
    let records = context.records(COLLECTION);
    let id = input.id.to_string();
    let task: Doc<Task> = records.require("task", &id).await?;
    if task.doc.done {
        return Ok(task.into());
    }
    let mut patch = Map::new();
    patch.insert("done".into(), Value::Bool(true));
    patch.insert(
        "completedAt".into(),
        serde_json::to_value(context.now).unwrap_or(Value::Null),
    );
    Ok(records.update::<Task>("task", &id, patch).await?.into())
}
