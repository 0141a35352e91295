//! HTTP plumbing shared by every route: the JSON error type, and body
//! parsing that answers bad input with that error instead of axum's text.

mod error;
mod json;

pub use error::ApiError;
pub use json::ApiJson;
