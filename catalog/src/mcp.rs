//! What a request to the app's MCP endpoint carries besides the protocol and
//! the bearer token: the space the persona acts in.
//!
//! The runner's MCP client (`actors::mcp_client`), the app's session guard
//! (`gateway::mcp::guard`) and the benchmark's load clients all name the
//! header; it lives here, the one crate they share, so a rename cannot leave
//! one side sending a header the other no longer reads.

/// The header naming the space every MCP request acts in (sent as
/// `X-Mana-Space`; header names are case-insensitive, and the `http` crate
/// wants them lower-case).
pub const SPACE_HEADER: &str = "x-mana-space";
