//! placeholder
use crate::spec::{SpecError, ToolSpec};
pub(super) fn tools() -> Result<Vec<ToolSpec>, SpecError> { Ok(vec![]) }
