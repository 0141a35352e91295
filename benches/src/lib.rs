//! The measurements behind BENCHMARKS.md, one module per benchmark, and the
//! helpers they share. `persona-bench <name> [--quick]`
//! (`src/bin/persona-bench.rs`) runs one; every benchmark prints figures and
//! ratios measured side by side in the same run, and `--quick` is the short
//! version `benches/quick.sh` runs (with the fault suite).
//!
//! # Layout
//!
//! - [`whole_loop`]: personas × the scripted LLM × the in-process gateway, on
//!   SQLite and PostgreSQL.
//! - [`persistence`]: action rows per second through the store's idempotent
//!   batch path.
//! - [`idle_actors`]: resident memory of idle persona actors beside ractor's
//!   floor, and the supervisor's snapshot latency.
//! - [`rate_limit`]: the runner against `FakeModel`'s per-minute limit.
//! - [`dispatch`]: the runtime's own cost per LLM request (the dispatcher's
//!   rate slot) and per tool call (the events its persona actor applies).
//! - [`gateway_peers`]: the gateway's MCP `tools/call` against two peers
//!   serving the same captured answer: the official TypeScript SDK server
//!   (`peers/typescript/`, installed by `npm ci` on first run) and a bare rmcp
//!   server. Each server runs as a child process (this binary's hidden
//!   `serve-peer` subcommand for the gateway and bare rmcp, node for the
//!   TypeScript peer) so its CPU time is read from `/proc`.
//! - [`abuse`]: a real `persona gateway` process under a login flood, a
//!   socket flood and one user's flood of MCP sessions (issue 16): its
//!   answers, its memory and `/health` meanwhile.
//! - [`in_process`]: the app under test in the benchmark's own process.
//! - [`scratch_db`]: a throwaway PostgreSQL database on `TEST_POSTGRES_URL`.
//! - [`measure`]: latency percentiles, resident memory and CPU time.
//!
//! Nothing here asserts a time: a benchmark reports, the reader judges.
//! Loads and fakes only ever bind or target `127.0.0.1`. Nothing depends on
//! this crate, and it is the only one that turns on `actors/test-support`
//! outside tests.

pub mod abuse;
pub mod dispatch;
pub mod gateway_peers;
pub mod idle_actors;
pub mod in_process;
pub mod measure;
pub mod persistence;
pub mod rate_limit;
pub mod scratch_db;
pub mod whole_loop;
