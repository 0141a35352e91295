//! Who failed, per tool and per module: the personas' calls of the last 7
//! days and how many of them were the app's errors and how many the agent's.
//! An app error rate counts the app's errors only, so a model that keeps
//! sending bad arguments does not make a module look broken; the agent's
//! errors are reported beside it.

use std::collections::BTreeMap;

use catalog::{ActionResult, FailedBy};
use chrono::{DateTime, TimeDelta, Utc};
use sqlx::FromRow;

use super::{Store, StoreError, to_u64, with_pool};

/// The start of the window the admin list and detail count in: the 7 days
/// before `now`.
pub(super) fn last_7_days(now: DateTime<Utc>) -> DateTime<Utc> {
    now - TimeDelta::days(7)
}

/// The calls to one tool or module and whose failures its errors were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorCounts {
    /// The tool (`todo.create`) or the module (`todo`).
    pub name: String,
    pub calls: u64,
    /// Error rows that were the app's, old rows without `failed_by`
    /// included: before the label existed, every error was taken for the
    /// app's.
    pub app_errors: u64,
    /// Error rows the model caused (bad arguments, an unknown tool).
    pub agent_errors: u64,
}

impl ErrorCounts {
    /// `app_errors / calls`; `None` without calls, never a division by zero.
    pub fn app_error_rate(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.app_errors as f64 / self.calls as f64)
    }
}

/// Error counts per tool, and the same summed per module, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRates {
    pub tools: Vec<ErrorCounts>,
    pub modules: Vec<ErrorCounts>,
}

#[derive(FromRow)]
struct ToolErrorsRow {
    tool_name: String,
    calls: i64,
    app_errors: i64,
    agent_errors: i64,
}

impl Store {
    /// The calls of the 7 days before `now` per tool and module, with their
    /// app and agent errors: one persona's, or every persona's (`None`).
    pub async fn error_rates(
        &self,
        persona_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<ErrorRates, StoreError> {
        let rows: Vec<ToolErrorsRow> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT tool_name, COUNT(*) AS calls, \
                     SUM(CASE WHEN result = $2 AND (failed_by IS NULL OR failed_by = $3) \
                         THEN 1 ELSE 0 END) AS app_errors, \
                     SUM(CASE WHEN result = $2 AND failed_by = $4 THEN 1 ELSE 0 END) AS agent_errors \
                 FROM persona_actions \
                 WHERE created_at >= $1 AND ($5 IS NULL OR persona_id = $5) \
                 GROUP BY tool_name ORDER BY tool_name",
            )
            .bind(last_7_days(now))
            .bind(ActionResult::Error.as_str())
            .bind(FailedBy::App.as_str())
            .bind(FailedBy::Agent.as_str())
            .bind(persona_id)
            .fetch_all(pool)
            .await?
        });
        let tools = rows
            .into_iter()
            .map(|row| {
                Ok(ErrorCounts {
                    calls: to_u64(row.calls, "call count")?,
                    app_errors: to_u64(row.app_errors, "app error count")?,
                    agent_errors: to_u64(row.agent_errors, "agent error count")?,
                    name: row.tool_name,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let modules = by_module(&tools);
        Ok(ErrorRates { tools, modules })
    }
}

/// Sums tool counts per module (`catalog::module_of`: the text before a
/// tool name's first `.`, `/` or `_`, the whole name when it has none).
fn by_module(tools: &[ErrorCounts]) -> Vec<ErrorCounts> {
    let mut modules: BTreeMap<&str, ErrorCounts> = BTreeMap::new();
    for tool in tools {
        let module = catalog::module_of(&tool.name);
        let sum = modules.entry(module).or_insert_with(|| ErrorCounts {
            name: module.to_owned(),
            calls: 0,
            app_errors: 0,
            agent_errors: 0,
        });
        sum.calls += tool.calls;
        sum.app_errors += tool.app_errors;
        sum.agent_errors += tool.agent_errors;
    }
    modules.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(name: &str, calls: u64, app_errors: u64, agent_errors: u64) -> ErrorCounts {
        ErrorCounts {
            name: name.into(),
            calls,
            app_errors,
            agent_errors,
        }
    }

    #[test]
    fn modules_sum_their_tools_and_a_rate_needs_calls() {
        let modules = by_module(&[
            counts("notes.create", 1, 0, 0),
            counts("todo.create", 4, 1, 2),
            counts("todo.list", 2, 1, 0),
            counts("ops", 1, 1, 0),
        ]);
        assert_eq!(
            modules,
            vec![
                counts("notes", 1, 0, 0),
                counts("ops", 1, 1, 0),
                counts("todo", 6, 2, 2),
            ]
        );
        assert_eq!(modules[2].app_error_rate(), Some(2.0 / 6.0));
        assert_eq!(counts("todo", 0, 0, 0).app_error_rate(), None);
    }
}
