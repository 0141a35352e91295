//! `persona audit encrypted-tools`: every tool's encryption declaration
//! against the app's authoritative table.
//!
//! - missing-collection: a tool declares a collection the table does not
//!   encrypt — fails;
//! - field-drift: both encrypt the collection but the field lists differ —
//!   fails (half-encrypted data on the wire is silent damage);
//! - disabled: the table's entry is disabled while a tool declares
//!   encryption — advisory only.

use std::collections::BTreeSet;
use std::fmt;

use crate::encryption::CollectionEncryption;
use crate::registry::Registry;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    MissingCollection {
        tool: String,
        collection: String,
    },
    FieldDrift {
        tool: String,
        collection: String,
        declared: Vec<String>,
        authoritative: Vec<String>,
    },
    Disabled {
        tool: String,
        collection: String,
    },
}

impl Finding {
    /// Whether this finding fails the audit (everything but `disabled`).
    pub fn is_failure(&self) -> bool {
        !matches!(self, Finding::Disabled { .. })
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::MissingCollection { tool, collection } => write!(
                f,
                "missing-collection: {tool} declares encrypted collection {collection:?}, which the app's encryption table does not encrypt"
            ),
            Finding::FieldDrift {
                tool,
                collection,
                declared,
                authoritative,
            } => write!(
                f,
                "field-drift: {tool} on {collection:?} declares [{}] but the app encrypts [{}]",
                declared.join(", "),
                authoritative.join(", ")
            ),
            Finding::Disabled { tool, collection } => write!(
                f,
                "disabled (advisory): {tool} declares encryption for {collection:?}, whose table entry is disabled"
            ),
        }
    }
}

/// Every drift between the registry's declarations and `table`, by tool.
pub fn audit_encrypted_tools(registry: &Registry, table: &[CollectionEncryption]) -> Vec<Finding> {
    let mut findings = Vec::new();
    for spec in registry.tools() {
        let Some(declared) = &spec.encrypted_fields else {
            continue;
        };
        let tool = spec.name.to_string();
        let collection = declared.collection.to_owned();
        let Some(entry) = table
            .iter()
            .find(|entry| entry.collection == declared.collection)
        else {
            findings.push(Finding::MissingCollection { tool, collection });
            continue;
        };
        if !entry.enabled {
            findings.push(Finding::Disabled { tool, collection });
            continue;
        }
        let declared_set: BTreeSet<&str> = declared.fields.iter().copied().collect();
        let authoritative_set: BTreeSet<&str> = entry.fields.iter().copied().collect();
        if declared_set != authoritative_set {
            findings.push(Finding::FieldDrift {
                tool,
                collection,
                declared: declared_set.into_iter().map(str::to_owned).collect(),
                authoritative: authoritative_set.into_iter().map(str::to_owned).collect(),
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encryption::ENCRYPTION_TABLE;
    use crate::policy::PolicyGate;

    fn app_registry() -> Registry {
        Registry::with_app_tools(PolicyGate::default()).unwrap()
    }

    #[test]
    fn the_shipped_registry_has_no_drift() {
        assert_eq!(
            audit_encrypted_tools(&app_registry(), ENCRYPTION_TABLE),
            vec![]
        );
    }

    #[test]
    fn a_planted_drift_is_caught_with_both_field_lists() {
        // Shorten the todo tools' declaration, as a careless edit would.
        let mut registry = Registry::new(PolicyGate::default());
        for spec in crate::tools::all().unwrap() {
            let spec = if spec.name.module() == "todo" {
                spec.encrypts("tasks", &["title"])
            } else {
                spec
            };
            registry.register(spec).unwrap();
        }
        let findings = audit_encrypted_tools(&registry, ENCRYPTION_TABLE);
        let drifted: Vec<&str> = findings
            .iter()
            .map(|finding| match finding {
                Finding::FieldDrift {
                    tool,
                    declared,
                    authoritative,
                    ..
                } => {
                    assert_eq!(declared, &["title"]);
                    assert_eq!(
                        authoritative,
                        &["description", "metadata", "subtasks", "title"]
                    );
                    tool.as_str()
                }
                other => panic!("unexpected finding {other}"),
            })
            .collect();
        assert_eq!(drifted, vec!["todo.complete", "todo.create", "todo.list"]);
        assert!(findings.iter().all(Finding::is_failure));
        assert!(findings[0].to_string().contains(
            "declares [title] but the app encrypts [description, metadata, subtasks, title]"
        ));
    }

    #[test]
    fn missing_and_disabled_collections_are_reported() {
        let table = [CollectionEncryption {
            collection: "tasks",
            fields: &["title", "description", "subtasks", "metadata"],
            enabled: false,
        }];
        let findings = audit_encrypted_tools(&app_registry(), &table);
        assert!(
            findings
                .iter()
                .any(|f| matches!(f, Finding::Disabled { tool, .. } if tool == "todo.create"))
        );
        assert!(findings.iter().any(
            |f| matches!(f, Finding::MissingCollection { collection, .. } if collection == "notes")
        ));
        assert!(
            !findings
                .iter()
                .find(|f| matches!(f, Finding::Disabled { .. }))
                .unwrap()
                .is_failure()
        );
    }
}
