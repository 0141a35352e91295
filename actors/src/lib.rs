//! The persona runner's runtime: how a persona's tick talks to an LLM and to
//! the app.
//!
//! # Layout
//!
//! - [`llm`]: the `Llm` trait every provider implements (`anthropic`,
//!   `openai`, and `scripted`, the offline simulator), the shared message
//!   types, retry policy, and the reversible mapping of tool names.
//!
//! `actors` depends only on `catalog`; it reaches the app over HTTP and MCP,
//! never through the gateway crate.

pub mod llm;
