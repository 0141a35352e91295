//! What a tool does (read, search, create, act on a record, retire one),
//! judged from its LLM-safe name and its input schema alone, so the
//! simulator works with any app's tools, not a fixed list.

use super::args;
use crate::llm::ToolDef;

/// What a tool does, judged from its name and schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// Lists or shows without an id (`todo_list`, `mood_today`).
    Read,
    /// Needs a query (`notes_search`).
    Search,
    /// Makes a record (`todo_create`, `journal_add`).
    Create,
    /// Works on a record by its id (`todo_complete`, `habits_log`).
    Act,
    /// Archives or deletes a record by its id; rare.
    Retire,
    /// Anything else (`mood_log`).
    Other,
}

#[derive(Debug)]
pub(super) struct Tool<'a> {
    pub(super) def: &'a ToolDef,
    pub(super) module: &'a str,
    verb: &'a str,
    pub(super) kind: Kind,
}

impl<'a> Tool<'a> {
    pub(super) fn classify(def: &'a ToolDef) -> Tool<'a> {
        let module = module_of(&def.name);
        let verb = verb_of(&def.name);
        let schema = &def.input_schema;
        let needs_id = !args::required_id_fields(schema).is_empty();
        let needs_query = args::required(&args::effective(schema, schema, 0))
            .iter()
            .any(|name| matches!(name.as_str(), "query" | "q" | "search"));
        let starts = |prefixes: &[&str]| prefixes.iter().any(|prefix| verb.starts_with(prefix));
        let kind = if needs_id {
            if starts(&["archive", "delete", "remove"]) {
                Kind::Retire
            } else {
                Kind::Act
            }
        } else if starts(&["create", "add", "new"]) {
            Kind::Create
        } else if needs_query || starts(&["search", "find"]) {
            Kind::Search
        } else if starts(&["list", "get", "show", "today", "recent", "read", "view"]) {
            Kind::Read
        } else {
            Kind::Other
        };
        Tool {
            def,
            module,
            verb,
            kind,
        }
    }

    /// Whether a call leaves its record done with for this tick.
    pub(super) fn uses_up_id(&self) -> bool {
        ["complete", "archive", "delete", "remove", "finish"]
            .iter()
            .any(|prefix| self.verb.starts_with(prefix))
    }
}

/// `todo` of `todo_create` (the LLM-safe name of `todo.create`).
pub(super) fn module_of(name: &str) -> &str {
    catalog::module_of(name)
}

pub(super) fn verb_of(name: &str) -> &str {
    name.split_once('_').map_or("", |(_, verb)| verb)
}
