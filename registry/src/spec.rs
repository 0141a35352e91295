//! `ToolSpec`: a tool's name, description, module, scope, policy hint, JSON
//! Schemas derived from its Rust input and output types, encryption
//! declaration and handler.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::context::ToolContext;
use crate::error::ToolError;
use crate::input;

/// A tool name: `module.verb`, lowercase letters, digits and `_` on each side.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ToolName {
    name: String,
    dot: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "tool name {0:?} must be `module.verb` in lowercase letters, digits and '_' (for example todo.create)"
)]
pub struct BadToolName(pub String);

impl ToolName {
    pub fn parse(name: &str) -> Result<ToolName, BadToolName> {
        let valid_part = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        match name.split_once('.') {
            Some((module, verb)) if valid_part(module) && valid_part(verb) => Ok(ToolName {
                name: name.to_owned(),
                dot: module.len(),
            }),
            _ => Err(BadToolName(name.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.name
    }

    pub fn module(&self) -> &str {
        &self.name[..self.dot]
    }

    pub fn verb(&self) -> &str {
        &self.name[self.dot + 1..]
    }
}

impl fmt::Display for ToolName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// Who may see a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Works inside the caller's space; offered to every user.
    UserSpace,
    /// Operator-only; never listed or callable over MCP.
    Admin,
}

/// What a tool does to data, for the policy gate and tool annotations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyHint {
    Read,
    Write,
    /// Irreversible; only for users who opted in, never over MCP.
    Destructive,
}

/// Which fields of which collection a tool reads or writes encrypted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedFields {
    pub collection: &'static str,
    pub fields: Vec<&'static str>,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Value, ToolError>> + Send>>;
type Handler = Arc<dyn Fn(Value, ToolContext) -> BoxFuture + Send + Sync>;

#[derive(Clone)]
pub struct ToolSpec {
    pub name: ToolName,
    /// Written for an LLM: what the tool does and when to use it.
    pub description: &'static str,
    pub scope: Scope,
    pub policy: PolicyHint,
    pub input_schema: Arc<Map<String, Value>>,
    pub output_schema: Arc<Map<String, Value>>,
    pub encrypted_fields: Option<EncryptedFields>,
    validator: Arc<jsonschema::Validator>,
    handler: Handler,
}

impl fmt::Debug for ToolSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolSpec")
            .field("name", &self.name)
            .field("scope", &self.scope)
            .field("policy", &self.policy)
            .field("encrypted_fields", &self.encrypted_fields)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    Name(#[from] BadToolName),
    #[error("the input schema of {tool} is not an object schema: {reason}")]
    Schema { tool: String, reason: String },
}

impl ToolSpec {
    /// A user-space tool with the given policy hint; the input and output
    /// schemas come from `I` and `O`.
    pub fn new<I, O, F, Fut>(
        name: &str,
        description: &'static str,
        policy: PolicyHint,
        handler: F,
    ) -> Result<ToolSpec, SpecError>
    where
        I: DeserializeOwned + JsonSchema + Send + 'static,
        O: Serialize + JsonSchema + 'static,
        F: Fn(I, ToolContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, ToolError>> + Send + 'static,
    {
        let name = ToolName::parse(name)?;
        let input_schema = object_schema::<I>(&name)?;
        let output_schema = object_schema::<O>(&name)?;
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&Value::Object(input_schema.clone()))
            .map_err(|error| SpecError::Schema {
                tool: name.to_string(),
                reason: error.to_string(),
            })?;
        let handler = Arc::new(handler);
        let handler: Handler = Arc::new(move |arguments: Value, context: ToolContext| {
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let input: I = input::deserialize(arguments)?;
                let output = handler(input, context).await?;
                serde_json::to_value(output).map_err(|error| ToolError::Internal(error.to_string()))
            }) as BoxFuture
        });
        Ok(ToolSpec {
            name,
            description,
            scope: Scope::UserSpace,
            policy,
            input_schema: Arc::new(input_schema),
            output_schema: Arc::new(output_schema),
            encrypted_fields: None,
            validator: Arc::new(validator),
            handler,
        })
    }

    pub fn admin(mut self) -> ToolSpec {
        self.scope = Scope::Admin;
        self
    }

    /// Declares the encrypted fields the tool touches; audited against the
    /// app's encryption table.
    pub fn encrypts(mut self, collection: &'static str, fields: &[&'static str]) -> ToolSpec {
        self.encrypted_fields = Some(EncryptedFields {
            collection,
            fields: fields.to_vec(),
        });
        self
    }

    pub fn module(&self) -> &str {
        self.name.module()
    }

    /// Whether MCP clients may see and call it.
    pub fn is_public(&self) -> bool {
        self.scope == Scope::UserSpace && self.policy != PolicyHint::Destructive
    }

    /// Checks `arguments` against the input schema, naming every bad field.
    pub fn validate(&self, arguments: &Value) -> Result<(), ToolError> {
        input::validate(&self.validator, arguments)
    }

    /// Runs the handler on already validated arguments.
    pub(crate) async fn call(
        &self,
        arguments: Value,
        context: ToolContext,
    ) -> Result<Value, ToolError> {
        (self.handler)(arguments, context).await
    }
}

fn object_schema<T: JsonSchema>(name: &ToolName) -> Result<Map<String, Value>, SpecError> {
    let schema =
        serde_json::to_value(schemars::schema_for!(T)).map_err(|error| SpecError::Schema {
            tool: name.to_string(),
            reason: error.to_string(),
        })?;
    match schema {
        Value::Object(map) if map.get("type") == Some(&Value::String("object".into())) => Ok(map),
        other => Err(SpecError::Schema {
            tool: name.to_string(),
            reason: format!("expected {{\"type\": \"object\", …}}, got {other}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_are_module_dot_verb() {
        let name = ToolName::parse("calendar.create_event").unwrap();
        assert_eq!((name.module(), name.verb()), ("calendar", "create_event"));
        for bad in [
            "todo",
            "Todo.create",
            "todo.",
            ".create",
            "todo.create.now",
            "todo-x.create",
            "",
        ] {
            assert!(ToolName::parse(bad).is_err(), "{bad}");
        }
    }
}
