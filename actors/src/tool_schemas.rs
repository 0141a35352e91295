//! The listed tools' input schemas, compiled once per tick, to tell whose
//! failure a refused call is. Arguments the schema rejects still go to the
//! app, so its own validation and error text are exercised and the persona
//! lives through them; but when the app then answers an error, the model
//! broke the contract the app published, and the row is the agent's.
//!
//! A schema that does not compile is not the model's fault: it judges
//! nothing, and its tool's errors stay the app's.

use std::collections::HashMap;

use serde_json::Value;

use crate::mcp_client::ToolInfo;

/// Each listed tool's compiled input schema, by the app's tool name.
#[derive(Default)]
pub struct ToolSchemas {
    validators: HashMap<String, jsonschema::Validator>,
}

impl ToolSchemas {
    /// Compiles every tool's schema; one that does not compile is left out
    /// and logged at debug.
    pub fn compile(tools: &[ToolInfo]) -> ToolSchemas {
        let validators = tools
            .iter()
            .filter_map(|tool| {
                // The app checks `format` (dates, ids) too, so a format the
                // schema names is part of the contract.
                match jsonschema::options()
                    .should_validate_formats(true)
                    .build(&tool.input_schema)
                {
                    Ok(validator) => Some((tool.name.clone(), validator)),
                    Err(error) => {
                        tracing::debug!(
                            tool = %tool.name,
                            %error,
                            "the tool's input schema does not compile; its errors stay the app's"
                        );
                        None
                    }
                }
            })
            .collect();
        ToolSchemas { validators }
    }

    /// Whether `tool`'s listed schema rejects `arguments`; `false` for a
    /// tool without a compiled schema.
    pub fn rejects(&self, tool: &str, arguments: &Value) -> bool {
        self.validators
            .get(tool)
            .is_some_and(|validator| !validator.is_valid(arguments))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(name: &str, input_schema: Value) -> ToolInfo {
        ToolInfo {
            name: name.into(),
            description: String::new(),
            input_schema,
        }
    }

    #[test]
    fn a_listed_schema_judges_its_tools_arguments() {
        let schemas = ToolSchemas::compile(&[tool(
            "todo.create",
            json!({
                "type": "object",
                "properties": {
                    "title": { "type": "string", "minLength": 1 },
                    "dueDate": { "type": "string", "format": "date" }
                },
                "required": ["title"]
            }),
        )]);
        assert!(!schemas.rejects("todo.create", &json!({ "title": "Einkaufen" })));
        assert!(schemas.rejects("todo.create", &json!({})));
        assert!(schemas.rejects("todo.create", &json!({ "title": "" })));
        assert!(schemas.rejects("todo.create", &json!({ "title": "x", "dueDate": "morgen" })));
        assert!(!schemas.rejects("todo.unlisted", &json!({})));
    }

    #[test]
    fn a_schema_that_does_not_compile_judges_nothing() {
        let schemas = ToolSchemas::compile(&[tool("notes.create", json!({ "type": 12 }))]);
        assert!(!schemas.rejects("notes.create", &json!({})));
        assert!(!schemas.rejects("notes.create", &json!("not even an object")));
    }
}
