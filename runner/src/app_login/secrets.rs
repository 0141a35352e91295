//! A persona's secret where the target file says it is
//! (`catalog::target::SecretSource`): an environment variable named per
//! persona, or an entry of a secrets file (read once, when the login is
//! built). Secrets never enter a log line or an error message; only the
//! setting and the variable's or entry's name do.

use std::collections::BTreeMap;
use std::path::PathBuf;

use actors::app_client::{Credentials, LoginError};
use catalog::target::{SecretSource, TemplateValues};

/// One kind of secret for every persona.
pub(super) struct Secrets {
    source: SecretSource,
    /// The secrets file's entries by persona id, when the source is a file.
    file: BTreeMap<String, BTreeMap<String, String>>,
}

/// A secrets file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("auth.secrets_file: reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "auth.secrets_file: {path} is not a table per persona (id or email) of text entries (`[\"anna@example.com\"] token = \"…\"`): {message}"
    )]
    Shape { path: PathBuf, message: String },
}

impl Secrets {
    pub(super) fn new(source: &SecretSource) -> Result<Secrets, SecretsError> {
        let file = match source {
            SecretSource::Env { .. } => BTreeMap::new(),
            SecretSource::File { path, .. } => {
                let text = std::fs::read_to_string(path).map_err(|source| SecretsError::Read {
                    path: path.clone(),
                    source,
                })?;
                // toml's message quotes the offending line, which may hold
                // a secret: only its position is kept.
                toml::from_str(&text).map_err(|error: toml::de::Error| SecretsError::Shape {
                    path: path.clone(),
                    message: error.span().map_or_else(
                        || "not TOML".to_owned(),
                        |span| format!("at byte {}", span.start),
                    ),
                })?
            }
        };
        Ok(Secrets {
            source: source.clone(),
            file,
        })
    }

    /// The persona's secret when its entry in a secrets file has one;
    /// from the environment it is required ([`Secrets::get`]).
    pub(super) fn find(
        &self,
        who: Credentials<'_>,
        what: &'static str,
    ) -> Result<Option<String>, LoginError> {
        match &self.source {
            SecretSource::File { key, .. }
                if !self
                    .entry(who)
                    .is_some_and(|entries| entries.contains_key(*key)) =>
            {
                Ok(None)
            }
            _ => self.get(who, what).map(Some),
        }
    }

    /// The persona's table in the secrets file, by id, else by email.
    fn entry(&self, who: Credentials<'_>) -> Option<&BTreeMap<String, String>> {
        self.file
            .get(who.persona_id)
            .or_else(|| self.file.get(who.email))
    }

    /// The persona's secret, called `what` in messages.
    pub(super) fn get(
        &self,
        who: Credentials<'_>,
        what: &'static str,
    ) -> Result<String, LoginError> {
        let missing = |reason: String| LoginError::MissingSecret {
            persona: who.persona_id.to_owned(),
            what,
            setting: self.source.describe(),
            reason,
        };
        let value = match &self.source {
            SecretSource::Env { name, .. } => {
                let name = SecretSource::env_name(
                    name,
                    TemplateValues {
                        persona_id: who.persona_id,
                        persona_email: who.email,
                        persona_name: "",
                        space_id: "",
                    },
                );
                std::env::var(&name).map_err(|error| {
                    missing(match error {
                        std::env::VarError::NotPresent => {
                            format!("the environment variable {name} is not set")
                        }
                        std::env::VarError::NotUnicode(_) => {
                            format!("the environment variable {name} is not UTF-8")
                        }
                    })
                })?
            }
            SecretSource::File { key, .. } => self
                .entry(who)
                .and_then(|entries| entries.get(*key))
                .cloned()
                .ok_or_else(|| {
                    missing(format!(
                        "the file has no entry {key} under [{:?}] or [{:?}]",
                        who.persona_id, who.email
                    ))
                })?,
        };
        if value.trim().is_empty() {
            return Err(missing("it is empty".to_owned()));
        }
        Ok(value)
    }
}
