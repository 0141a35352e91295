//! Reversible mapping between MCP tool names (`todo.create`, up to 128
//! characters of `[A-Za-z0-9_.-]`) and names LLM APIs accept
//! (`^[a-zA-Z0-9_-]{1,64}$`).
//!
//! Dots become `_`, anything else outside the alphabet becomes `-`, and the
//! result is cut to 64 characters; a collision gets a numeric suffix. The map
//! is built once per conversation from the tools the server listed, so the
//! way back is a lookup, never a guess.

use std::collections::HashMap;

/// The longest tool name LLM APIs accept.
pub const MAX_LLM_TOOL_NAME: usize = 64;

#[derive(Debug, Clone, Default)]
pub struct ToolNames {
    to_llm: HashMap<String, String>,
    to_mcp: HashMap<String, String>,
}

impl ToolNames {
    pub fn new<'a>(mcp_names: impl IntoIterator<Item = &'a str>) -> ToolNames {
        let mut names = ToolNames::default();
        for mcp_name in mcp_names {
            if names.to_llm.contains_key(mcp_name) {
                continue;
            }
            let base = sanitize(mcp_name);
            let mut candidate = base.clone();
            let mut suffix = 2;
            while names.to_mcp.contains_key(&candidate) {
                let tail = format!("_{suffix}");
                let keep = MAX_LLM_TOOL_NAME - tail.len();
                candidate = format!("{}{tail}", &base[..base.len().min(keep)]);
                suffix += 1;
            }
            names.to_llm.insert(mcp_name.to_owned(), candidate.clone());
            names.to_mcp.insert(candidate, mcp_name.to_owned());
        }
        names
    }

    /// The name to show the model.
    pub fn to_llm(&self, mcp_name: &str) -> Option<&str> {
        self.to_llm.get(mcp_name).map(String::as_str)
    }

    /// The MCP name behind a name the model used; `None` for a name the
    /// model made up.
    pub fn to_mcp(&self, llm_name: &str) -> Option<&str> {
        self.to_mcp.get(llm_name).map(String::as_str)
    }
}

fn sanitize(name: &str) -> String {
    let mapped: String = name
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '_' | '-' => c,
            '.' => '_',
            _ => '-',
        })
        .take(MAX_LLM_TOOL_NAME)
        .collect();
    if mapped.is_empty() {
        "tool".to_owned()
    } else {
        mapped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        (1..=MAX_LLM_TOOL_NAME).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn maps_both_ways_and_resolves_collisions() {
        let long = format!("module.{}", "x".repeat(120));
        let names = ToolNames::new([
            "todo.create",
            "todo_create",
            "calendar.create_event",
            "weird name/ü",
            long.as_str(),
        ]);
        for mcp in [
            "todo.create",
            "todo_create",
            "calendar.create_event",
            "weird name/ü",
            long.as_str(),
        ] {
            let llm = names.to_llm(mcp).unwrap();
            assert!(valid(llm), "{llm}");
            assert_eq!(names.to_mcp(llm), Some(mcp));
        }
        assert_eq!(names.to_llm("todo.create"), Some("todo_create"));
        assert_eq!(names.to_llm("todo_create"), Some("todo_create_2"));
        assert_eq!(names.to_mcp("made_up"), None);
    }
}
