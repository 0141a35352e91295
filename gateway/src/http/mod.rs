//! HTTP plumbing shared by every route: the JSON error type, body parsing
//! that answers bad input with that error instead of axum's text, and the
//! listener every server of the workspace accepts connections on.

mod error;
mod json;
mod listener;

pub use error::ApiError;
pub use json::ApiJson;
pub use listener::without_nagle;
