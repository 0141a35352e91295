//! The set of tools and the one way to call them: look the tool up, run the
//! policy gate, validate the arguments against the schema, then run the
//! handler inside the call's span.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::Value;
use tracing::Instrument as _;

use crate::context::ToolContext;
use crate::error::ToolError;
use crate::policy::{Decision, Denial, PolicyGate};
use crate::spec::ToolSpec;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("tool {0} is registered twice")]
    Duplicate(String),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
}

/// What a successful call returns.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolOutput {
    /// The structured result (matches the tool's output schema).
    pub value: Value,
    /// Reminders from the policy gate, to show beside the result.
    pub reminders: Vec<&'static str>,
}

/// Per-call permissions beyond the tool's own scope.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Access {
    /// The user opted in to destructive tools (never over MCP).
    pub destructive_opt_in: bool,
}

pub struct Registry {
    tools: BTreeMap<String, ToolSpec>,
    gate: PolicyGate,
}

impl Registry {
    pub fn new(gate: PolicyGate) -> Registry {
        Registry {
            tools: BTreeMap::new(),
            gate,
        }
    }

    /// Every tool of the app's modules.
    pub fn with_app_tools(gate: PolicyGate) -> Result<Registry, RegistryError> {
        let mut registry = Registry::new(gate);
        for spec in crate::tools::all()? {
            registry.register(spec)?;
        }
        Ok(registry)
    }

    pub fn register(&mut self, spec: ToolSpec) -> Result<(), RegistryError> {
        let name = spec.name.to_string();
        if self.tools.contains_key(&name) {
            return Err(RegistryError::Duplicate(name));
        }
        self.tools.insert(name, spec);
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&ToolSpec> {
        self.tools.get(name)
    }

    /// Every tool, by name.
    pub fn tools(&self) -> impl Iterator<Item = &ToolSpec> {
        self.tools.values()
    }

    /// The tools MCP clients may see: no admin scope, nothing destructive.
    pub fn public_tools(&self) -> impl Iterator<Item = &ToolSpec> {
        self.tools.values().filter(|spec| spec.is_public())
    }

    /// The modules that have at least one public tool.
    pub fn modules(&self) -> BTreeSet<&str> {
        self.public_tools().map(ToolSpec::module).collect()
    }

    pub fn gate(&self) -> &PolicyGate {
        &self.gate
    }

    /// Calls a tool. Invalid input, denials and handler failures are all
    /// [`ToolError`]s, which callers report as error results, never crashes.
    pub async fn invoke(
        &self,
        name: &str,
        arguments: Option<Value>,
        context: ToolContext,
        access: Access,
    ) -> Result<ToolOutput, ToolError> {
        let spec = self
            .get(name)
            .ok_or_else(|| ToolError::UnknownTool(name.to_owned()))?;
        let arguments = arguments.unwrap_or_else(|| Value::Object(Default::default()));
        let reminders = match self.gate.check(
            &context.user_id,
            spec,
            &arguments,
            access.destructive_opt_in,
            Instant::now(),
        ) {
            Decision::Allow { reminders } => reminders,
            Decision::Deny(Denial::AdminScope) => {
                // Reported as unknown: an admin tool's existence is not the caller's business.
                return Err(ToolError::UnknownTool(name.to_owned()));
            }
            Decision::Deny(Denial::Destructive) => {
                return Err(ToolError::Denied(format!(
                    "{name} is destructive and this account has not opted in to destructive tools"
                )));
            }
            Decision::Deny(Denial::RateLimited {
                limit,
                window,
                retry_after,
            }) => {
                return Err(ToolError::RateLimited {
                    tool: name.to_owned(),
                    limit,
                    window_secs: window.as_secs(),
                    retry_after_secs: retry_after.as_secs().max(1),
                });
            }
        };
        spec.validate(&arguments)?;
        let span = tracing::info_span!(parent: &context.span, "tool", tool = name, user_id = %context.user_id);
        let value = spec.call(arguments, context).instrument(span).await?;
        Ok(ToolOutput { value, reminders })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registering_a_name_twice_is_an_error() {
        let mut registry = Registry::new(PolicyGate::default());
        let mut tools = crate::tools::all().unwrap().into_iter();
        let first = tools.next().unwrap();
        registry.register(first.clone()).unwrap();
        let error = registry.register(first).unwrap_err();
        assert!(
            matches!(error, RegistryError::Duplicate(ref name) if name == "habits.create"),
            "{error}"
        );
    }

    #[test]
    fn admin_and_destructive_tools_are_not_public() {
        let mut registry = Registry::with_app_tools(PolicyGate::default()).unwrap();
        let count = registry.public_tools().count();
        #[derive(serde::Deserialize, schemars::JsonSchema)]
        struct Nothing {}
        #[derive(serde::Serialize, schemars::JsonSchema)]
        struct Done {}
        let handler = |_: Nothing, _| async { Ok::<_, ToolError>(Done {}) };
        let admin = ToolSpec::new("ops.reset", "reset", crate::PolicyHint::Write, handler)
            .unwrap()
            .admin();
        let wipe =
            ToolSpec::new("ops.wipe", "wipe", crate::PolicyHint::Destructive, handler).unwrap();
        registry.register(admin).unwrap();
        registry.register(wipe).unwrap();
        assert_eq!(registry.public_tools().count(), count);
        assert!(
            registry
                .get("ops.reset")
                .is_some_and(|spec| !spec.is_public())
        );
        assert!(
            registry
                .get("ops.wipe")
                .is_some_and(|spec| !spec.is_public())
        );
    }
}
