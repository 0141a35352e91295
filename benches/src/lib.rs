//! The measurements behind BENCHMARKS.md, one module per benchmark, and the
//! helpers they share. `persona-bench <name>` runs one; every benchmark
//! prints figures and ratios measured side by side in the same run, and
//! takes `--quick` for the short version `benches/quick.sh` runs.
//!
//! Nothing here asserts a time: a benchmark reports, the reader judges.
//! Loads and fakes only ever bind or target `127.0.0.1`. `gateway_peers`
//! is the one benchmark with servers in processes of their own (this
//! binary's hidden `serve-peer` subcommand, and node for the TypeScript
//! SDK's peer under `benches/peers/`).

pub mod gateway_peers;
pub mod idle_actors;
pub mod in_process;
pub mod measure;
pub mod persistence;
pub mod rate_limit;
pub mod scratch_db;
pub mod whole_loop;
