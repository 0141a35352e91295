//! The app's tool modules. Each file is one module (`habits`, `todo`, …)
//! holding its input/output types and handlers; `all()` lists every tool.
//!
//! Conventions: inputs and outputs are camelCase JSON, inputs reject unknown
//! fields (so a misspelt field is named, not ignored), ids are UUIDs, dates
//! are `YYYY-MM-DD` and instants RFC 3339. Limits that a schema can say are
//! in the schema (the agent sees them); the rest are checked by [`Checks`],
//! which collects every bad field before failing.

mod calendar;
mod contacts;
mod habits;
mod journal;
mod mood;
mod notes;
mod spaces;
mod todo;

use chrono::NaiveDate;

use crate::error::{FieldError, ToolError};
use crate::spec::{SpecError, ToolSpec};

/// Every tool of the app.
pub fn all() -> Result<Vec<ToolSpec>, SpecError> {
    let mut tools = Vec::new();
    for module in [
        habits::tools as fn() -> Result<Vec<ToolSpec>, SpecError>,
        spaces::tools,
        todo::tools,
        notes::tools,
        journal::tools,
        mood::tools,
        calendar::tools,
        contacts::tools,
    ] {
        tools.extend(module()?);
    }
    Ok(tools)
}

/// Checks beyond the schema, collected so every bad field is reported at once.
#[derive(Default)]
pub(crate) struct Checks(Vec<FieldError>);

impl Checks {
    /// Text that must have something besides whitespace.
    pub(crate) fn not_blank(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.0.push(FieldError::new(
                field,
                "must not be empty or only whitespace",
            ));
        }
    }

    pub(crate) fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    pub(crate) fn finish(self) -> Result<(), ToolError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ToolError::InvalidInput(self.0))
        }
    }
}

/// Case-insensitive substring search over optional texts.
pub(crate) fn matches_query<'a>(
    query: &str,
    texts: impl IntoIterator<Item = Option<&'a str>>,
) -> bool {
    let query = query.trim().to_lowercase();
    texts
        .into_iter()
        .flatten()
        .any(|text| text.to_lowercase().contains(&query))
}

/// An optional text trimmed, with blank treated as absent.
pub(crate) fn non_blank(text: Option<String>) -> Option<String> {
    text.map(|text| text.trim().to_owned())
        .filter(|text| !text.is_empty())
}

pub(crate) fn today(context: &crate::context::ToolContext) -> NaiveDate {
    context.now.date_naive()
}
