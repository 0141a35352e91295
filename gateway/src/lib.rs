//! The app under test: the axum server personas use, over one store.
//!
//! # Layout
//!
//! - [`app`], [`router`], [`config`]: `AppState::build` wires the gateway from
//!   a [`config::GatewayConfig`] — store, keyring, JWT keys, registry, vault,
//!   MCP session bindings, metrics; [`router`] holds every route in one
//!   function; `app::serve(listener, state, shutdown)` takes its shutdown as a
//!   future (`persona gateway` passes SIGTERM/SIGINT); `app::spawn(addr,
//!   state)` serves in a background task and returns a `RunningGateway`
//!   (`url()`, `stop()`), the one way `persona up`, tests, benchmarks and
//!   the example start one.
//! - [`http`]: the JSON error type (`ApiError`, always `{"error","code"}`),
//!   body parsing that answers bad input with it, and `serve`, the serving
//!   function of every server in the workspace: at most `max_connections`
//!   at once (more wait in the backlog), a header-read timeout that also
//!   closes idle kept-alive connections, a body-read timeout, and Nagle off
//!   (a streamed MCP answer otherwise waits up to 40 ms for a delayed ACK).
//! - [`auth`]: register and login (argon2id; an unknown email and a wrong
//!   password get the same 401 after the same work, a new and a taken email
//!   the same 202), Ed25519 JWTs (`aud`, `iss`, `exp` checked) signed by a
//!   key created on first start and stored sealed by the KEK, JWKS; a
//!   verified token is remembered (`verified`, bounded) so its signature is
//!   checked once and its expiry on every use; a token's user must still
//!   exist (`live_users`: a deletion refuses its tokens at the next request);
//!   failed logins block the account and the client address with a doubling
//!   backoff (`throttle`, 429); the extractors `AuthUser`, `AdminUser` and
//!   `ServiceKey` (constant time).
//! - [`credentials`]: the email rules (the `email_address` crate, one `@`, a
//!   domain with a dot, ≤ 254 characters, lower-cased) and password rules
//!   (8 to 1024 characters, not blank) of register and the admin upsert.
//! - [`mcp`]: rmcp's Streamable HTTP service with the registry's public tools
//!   (`handler`), behind `guard`: a JWT on every request, `X-Mana-Space` must
//!   be the caller's space, a session belongs to the user who opened it
//!   (another user → 403, unknown → 404, also for GET and DELETE), sessions
//!   idle out and are bounded per user (a user's own least recently used
//!   goes) and in all (a new one is refused with 503, nobody's evicted); a
//!   POST's body is read first, so over the limit is 413 chunked or not and
//!   a body that is not JSON-RPC gets `-32700`/`-32600`. rmcp checks Host
//!   and Origin.
//! - [`personas_api`]: internal routes for the runner behind `X-Service-Key`
//!   (due, the persona list, pause flags, leases, tick rows, stale-tick abort,
//!   idempotent batches: 413 over the limit, 404 unknown persona, 400 naming
//!   the row index and field) and admin routes behind an admin JWT (upsert
//!   through the register path, list, detail, delete refusing non-personas,
//!   shared spaces); the list and detail carry the last 7 days' app error
//!   rates per tool and module, the agent's errors beside them.
//! - [`accounts`]: the one register path (password hash, a fresh master key
//!   wrapped by the keyring's current KEK, the personal space); persona upsert
//!   and the admin bootstrap build on it, so personas are created the way
//!   humans are, and the personas API refuses to turn a human into a persona.
//! - [`password`]: argon2id hashing of login passwords, on the blocking pool;
//!   the routes' work is bounded (`PasswordWork`: one hash per core, a
//!   bounded queue, 503 with `retry-after` past it).
//! - [`vault`]: the registry's `MasterKeys`, unwrapping users' master keys
//!   with the keyring and caching them with a TTL (emptied when a user is
//!   deleted); zero-knowledge users get a typed error.
//! - [`metrics`]: the Prometheus recorder.
//! - [`store`]: the one storage API over SQLite and PostgreSQL:
//!   - `mod.rs`: [`Store`], [`StoreError`] (`NotFound`, `Conflict`,
//!     `BatchTooLarge`, `InvalidRow`, `NotPersona`, …; `sqlx::Error` becomes
//!     `StoreError::Database` in one `From`), `store::redact_url` for logs,
//!     and `with_pool!`: each query is written once in SQL both engines accept
//!     (`$n` placeholders, `ON CONFLICT`, `RETURNING`, `NULLS FIRST`) and the
//!     same block is compiled against each pool type. Write transactions start
//!     through `WritePool::begin_write` (`BEGIN IMMEDIATE` on SQLite).
//!   - `sqlite`, `postgres`: opening (WAL, busy timeout, foreign keys; a pool
//!     and a minimum server version; a loopback server without a chosen
//!     `sslmode` is reached without TLS, since sqlx's TLS without
//!     `TCP_NODELAY` stalls on delayed ACKs) and running `migrations/sqlite` or
//!     `migrations/postgres`.
//!   - `users`, `personas`, `audit`, `records`, `keys`: one concern each;
//!     `error_rates`: the calls of the last 7 days per tool and module with
//!     their app and agent errors (the admin list and detail);
//!     `app_store` adapts the store to the registry's `AppStore`.
//!
//! # Storage rules
//!
//! - Only the store issues SQL; queries are checked at run time (`query_as` +
//!   `FromRow`), so building never needs a database.
//! - Timestamps are bound from Rust, never `now()` in SQL, so both engines
//!   compare the same values and tests control time. SQLite stores them as
//!   RFC 3339 text in UTC, which sorts correctly as text.
//! - Registering a user creates the personal space in the same transaction;
//!   deleting a user removes every space left without members.
//! - Action and feedback batches are idempotent: deterministic ids, `ON
//!   CONFLICT (id) DO NOTHING`, one transaction that also bumps
//!   `personas.last_active_at`; a bad row rejects the whole batch.
//! - `migrations/postgres` and `migrations/sqlite` hold the same schema in
//!   each dialect (ids are `TEXT` in both so the same Rust types bind); change
//!   both in one commit. `0003_honest_outcomes.sql` adds the tick statuses
//!   `idle` and `incomplete`, `failed_by` on tick and action rows, and the
//!   tick's `finish_reason` (SQLite rebuilds the tick table to change its
//!   `CHECK`); `0004_tick_cost.sql` adds the tick's `cost_usd`, `0005_persona_memory.sql`
//!   the persona's `memory` ("the story so far").
//!
//! # Shutdown
//!
//! `app::serve` stops accepting when the shutdown future resolves, cancels
//! open MCP streams so graceful shutdown does not wait on them, and lets
//! in-flight requests finish.
//!
//! # Tests
//!
//! `tests/contract` is the contract suite: `store/` for the storage API,
//! `tools/` for every tool through `Registry::invoke` (reading raw rows to
//! prove encryption at rest), `http/` for the routes, one of them driving
//! `/mcp` with the official MCP Python SDK. Each test loops over
//! `helpers::backends()`: a fresh SQLite file always, and a freshly created
//! PostgreSQL database when `TEST_POSTGRES_URL` is set (missing under
//! `CI=true` is a failure). It also checks that the SQL due query agrees with
//! `catalog::is_due`.
//!
//! The gateway never depends on the runner: it serves whoever calls it.

pub mod accounts;
pub mod app;
pub mod auth;
pub mod config;
pub mod credentials;
pub mod http;
pub mod mcp;
pub mod metrics;
pub mod password;
pub mod personas_api;
pub mod router;
pub mod store;
pub mod vault;

pub use store::{Store, StoreError};
