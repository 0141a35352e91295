//! The app's tool registry: the single definition of every tool the app
//! exposes to agents, and the one way to call one.
//!
//! # Layout
//!
//! - [`spec`]: [`ToolSpec`] — name `module.verb` ([`ToolName`]), a description
//!   written for an LLM, scope (`user-space`/`admin`), policy hint
//!   (`read`/`write`/`destructive`), input and output JSON Schemas derived from
//!   the Rust types by schemars, the optional `encrypted_fields {collection,
//!   fields}` declaration, and a typed async handler.
//! - [`registry`]: [`Registry::invoke`] — look up, policy gate, schema
//!   validation, then the handler inside a `tool` span. Duplicate names are an
//!   error. `public_tools()` is what MCP may list and call: no admin scope,
//!   nothing destructive.
//! - [`policy`]: the gate. Admin scope is always denied, destructive tools
//!   only with an opt-in; the mode (`off`/`log-only`/`enforce`) governs the
//!   per-user per-tool rolling-window rate limit and prompt-injection flagging.
//! - `input`: schema validation that names every bad field, so an agent can
//!   fix all of them in one retry.
//! - [`error`]: [`ToolError`], every failure as an error result written for
//!   the agent (bad input, `NotFound`, denied, rate limited), never a panic.
//! - [`context`]: [`ToolContext`] — user, space, invoker, time, span, the
//!   `AppStore`, the lazily fetched master key — and `Records`, the typed
//!   record access that encrypts and decrypts **by the app's encryption
//!   table**, never by a tool's own declaration.
//! - [`encryption`]: the app's authoritative encryption table (which fields
//!   of which collection are encrypted at rest).
//! - [`crypto`]: the `enc:1:{b64 iv}.{b64 ct‖tag}` wire format over the JSON
//!   value (AES-256-GCM, fresh IV, `null` passes through), byte-compatible
//!   with WebCrypto (tests run the independent vectors in
//!   `crypto/interop_vectors.json` both ways); master keys wrapped by a KEK
//!   `Keyring` with key ids for rotation; a TTL `KeyCache`. A tampered or
//!   foreign ciphertext is a `CryptoError`, never garbage.
//! - [`audit`]: tools' encryption declarations diffed against the table for
//!   `persona audit encrypted-tools`: missing-collection and field-drift fail,
//!   a disabled entry is advisory.
//! - [`store`]: what tools need from storage — the [`store::AppStore`] and
//!   [`store::MasterKeys`] traits, which the gateway implements, and the
//!   record types (`Record`, `NewRecord`, `RecordUpdate`) its store returns
//!   directly.
//! - [`tools`]: one file per module: habits, spaces, todo, notes, journal,
//!   mood, calendar, contacts.
//!
//! `registry` depends only on `catalog`: it cannot depend on `gateway` (the
//! gateway depends on it), so storage and keys are reached through the
//! [`store`] traits.

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
