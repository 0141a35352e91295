//! The gateway as a real server on a loopback port: auth (and what an
//! attacker tries on it), the MCP endpoint (with the official Python
//! client), the personas API. The server itself is
//! `crate::helpers::spawn_app`.

mod abuse;
mod auth;
mod fuzz;
mod mcp;
mod personas_api;
