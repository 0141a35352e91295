//! `spaces.list`: the spaces the caller belongs to, read from the app store.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::context::ToolContext;
use crate::error::ToolError;
use crate::spec::{PolicyHint, SpecError, ToolSpec};

pub(super) fn tools() -> Result<Vec<ToolSpec>, SpecError> {
    Ok(vec![ToolSpec::new(
        "spaces.list",
        "List the spaces the user belongs to (personal, family, team, …), personal first, with \
         their id, name and type; `current` marks the space this session works in. Every other \
         tool reads and writes the current space only.",
        PolicyHint::Read,
        list,
    )?])
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListInput {}

#[derive(Debug, Serialize, JsonSchema)]
pub struct SpaceOut {
    id: String,
    name: String,
    /// personal, family, team, practice, brand or club.
    #[serde(rename = "type")]
    space_type: String,
    /// Whether this is the space the session's tools work in.
    current: bool,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ListOutput {
    spaces: Vec<SpaceOut>,
}

async fn list(_input: ListInput, context: ToolContext) -> Result<ListOutput, ToolError> {
    let spaces = context
        .store()
        .spaces_of(&context.user_id)
        .await?
        .into_iter()
        .map(|space| SpaceOut {
            current: space.id == context.space_id,
            id: space.id,
            name: space.name,
            space_type: space.space_type.as_str().to_owned(),
        })
        .collect();
    Ok(ListOutput { spaces })
}
