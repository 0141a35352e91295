//! The personas API: `internal` routes for the runner (behind
//! `X-Service-Key`) and `admin` routes for operators (behind an admin JWT).

pub mod admin;
pub mod internal;
