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
//! The gateway never depends on the runner: it serves whoever calls it.

pub mod accounts;
pub mod password;
pub mod store;
pub mod vault;

pub use store::{Store, StoreError};
