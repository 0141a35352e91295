//! The persona runner's runtime: how a persona's tick talks to an LLM and to
//! the app, and the ractor actors that run the ticks.
//!
//! # Layout
//!
//! - [`llm`]: the [`llm::Llm`] trait and the provider-neutral conversation
//!   types (`mod.rs`); the reversible tool-name mapping (`names`:
//!   `todo.create` ↔ `todo_create`, built per conversation from the listed
//!   tools, so the way back is a lookup); retry with exponential backoff, full
//!   jitter and `retry-after` (`retry`); the one retry loop, error
//!   classification and secret scrubbing both hosted providers share
//!   (`http`); the providers `anthropic`, `openai` and `scripted` (below).
//! - [`context`]: [`context::ContextBudget`], fitting each request into the
//!   model's context window.
//! - [`tick`]: one tick as a plain async function, [`tick::run_tick`], and
//!   [`tick::TickEnd::verdict`], its honest status.
//! - [`tool_schemas`]: the listed tools' input schemas, compiled once per
//!   tick, so an error the app answers to arguments its schema rejects is
//!   the agent's failure, not the app's.
//! - [`rating`]: the rating turn's forced tool ([`rating::rating_tool`]) and
//!   turning its reply into feedback rows.
//! - [`day_log`]: the day's calls as the rating prompt shows them, so the
//!   ratings are grounded in what the persona did.
//! - [`transcript`]: makes each transcript item fit to keep (secrets
//!   redacted, then cut); the tick notes every prompt, answer and call.
//! - [`app_client`]: the [`app_client::AppLogin`] trait the runtime logs
//!   personas in through, its [`app_client::Session`] and
//!   [`app_client::LoginError`]. The routes live with the implementation, in
//!   the runner (`runner::app_login::ManaLogin`).
//! - [`mcp_client`]: rmcp's Streamable HTTP client with the bearer token and
//!   `X-Mana-Space`, behind the `ToolSurface` trait, every call with a
//!   timeout. `McpEndpoint` (in `RuntimeEnv`) holds the one pooled
//!   `reqwest::Client` every persona's sessions share (rmcp's default client is
//!   built per session with pooling off).
//! - [`metrics`]: every runner metric's name, HELP text, and its series registered at zero.
//! - [`replay`]: a recorded tick's calls sent again, each compared by outcome and
//!   answer shape, the app's ids followed.
//! - [`gen_ai`]: the tick as OpenTelemetry spans (GenAI and MCP conventions), and
//!   the `traceparent` a tool call carries to the app.
//! - [`progress`]: what a running tick reports as it goes.
//! - [`prompts`]: the day and rating prompts, in the target's language or its day template.
//! - [`runtime`]: the actors, one file each, in the order actor, args, state,
//!   message (below), the `TickLedger` and `Directory` traits, and
//!   `RunnerSystem`, the one way to start them.
//! - [`sink`]: the `Sink` trait rows are written through.
//! - [`internal_api`]: the app's internal personas API (`X-Service-Key`) as
//!   `Sink`, `TickLedger` and `Directory`, for a runner without a database
//!   (`persona runner --api`). A refused key keeps rows queued (retried)
//!   instead of dropping them. The store-backed three live in
//!   `runner/src/wiring.rs`.
//! - `testing` (feature `test-support`): faithful fake Anthropic and OpenAI
//!   servers on loopback (canned replies, the real error shapes, every request
//!   recorded), and `FakeModel`, a fake Anthropic API that plays whole ticks
//!   with a scripted simulator per conversation, holds a per-sliding-minute
//!   limit with the real 429, injects faults (429/529/500/hang/garbage) at a
//!   rate, and keeps the ground truth of which tool uses it issued and which
//!   came back answered (the rate-limit benchmark and the fault suite run on
//!   it).
//!
//! `actors` depends only on `catalog`; it reaches the app over HTTP and MCP,
//! never through the gateway crate.
//!
//! # LLM providers
//!
//! - `anthropic`: the Messages API. The forced tool is `tool_choice {type:
//!   tool}`; cache breakpoints sit on the last tool, the system block and the
//!   last message; a 429 that says the spend limit is reached is not retried.
//! - `openai`: Chat Completions as OpenAI, vLLM, Ollama and llama.cpp speak
//!   it. It streams (`stream: true`), so a dropped request stops the server
//!   generating, and falls back to a non-streamed request for servers that
//!   cannot stream a tool choice (llama-cpp-python).
//! - `scripted`: the offline default, a deterministic simulator (no model):
//!   the same persona and tick id replay the same tick, from its own seeded
//!   generator. It answers a forced rating tool with its ratings as the input.
//!
//! Every request carries a [`llm::ToolChoice`]: `Auto` is always sent
//! explicitly (llama-cpp-python leaves the tools out of the prompt without
//! it), `Tool(name)` forces one tool. A tool call whose arguments are not
//! JSON comes back as [`llm::Block::InvalidToolUse`]; a prompt that does not
//! fit is [`llm::LlmError::ContextOverflow`]. Errors carry the server's own
//! message; a 5xx whose body is a validation error is not retried. Secrets
//! are scrubbed from messages by exact value, only when at least 8 characters
//! long and never inside a word. The default request timeout is 120 s for
//! both hosted providers (`PERSONA_LLM_TIMEOUT_SECS`).
//!
//! # One tick
//!
//! 1. list the tools and map their names;
//! 2. main turn: at most `max_turns` LLM rounds; the calls of a round run
//!    concurrently, and a `tool_use_id → action row` map flips exactly the
//!    row whose result is an error. A call the model botched (arguments not
//!    valid JSON, an unknown tool) is answered to the model as a tool error,
//!    never sent to the app, and its row is `failed_by: agent`; so is the
//!    app's error answer to arguments the tool's listed schema rejects (they
//!    are still sent, so the app's own validation is exercised). Every other
//!    error result, and an app that could not be reached, is `failed_by: app`;
//! 3. rating turn: a fresh request carrying the day's calls ([`day_log`]:
//!    numbered, tool, short input, ok or the error) and forcing
//!    `submit_ratings`, whose schema has the modules used as an enum, ratings
//!    1–5 and the numbers of the calls each rating is about, which its note
//!    cites, and the `story` so far: cut to `memory_words`, it is stored as
//!    the persona's memory (`Directory::set_memory`) and opens its next day
//!    prompt ([`tick::Day`]) (`ToolChoice::Tool`). A text
//!    answer falls back to the tolerant JSON-from-text parser; ratings are
//!    clamped, modules not used dropped, and an unreadable reply becomes one
//!    `__parse` row with the raw text.
//!
//! Before each request [`context::ContextBudget`] fits it into the window
//! `Llm::context_window()` reports (`PERSONA_LLM_CONTEXT_TOKENS`, else read
//! from the server — llama.cpp `/props`, vLLM `/models` — or 200k for
//! Claude; unknown otherwise, and then nothing is trimmed): it sizes
//! `max_tokens` (`PERSONA_MAX_TOKENS`, default 2048) to what is left and
//! shortens the oldest tool results, with estimates calibrated from the
//! prompt tokens the server reported. An overflow the server still
//! reports ends the main turn (`incomplete`), and the modules used are still
//! rated. [`tick::TickEnd::verdict`] then decides `ok`, `idle` or
//! `incomplete`; an error (login, MCP, LLM) is `failed` with its `failed_by`,
//! and the per-tick timeout (`PERSONA_TICK_TIMEOUT_SECS`) fails the tick on
//! whichever side it was waiting for.
//!
//! Rows go into a [`tick::TickRecorder`] as they are produced, so a tick that
//! timed out or was cancelled still hands over every row it made. The
//! recorder also tells a [`progress::TickObserver`] each step ([`progress`]:
//! what the tick waits for, each call as it starts and ends); in the runtime
//! that is the persona actor, which keeps the running tick's
//! `tool_use_id → call` map ([`runtime::persona::LiveTick`]).
//!
//! # The actors
//!
//! - `supervisor`: spawns one persona actor per persona (`spawn_linked`),
//!   overrides `handle_supervisor_evt` (the default would stop it), restarts
//!   with exponential backoff via `send_after` under a restart intensity
//!   (past it: `Failed(reason)`, left stopped). It answers `GetSnapshot` (and
//!   `GetCensus`, counts only, and `GetLastTicks`, the last summaries of the
//!   personas a waiting caller names) from a cache of compact `PersonaReport`s
//!   the persona actors push (a report from a stopped actor is ignored), keeps
//!   each persona's `PersonaIdentity` (profile and password, one `Arc` shared
//!   with the actor), and starts due personas on its schedule timer (an
//!   overlapping pass is skipped, not queued).
//! - `persona`: owns the session, its conversation actor (started for a tick
//!   and stopped after it, so idle personas stay cheap) and the running tick,
//!   which runs in a spawned task (in a `tick{persona, tick_id}` span;
//!   ractor's span propagation is off to keep idle mailboxes small). The task
//!   tells the actor each step (`Observed`), which fills the tick's
//!   `tool_use_id → call` map and answers `GetLiveTick` (forwarded by the
//!   supervisor for `GET /personas/{id}`), and reports `TickFinished` (stale
//!   ids ignored), so status, pause and stop are answered mid-tick. The task
//!   hands the rows to the dispatcher and waits until they are durable before
//!   it records the tick's end. A persona actor that stops mid-tick leaves
//!   the task running (it writes its own rows and tick row); `CancelTick`
//!   (the supervisor's `CancelRunning` sends it to every running persona)
//!   aborts it and saves its rows, ending it as aborted. `persona/mod.rs` is
//!   the actor; the rest is in its `# Layout`.
//! - `conversation`: the persona's LLM endpoint for one tick. Its requests
//!   run in tasks it owns (a `JoinSet`) and aborts in `post_stop`, so a tick
//!   that timed out or was cancelled leaves no request running. The persona
//!   actor overrides `handle_supervisor_evt` so the conversation actor's
//!   normal stop does not stop it (its failure does, for a supervised
//!   restart).
//! - `dispatcher`: the one authority on concurrency permits, LLM rate slots
//!   (governor's GCRA on tokio's clock, `llm_quota`: evenly spaced, 1 % under
//!   the configured rate, no burst — a burst overshoots an API's sliding
//!   minute) and the kill-switch. Tick tasks ask and wait on the reply; it
//!   queues what it cannot grant yet, so its mailbox never waits. It batches
//!   rows from many ticks to persistence and publishes its status on a
//!   `watch` channel the supervisor's snapshot reads.
//! - `persistence`: queues rows per persona and flushes on size (at most 500
//!   actions or 100 feedback rows per batch), on an interval and on stop; a
//!   failing sink is retried with backoff without blocking the mailbox;
//!   `Enqueue`'s reply means durable; `post_stop` drains.
//!
//! # Leases
//!
//! A tick runs only under its persona's lease. The tick task claims it
//! (`TickLedger::claim`, one conditional `UPDATE` in the store: free, expired
//! or already ours, so two replicas can never both win; DESIGN §8 suggests
//! `FOR UPDATE SKIP LOCKED`, which a single conditional update makes
//! unnecessary), renews it every third of its length while ticking, and
//! releases it at the end, also when cancelled. The lease is a heartbeat
//! (`PERSONA_LEASE_SECS`, default 30 s), not a tick length, so a SIGKILLed
//! replica's personas are free again within that time; the due query skips
//! held leases. A tick left `running` by a dead runner is ended as aborted by
//! the persona's next tick start (only the lease holder starts ticks).
//!
//! # Shutdown
//!
//! The dispatcher drains first: no tick starts, but running ticks keep
//! getting rate slots (the kill-switch would stall them). A tick holds its
//! permit until its rows are durable, so the dispatcher's `WhenIdle` reply
//! means every finished tick is saved. The supervisor's `post_stop` stops its
//! children gracefully (`stop_children_and_wait`) instead of ractor's default
//! kill, and the persistence actor's `post_stop` drains every queued row. The
//! whole order is in `runtime::system`.
//!
//! # Tests
//!
//! `tests/providers` runs each provider against the `testing` fakes and
//! replays the answers captured from llama-cpp-python (copies under
//! `tests/fixtures/`).

pub mod app_client;
pub mod context;
pub mod day_log;
pub mod gen_ai;
pub mod internal_api;
pub mod llm;
pub mod mcp_client;
pub mod metrics;
pub mod progress;
pub mod prompts;
pub mod rating;
pub mod replay;
pub mod runtime;
pub mod sink;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod tick;
pub mod tool_schemas;
pub mod transcript;
