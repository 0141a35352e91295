//! The `persona` binary's library: command line, configuration, telemetry,
//! and the wiring of the actor runtime onto the gateway's store.
//!
//! # Layout
//!
//! - [`cli`]: one module per subcommand; its doc comment is its help text.
//! - [`config_file`]: the optional TOML file (file < environment < flags).
//! - [`control`]: the daemon's inspection and control HTTP API.
//! - [`config`]: secrets and settings from the environment; production
//!   refuses missing secrets and public dev fallbacks.
//! - [`llm_choice`]: `--llm anthropic|openai|scripted` and its environment.
//! - [`wiring`]: the store-backed `Sink`, `TickLedger`, `Directory` and the
//!   per-tick LLM factory.
//! - [`system`]: starting the runner's actors over a store, and stopping them
//!   in the documented order.
//! - [`admin_api`]: the admin API client `seed` and `cleanup` use.
//! - [`telemetry`], [`shutdown`]: logging and the SIGTERM/SIGINT future.

pub mod admin_api;
pub mod cli;
pub mod config;
pub mod config_file;
pub mod control;
pub mod llm_choice;
pub mod shutdown;
pub mod system;
pub mod telemetry;
pub mod wiring;
