//! The persona runner's runtime: how a persona's tick talks to an LLM and to
//! the app.
//!
//! # Layout
//!
//! - [`llm`]: the `Llm` trait every provider implements (`anthropic`,
//!   `openai`, and `scripted`, the offline simulator), the shared message
//!   types, retry policy, and the reversible mapping of tool names.
//! - [`app_client`]: logging in like a human and finding the personal space.
//! - [`mcp_client`]: the MCP connection (rmcp, Streamable HTTP, bearer token
//!   and space header) behind the `ToolSurface` trait.
//! - [`runtime`]: the ractor actors — supervisor, persona, conversation,
//!   dispatcher, persistence.
//! - [`sink`]: where rows are written (`Sink`).
//! - [`internal_api`]: the app's internal personas API as `Sink`, `TickLedger`
//!   and `Directory`, for a runner without a database.
//! - [`tick`]: one tick as a plain async function; [`rating`]: reading the
//!   rating turn's reply.
//! - `testing` (feature `test-support`): fake Anthropic and OpenAI servers
//!   on a loopback port, for tests here and in other crates.
//!
//! `actors` depends only on `catalog`; it reaches the app over HTTP and MCP,
//! never through the gateway crate.

pub mod app_client;
pub mod context;
pub mod internal_api;
pub mod llm;
pub mod mcp_client;
pub mod rating;
pub mod runtime;
pub mod sink;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod tick;
