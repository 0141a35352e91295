//! Which module a tool belongs to, so that every tool of any MCP server is
//! rated with its module: the text before the first `.`, `/` or `_` (so
//! `__` too) — `todo.list` → `todo`, `files/read` → `files`,
//! `github__create_issue` → `github`, `create_entities` → `create` — and a
//! name without one is its own module (`echo`).
//!
//! The provider-safe names the LLM sees (`todo_list` for `todo.list`, see
//! `actors::llm::names`) map to the same module, because `_` counts too.

/// The module of `tool`: the text before its first separator, or the whole
/// name when it has none (or starts with one).
pub fn module_of(tool: &str) -> &str {
    match tool.find(['.', '/', '_']) {
        Some(0) | None => tool,
        Some(end) => &tool[..end],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_a_module() {
        for (tool, module) in [
            ("todo.list", "todo"),
            ("todo_list", "todo"),
            ("files/read", "files"),
            ("github__create_issue", "github"),
            ("create_entities", "create"),
            ("read_graph", "read"),
            ("echo", "echo"),
            ("_private", "_private"),
            ("", ""),
        ] {
            assert_eq!(module_of(tool), module, "{tool}");
        }
    }
}
