//! The app's tool registry: the single definition of every tool the app
//! exposes to agents.
//!
//! # Layout
//!
//! - [`spec`]: `ToolSpec` — name (`module.verb`), description, scope, policy
//!   hint, JSON Schemas derived from the Rust input/output types (schemars),
//!   encryption declaration and handler.
//! - [`registry`]: the set of tools and `invoke`: gate, validate, run.
//! - [`policy`]: the policy gate (hard scope rules, rate limit, injection
//!   markers; modes off/log-only/enforce).
//! - [`input`]: schema validation that names every bad field.
//! - [`context`]: what a handler gets — user, space, invoker, store, the
//!   lazily fetched master key — and typed, encrypting record access.
//! - [`crypto`], [`encryption`]: the `enc:1:` wire format, key wrapping, the
//!   key cache and the app's authoritative encryption table.
//! - [`audit`]: tools' encryption declarations diffed against that table.
//! - [`tools`]: the app's tool modules (habits, spaces, todo, notes, journal,
//!   mood, calendar, contacts).
//!
//! `registry` depends only on `catalog`. It reaches storage through the
//! [`store::AppStore`] and [`store::MasterKeys`] traits, which the gateway implements.

pub mod audit;
pub mod context;
pub mod crypto;
pub mod encryption;
pub mod error;
mod input;
pub mod policy;
pub mod registry;
pub mod spec;
pub mod store;
pub mod tools;

pub use context::{Invoker, ToolContext};
pub use error::{FieldError, ToolError};
pub use registry::{Access, Registry, RegistryError, ToolOutput};
pub use spec::{PolicyHint, Scope, ToolName, ToolSpec};

/// Every module the app has tools for, in the order operators read them.
pub const MODULES: &[&str] = &[
    "todo", "journal", "notes", "habits", "mood", "calendar", "contacts", "spaces",
];
