//! The persona catalog: the one shared definition of who the personas are, and
//! the rows a tick produces.
//!
//! # Layout
//!
//! - [`spec`]: the typed [`PersonaSpec`] and its constrained values (cadence,
//!   archetype, module mix, shared spaces), each with a `parse` that returns a
//!   `Result`.
//! - [`load`]: reads `personas.json` into a [`Catalog`]
//!   ([`Catalog::from_path`], or [`Catalog::shipped`] for the copy compiled
//!   into the binary, [`SHIPPED_CATALOG_JSON`]), reporting every problem with
//!   its JSON path rather than stopping at the first.
//! - [`password`]: [`derive_password`], the deterministic persona password,
//!   shared by seeding and the runner so no per-persona credential is ever
//!   stored; its tests run the vectors of an independent implementation.
//! - [`audit`]: the rows a tick produces — [`ActionRow`], [`FeedbackRow`] with
//!   its [`Rating`] (1–5), the tick's start and end ([`NewTick`],
//!   [`TickFinish`]), [`TickStatus`], [`FailedBy`] — and their batch limits
//!   ([`MAX_ACTIONS_PER_BATCH`], [`MAX_FEEDBACK_PER_BATCH`]).
//! - [`transcript`]: a tick's transcript ([`transcript::TranscriptItem`]:
//!   the prompts, each answer, each tool call with its input and answer),
//!   handed over with [`TickFinish`] and read back with the tick.
//! - [`internal_api`]: the bodies of the app's internal personas API, which a
//!   runner without a database uses ([`internal_api::PersonaList`],
//!   [`internal_api::LeaseRequest`], [`internal_api::ActionBatch`], …), and
//!   its [`internal_api::SERVICE_KEY_HEADER`]; the runner's client and the
//!   app's routes both (de)serialise these, so the two cannot drift.
//! - [`modules`]: [`module_of`], the module a tool belongs to, for any
//!   server's tool names (`todo.list`, `create_entities`, `echo`).
//! - [`target`]: the app under test as a target file describes it
//!   ([`target::Target`]: its MCP URL, login, headers templated per persona,
//!   the tools personas may call, each tool's module); the built-in app is
//!   [`target::Target::builtin`].
//! - [`mcp`]: [`SPACE_HEADER`], the header naming the space an MCP request
//!   acts in, shared by the runner's MCP client and the app's guard.
//! - [`due`]: the cadence rules that decide whether a persona should tick now
//!   ([`is_due`]) and in which order ([`due_order`]), unit-tested at every
//!   boundary; the gateway's contract suite checks that its SQL due query
//!   agrees.
//!
//! # Why the rows live here
//!
//! The runner produces the rows and the app stores them; `catalog` is the only
//! crate both depend on, so the shapes live here once, and so do the internal
//! API's request and answer bodies that carry them. They are the only types
//! besides the catalog file that derive `Serialize`/`Deserialize`: they cross
//! the runner/app boundary (the internal personas API).
//!
//! # Honest outcomes
//!
//! A tick row's [`TickStatus`] is `running` while it runs, then one of:
//!
//! - `ok`: tools were used, the day ran to its end and the modules were rated;
//! - `idle`: the day ended without a single tool call;
//! - `incomplete`: tools were used, but the turns, the output tokens (finish
//!   reason `length`) or the context window ran out, or the ratings could not
//!   be read (a [`PARSE_FAILURE_MODULE`] `__parse` feedback row keeps the raw
//!   text);
//! - `failed`: the tick could not go on; `error` says why and
//!   [`TickFinish::failed_by`] whose failure it is ([`FailedBy`]: `app`,
//!   `agent` or `llm`);
//! - `aborted`: the runner stopped (cancelled, crashed, restarted) while the
//!   tick ran.
//!
//! A failed [`ActionRow`] carries `failed_by` too: `agent` for a call the tick
//! refused to make (arguments that are not JSON, an unknown tool; answered to
//! the model as a tool error, never sent to the app) or for the app's error
//! answer to arguments the tool's listed schema rejects, `app` for any other
//! error result. [`TickFinish::finish_reason`] keeps the model's last
//! main-turn stop reason. Which status a finished tick gets is decided by the
//! runner (`actors::tick::TickEnd::verdict`); the columns came with migration
//! `0003_honest_outcomes.sql` in both dialects.
//!
//! This crate does no IO beyond reading the catalog and target files, and knows nothing
//! about sqlx, HTTP clients or servers, or ractor; it names the shapes and
//! header names that cross the wire, but sends nothing. Every other crate may
//! depend on it.

pub mod audit;
pub mod due;
pub mod internal_api;
pub mod load;
pub mod mcp;
pub mod modules;
pub mod password;
pub mod spec;
pub mod target;
pub mod transcript;

pub use audit::{
    ActionResult, ActionRow, FailedBy, FeedbackRow, MAX_ACTIONS_PER_BATCH, MAX_FEEDBACK_PER_BATCH,
    NewTick, PARSE_FAILURE_MODULE, Rating, RatingOutOfRange, StoredTick, TickFinish, TickStatus,
    TokenUsage,
};
pub use due::{due_order, is_due};
pub use load::{
    Catalog, CatalogError, DEFAULT_TEST_DOMAIN, LoadOptions, Problem, SHIPPED_CATALOG_JSON,
    Severity,
};
pub use mcp::SPACE_HEADER;
pub use modules::module_of;
pub use password::{DEV_FALLBACK_SEED_SECRET, SeedSecret, SeedSecretError, derive_password};
pub use spec::{
    Archetype, Cadence, InvalidArchetype, KnownArchetype, ModuleMix, ModuleMixError, PersonaSpec,
    SharedSpace, SpaceType,
};
