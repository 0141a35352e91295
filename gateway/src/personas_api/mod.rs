//! The personas API: `internal` routes for the runner (behind
//! `X-Service-Key`) and `admin` routes for operators (behind an admin JWT),
//! described at `GET /openapi.json` ([`openapi`]).

pub mod admin;
pub mod internal;
pub mod openapi;
