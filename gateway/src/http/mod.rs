//! HTTP plumbing shared by every route: the JSON error type, body parsing
//! that answers bad input with that error instead of axum's text, and
//! `serve`, the one serving function of every server of the workspace, with
//! its connection limits.

mod error;
mod json;
mod serve;

pub use error::{ApiError, ErrorBody};
pub use json::ApiJson;
pub use serve::{ConnectionLimits, serve};
