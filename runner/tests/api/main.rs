//! The runner's integration tests: the real `persona` binary, and checks that
//! keep the workspace's shape honest.

// Test helpers panic on purpose when a fixture cannot be set up.
#![allow(clippy::unwrap_used)]

mod commands;
mod daemon;
mod dashboard;
mod fleet;
mod helpers;
mod local_model;
mod openapi;
mod replay;
mod runtime;
mod seed;
mod target;
mod target_auth;
mod tick;
mod tidy;
mod traces;
mod up;
mod workspace_graph;
