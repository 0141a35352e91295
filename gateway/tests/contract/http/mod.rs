//! The gateway as a real server on a loopback port: auth, connection
//! limits, the MCP endpoint (with the official Python client), the personas
//! API. The server itself is `crate::helpers::spawn_app`.

mod auth;
mod connections;
mod mcp;
mod personas_api;
