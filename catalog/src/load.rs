//! Reading `personas.json` into a [`Catalog`].
//!
//! The file is walked as a `serde_json::Value` rather than deserialised in one
//! go, because serde stops at the first error while an operator fixing a catalog
//! wants every problem at once, each with the JSON path where it sits.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::spec::{Archetype, Cadence, ModuleMix, PersonaSpec, SharedSpace, SpaceType};

/// The catalog shipped with the project, compiled in so `persona up` can seed a
/// fresh database without being told where the file is.
pub const SHIPPED_CATALOG_JSON: &str = include_str!("../personas.json");

/// Persona emails must use this domain unless configured otherwise: `.test` is
/// reserved (RFC 2606), so a mail sent to a persona can never reach a person.
pub const DEFAULT_TEST_DOMAIN: &str = "mana.test";

/// The only catalog format version this crate reads.
const FORMAT_VERSION: u64 = 1;

/// What the loader checks against besides the file itself.
#[derive(Debug, Clone, Copy)]
pub struct LoadOptions<'a> {
    /// The domain every persona email must use.
    pub test_domain: &'a str,
    /// The modules the app has tools for; a module outside it is a warning.
    /// `None` skips the check.
    pub known_modules: Option<&'a [&'a str]>,
}

impl Default for LoadOptions<'_> {
    fn default() -> Self {
        LoadOptions {
            test_domain: DEFAULT_TEST_DOMAIN,
            known_modules: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The catalog cannot be used until this is fixed.
    Error,
    /// The catalog is usable, but this is probably a mistake.
    Warning,
}

/// One thing wrong with a catalog, located by its JSON path (`$.personas[2].email`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub severity: Severity,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{label}: {}: {}", self.path, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read the catalog file {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the catalog is not valid JSON (line {}, column {}): {error}", error.line(), error.column())]
    Syntax { error: serde_json::Error },
    #[error(
        "the catalog has {} error(s):\n{}",
        count_errors(problems),
        list(problems)
    )]
    Invalid {
        /// Every problem found, errors and warnings, in file order.
        problems: Vec<Problem>,
    },
}

fn count_errors(problems: &[Problem]) -> usize {
    problems
        .iter()
        .filter(|problem| problem.severity == Severity::Error)
        .count()
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|problem| format!("  {problem}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A valid catalog, with the warnings found while loading it.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub personas: Vec<PersonaSpec>,
    pub warnings: Vec<Problem>,
}

impl Catalog {
    pub fn from_path(path: &Path, options: LoadOptions<'_>) -> Result<Catalog, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Read {
            path: path.to_owned(),
            source,
        })?;
        Catalog::from_json_str(&text, options)
    }

    /// The catalog compiled into the binary (`catalog/personas.json`).
    pub fn shipped(options: LoadOptions<'_>) -> Result<Catalog, CatalogError> {
        Catalog::from_json_str(SHIPPED_CATALOG_JSON, options)
    }

    pub fn from_json_str(text: &str, options: LoadOptions<'_>) -> Result<Catalog, CatalogError> {
        let value: Value =
            serde_json::from_str(text).map_err(|error| CatalogError::Syntax { error })?;
        Catalog::from_value(&value, options)
    }

    pub fn from_value(value: &Value, options: LoadOptions<'_>) -> Result<Catalog, CatalogError> {
        let mut checker = Checker {
            options,
            problems: Vec::new(),
        };
        let personas = checker.catalog(value);
        if checker
            .problems
            .iter()
            .any(|problem| problem.severity == Severity::Error)
        {
            return Err(CatalogError::Invalid {
                problems: checker.problems,
            });
        }
        Ok(Catalog {
            personas,
            warnings: checker.problems,
        })
    }

    /// Looks a persona up by email, ignoring case as the user store does.
    pub fn find_by_email(&self, email: &str) -> Option<&PersonaSpec> {
        self.personas
            .iter()
            .find(|persona| persona.email.eq_ignore_ascii_case(email))
    }
}

struct Checker<'a> {
    options: LoadOptions<'a>,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            severity: Severity::Error,
            path: path.to_owned(),
            message: message.into(),
        });
    }

    fn warning(&mut self, path: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            severity: Severity::Warning,
            path: path.to_owned(),
            message: message.into(),
        });
    }

    fn catalog(&mut self, value: &Value) -> Vec<PersonaSpec> {
        let Some(root) = value.as_object() else {
            self.error("$", "expected an object with a \"personas\" array");
            return Vec::new();
        };
        self.unknown_keys("$", root, &["version", "draft", "personas"]);
        // `persona catalog init` marks what it writes; it works, but its
        // personas are placeholders until someone edits them.
        match root.get("draft") {
            None => {}
            Some(Value::String(note)) => {
                self.warning("$.draft", format!("this catalog is a draft ({note})"))
            }
            Some(_) => self.error("$.draft", "expected a note (a string), or no draft line"),
        }
        match root.get("version") {
            None => {}
            Some(Value::Number(number)) if number.as_u64() == Some(FORMAT_VERSION) => {}
            Some(other) => self.error(
                "$.version",
                format!(
                    "unsupported catalog version {other}; this build reads version {FORMAT_VERSION}"
                ),
            ),
        }
        let Some(entries) = root.get("personas").and_then(Value::as_array) else {
            self.error("$.personas", "expected an array of personas");
            return Vec::new();
        };
        if entries.is_empty() {
            self.error("$.personas", "the catalog lists no personas");
        }
        let personas: Vec<(String, Option<PersonaSpec>)> = entries
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                let path = format!("$.personas[{index}]");
                let persona = self.persona(&path, entry);
                (path, persona)
            })
            .collect();
        // Partners are looked up among every email written in the file, so a
        // persona whose own entry is broken is not also reported as unknown.
        let written_emails: HashSet<String> = entries
            .iter()
            .filter_map(|entry| entry.get("email").and_then(Value::as_str))
            .map(str::to_lowercase)
            .collect();
        self.duplicates(&personas);
        self.partners(&personas, &written_emails);
        personas
            .into_iter()
            .filter_map(|(_, persona)| persona)
            .collect()
    }

    fn persona(&mut self, path: &str, value: &Value) -> Option<PersonaSpec> {
        let Some(object) = value.as_object() else {
            self.error(path, "expected a persona object");
            return None;
        };
        self.unknown_keys(
            path,
            object,
            &[
                "name",
                "email",
                "archetype",
                "cadence",
                "moduleMix",
                "systemPrompt",
                "sharedSpaces",
            ],
        );
        let name = self.non_empty_string(path, object, "name");
        let email = self.email(path, object);
        let archetype = self
            .string(path, object, "archetype")
            .and_then(|(field, text)| self.parsed(&field, Archetype::parse(text)));
        let cadence = self
            .string(path, object, "cadence")
            .and_then(|(field, text)| self.parsed(&field, Cadence::parse(text)));
        let module_mix = self.module_mix(path, object);
        let system_prompt = self.non_empty_string(path, object, "systemPrompt");
        let shared_spaces = self.shared_spaces(path, object);
        Some(PersonaSpec {
            name: name?,
            email: email?,
            archetype: archetype?,
            cadence: cadence?,
            module_mix: module_mix?,
            system_prompt: system_prompt?,
            shared_spaces: shared_spaces?,
        })
    }

    fn unknown_keys(&mut self, path: &str, object: &Map<String, Value>, known: &[&str]) {
        for key in object.keys().filter(|key| !known.contains(&key.as_str())) {
            self.warning(
                &child(path, key),
                format!("unknown field, ignored; known fields: {}", known.join(", ")),
            );
        }
    }

    fn string<'v>(
        &mut self,
        path: &str,
        object: &'v Map<String, Value>,
        key: &str,
    ) -> Option<(String, &'v str)> {
        let field = child(path, key);
        match object.get(key) {
            None => {
                self.error(&field, "missing");
                None
            }
            Some(Value::String(text)) => Some((field, text)),
            Some(other) => {
                self.error(&field, format!("expected a string, found {}", kind(other)));
                None
            }
        }
    }

    fn non_empty_string(
        &mut self,
        path: &str,
        object: &Map<String, Value>,
        key: &str,
    ) -> Option<String> {
        let (field, text) = self.string(path, object, key)?;
        if text.trim().is_empty() {
            self.error(&field, "must not be empty");
            return None;
        }
        Some(text.to_owned())
    }

    fn parsed<T, E: fmt::Display>(&mut self, field: &str, parsed: Result<T, E>) -> Option<T> {
        parsed
            .map_err(|error| self.error(field, error.to_string()))
            .ok()
    }

    fn email(&mut self, path: &str, object: &Map<String, Value>) -> Option<String> {
        let (field, text) = self.string(path, object, "email")?;
        let domain = self.options.test_domain;
        match check_email(text, domain) {
            Ok(()) => Some(text.to_owned()),
            Err(problem) => {
                self.error(&field, problem.to_string());
                None
            }
        }
    }

    fn module_mix(&mut self, path: &str, object: &Map<String, Value>) -> Option<ModuleMix> {
        let field = child(path, "moduleMix");
        let Some(value) = object.get("moduleMix") else {
            self.error(&field, "missing");
            return None;
        };
        let Some(entries) = value.as_object() else {
            self.error(
                &field,
                format!(
                    "expected an object of module weights, found {}",
                    kind(value)
                ),
            );
            return None;
        };
        let mut weights = BTreeMap::new();
        let mut valid = true;
        for (module, weight) in entries {
            let weight_path = child(&field, module);
            match weight.as_f64() {
                Some(weight) if weight < 0.0 => {
                    self.error(&weight_path, format!("weight {weight} is negative"));
                    valid = false;
                }
                Some(weight) => {
                    weights.insert(module.clone(), weight);
                }
                None => {
                    self.error(
                        &weight_path,
                        format!("expected a number, found {}", kind(weight)),
                    );
                    valid = false;
                }
            }
            if let Some(known) = self.options.known_modules
                && !known.contains(&module.as_str())
            {
                self.warning(
                    &weight_path,
                    format!(
                        "the app has no tools for module {module:?}; known: {}",
                        known.join(", ")
                    ),
                );
            }
        }
        if !valid {
            return None;
        }
        ModuleMix::new(weights)
            .map_err(|error| self.error(&field, error.to_string()))
            .ok()
    }

    fn shared_spaces(
        &mut self,
        path: &str,
        object: &Map<String, Value>,
    ) -> Option<Vec<SharedSpace>> {
        let field = child(path, "sharedSpaces");
        let entries = match object.get("sharedSpaces") {
            None | Some(Value::Null) => return Some(Vec::new()),
            Some(Value::Array(entries)) => entries,
            Some(other) => {
                self.error(&field, format!("expected an array, found {}", kind(other)));
                return None;
            }
        };
        let mut spaces = Vec::new();
        let mut valid = true;
        for (index, entry) in entries.iter().enumerate() {
            let entry_path = format!("{field}[{index}]");
            match self.shared_space(&entry_path, entry) {
                Some(space) => spaces.push(space),
                None => valid = false,
            }
        }
        valid.then_some(spaces)
    }

    fn shared_space(&mut self, path: &str, value: &Value) -> Option<SharedSpace> {
        let Some(object) = value.as_object() else {
            self.error(path, "expected an object with name, type and partner");
            return None;
        };
        self.unknown_keys(path, object, &["name", "type", "partner"]);
        let name = self.non_empty_string(path, object, "name");
        let space_type = self.string(path, object, "type").and_then(|(field, text)| {
            match SpaceType::parse(text) {
                Ok(SpaceType::Personal) => {
                    self.error(
                        &field,
                        "personal spaces are created at signup and cannot be shared",
                    );
                    None
                }
                parsed => self.parsed(&field, parsed),
            }
        });
        let partner = self.non_empty_string(path, object, "partner");
        Some(SharedSpace {
            name: name?,
            space_type: space_type?,
            partner: partner?,
        })
    }

    fn duplicates(&mut self, personas: &[(String, Option<PersonaSpec>)]) {
        let mut first_email: HashMap<String, &str> = HashMap::new();
        let mut first_name: HashMap<String, &str> = HashMap::new();
        for (path, persona) in personas {
            let Some(persona) = persona else { continue };
            if let Some(first) = first_email.insert(persona.email.to_lowercase(), path) {
                first_email.insert(persona.email.to_lowercase(), first);
                self.error(
                    &child(path, "email"),
                    format!("duplicate email {:?}, first used at {first}", persona.email),
                );
            }
            if let Some(first) = first_name.insert(persona.name.to_lowercase(), path) {
                first_name.insert(persona.name.to_lowercase(), first);
                self.error(
                    &child(path, "name"),
                    format!("duplicate name {:?}, first used at {first}", persona.name),
                );
            }
        }
    }

    fn partners(
        &mut self,
        personas: &[(String, Option<PersonaSpec>)],
        written_emails: &HashSet<String>,
    ) {
        let by_email: HashMap<String, &PersonaSpec> = personas
            .iter()
            .filter_map(|(_, persona)| persona.as_ref())
            .map(|persona| (persona.email.to_lowercase(), persona))
            .collect();
        for (path, persona) in personas {
            let Some(persona) = persona else { continue };
            for (index, space) in persona.shared_spaces.iter().enumerate() {
                let partner_path = format!("{path}.sharedSpaces[{index}].partner");
                if space.partner.eq_ignore_ascii_case(&persona.email) {
                    self.error(&partner_path, "a persona cannot be its own partner");
                    continue;
                }
                let partner_email = space.partner.to_lowercase();
                let Some(partner) = by_email.get(&partner_email) else {
                    if written_emails.contains(&partner_email) {
                        continue;
                    }
                    self.error(
                        &partner_path,
                        format!("unknown shared-space partner {:?}: no persona in this catalog has that email", space.partner),
                    );
                    continue;
                };
                let reciprocated = partner.shared_spaces.iter().any(|theirs| {
                    theirs.name == space.name && theirs.partner.eq_ignore_ascii_case(&persona.email)
                });
                if !reciprocated {
                    self.warning(
                        &partner_path,
                        format!(
                            "{} does not list {:?} back for space {:?}; the space is still shared",
                            space.partner, persona.email, space.name
                        ),
                    );
                }
            }
        }
    }
}

/// What is wrong with a persona's email.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum EmailProblem {
    #[error("{0:?} is not an email address (no @)")]
    NoAt(String),
    #[error("{0:?} is not a valid email address")]
    Malformed(String),
    #[error(
        "{email:?} uses domain {domain:?}; persona emails must use @{test_domain} so no mail can reach a real person"
    )]
    NotTheTestDomain {
        email: String,
        domain: String,
        test_domain: String,
    },
}

/// Checks the shape of an email and that it uses the test domain.
fn check_email(email: &str, test_domain: &str) -> Result<(), EmailProblem> {
    let Some((local, domain)) = email.split_once('@') else {
        return Err(EmailProblem::NoAt(email.to_owned()));
    };
    let local_ok = !local.is_empty()
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
        && !local.starts_with('.')
        && !local.ends_with('.');
    let domain_ok = domain.split('.').all(|label| {
        !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if !local_ok || !domain_ok {
        return Err(EmailProblem::Malformed(email.to_owned()));
    }
    if !domain.eq_ignore_ascii_case(test_domain) {
        return Err(EmailProblem::NotTheTestDomain {
            email: email.to_owned(),
            domain: domain.to_owned(),
            test_domain: test_domain.to_owned(),
        });
    }
    Ok(())
}

/// Appends an object key to a JSON path, quoting keys that are not identifiers.
fn child(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_owned()))
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
