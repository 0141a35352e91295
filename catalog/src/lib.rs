//! The persona catalog: the one shared definition of who the personas are.
//!
//! # Layout
//!
//! - [`spec`]: the typed [`PersonaSpec`] and its constrained values (cadence,
//!   archetype, module mix, shared spaces).
//! - [`load`]: reads `personas.json` and turns it into a [`Catalog`], reporting
//!   every problem with its JSON path rather than stopping at the first.
//! - [`password`]: the deterministic persona password, shared by seeding and the
//!   runner so no per-persona credential is ever stored.
//! - [`audit`]: the rows a tick produces (actions, feedback, tick status) and
//!   their batch limits — the contract between the runner and the app.
//! - [`due`]: the cadence rules that decide whether a persona should tick now.
//!
//! This crate does no IO beyond reading the catalog file, and knows nothing about
//! sqlx, HTTP or ractor; every other crate may depend on it.

pub mod audit;
pub mod due;
pub mod load;
pub mod password;
pub mod spec;

pub use audit::{
    ActionResult, ActionRow, FailedBy, FeedbackRow, MAX_ACTIONS_PER_BATCH, MAX_FEEDBACK_PER_BATCH,
    NewTick, PARSE_FAILURE_MODULE, Rating, RatingOutOfRange, TickFinish, TickStatus, TokenUsage,
};
pub use due::{due_order, is_due};
pub use load::{
    Catalog, CatalogError, DEFAULT_TEST_DOMAIN, LoadOptions, Problem, SHIPPED_CATALOG_JSON,
    Severity,
};
pub use password::{DEV_FALLBACK_SEED_SECRET, SeedSecret, SeedSecretError, derive_password};
pub use spec::{
    Archetype, Cadence, ModuleMix, ModuleMixError, PersonaSpec, SharedSpace, SpaceType,
};
