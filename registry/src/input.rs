//! Checking tool arguments against the input schema and turning every
//! violation into a [`FieldError`] that names its field, so an agent can fix
//! all of them in one retry. A message quotes at most a short, marked prefix
//! of the value it rejects (`error::quote_value`).

use jsonschema::error::ValidationErrorKind;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{FieldError, ToolError, quote_text, quote_value};

pub(crate) fn validate(
    validator: &jsonschema::Validator,
    arguments: &Value,
) -> Result<(), ToolError> {
    let mut errors: Vec<FieldError> = Vec::new();
    for error in validator.iter_errors(arguments) {
        let path = field_path(&error.instance_path().to_string());
        match error.kind() {
            ValidationErrorKind::Required { property } => {
                let property = property
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| property.to_string());
                errors.push(FieldError::new(join(&path, &property), "is required"));
            }
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                for field in unexpected {
                    errors.push(FieldError::new(
                        join(&path, &quote_text(field)),
                        "is not a field of this tool",
                    ));
                }
            }
            // Masked: jsonschema's own text quotes the whole instance.
            _ => errors.push(FieldError::new(
                path,
                error.masked_with(quote_value(error.instance())).to_string(),
            )),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ToolError::InvalidInput(errors))
    }
}

/// Deserialises validated arguments; a failure here means the schema let
/// something through that the type rejects, reported the same way.
pub(crate) fn deserialize<T: DeserializeOwned>(arguments: Value) -> Result<T, ToolError> {
    // serde's text may quote the value (`invalid type: string "…"`), so it
    // is cut like a quoted value.
    serde_json::from_value(arguments)
        .map_err(|error| ToolError::invalid("", quote_text(&error.to_string())))
}

/// `/subtasks/2/title` → `subtasks[2].title`.
fn field_path(pointer: &str) -> String {
    let mut path = String::new();
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if segment.chars().all(|c| c.is_ascii_digit()) && !segment.is_empty() {
            path.push_str(&format!("[{segment}]"));
        } else {
            path = join(&path, &segment);
        }
    }
    path
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_become_readable_paths() {
        assert_eq!(field_path(""), "");
        assert_eq!(field_path("/title"), "title");
        assert_eq!(field_path("/subtasks/2/title"), "subtasks[2].title");
    }
}
