//! The gateway as a real server on a loopback port: auth (and what an
//! attacker tries on it), connection limits, the MCP endpoint (with the
//! official Python client), the personas API, and a seeded fuzz of the
//! request paths. The server itself is `crate::helpers::spawn_app`.

mod abuse;
mod auth;
mod connections;
mod fuzz;
mod mcp;
mod personas_api;
