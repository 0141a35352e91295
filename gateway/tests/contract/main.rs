//! The gateway's contract suite: every test runs against SQLite, and against
//! PostgreSQL when `TEST_POSTGRES_URL` is set (each test in its own freshly
//! created database). With `CI=true` a missing PostgreSQL fails the run.
//!
//! - `store`: the storage API (users, personas, leases, batches, ticks,
//!   records, the fleet's switch and heartbeats).
//! - `http`: the real server on a loopback port (auth, MCP with the
//!   official Python client, the personas API).
//! - `tools`: every tool of the registry through `Registry::invoke`, on the
//!   real store, with encryption checked in the raw rows.

// Test helpers panic on purpose when a fixture cannot be set up.
#![allow(clippy::unwrap_used)]

mod helpers;
mod http;

mod store {
    mod audit;
    mod fleet;
    mod insights;
    mod personas;
    mod records;
    mod runner_schema;
    mod users;
}
mod tools;
