//! The store's contract suite: every test runs against SQLite, and against
//! PostgreSQL when `TEST_POSTGRES_URL` is set (each test in its own freshly
//! created database). With `CI=true` a missing PostgreSQL fails the run.

// Test helpers panic on purpose when a fixture cannot be set up.
#![allow(clippy::unwrap_used)]

mod helpers;

mod audit;
mod personas;
mod records;
mod users;
