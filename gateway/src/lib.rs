//! The app under test: the state behind the app that personas use.
//!
//! # Layout
//!
//! - [`store`]: the one storage API over SQLite and PostgreSQL — users,
//!   spaces, the tools' records (per-field last-writer-wins) and the persona
//!   tables (personas, ticks, actions, feedback). Only the store issues SQL.
//! - [`password`]: argon2id hashing of login passwords.
//! - [`accounts`]: the one register path (password hash, wrapped master key,
//!   personal space) and persona upsert built on it.
//! - [`vault`]: users' master keys for the tools, unwrapped with the
//!   server's keyring and cached with a TTL.
//!
//! - [`app`], [`router`], [`config`]: the HTTP server — state, every route,
//!   and what it needs to start; `app::serve(listener, state, shutdown)`.
//! - [`auth`]: register/login, Ed25519 JWTs and JWKS, the extractors that
//!   guard routes.
//! - [`mcp`]: the MCP endpoint (rmcp Streamable HTTP) and its guard.
//! - [`personas_api`]: the internal (service key) and admin (admin JWT)
//!   personas routes.
//! - [`http`]: the JSON error type and body extraction.
//! - [`metrics`]: the Prometheus recorder.
//!
//! The gateway never depends on the runner: it serves whoever calls it.

pub mod accounts;
pub mod app;
pub mod auth;
pub mod config;
pub mod http;
pub mod mcp;
pub mod metrics;
pub mod password;
pub mod personas_api;
pub mod router;
pub mod store;
pub mod vault;

pub use store::{Store, StoreError};
