-- The runner's own schema (PostgreSQL), for a target other than the built-in
-- app: the personas (keyed by their catalog key, the lower-cased email),
-- their ticks, calls, ratings and transcripts, and the fleet's state —
-- nothing of the app's. The tables match the app schema's persona tables
-- after its migrations 0001-0007, so one set of queries serves both; keep
-- them in step (and with migrations/runner/sqlite). Versions start at
-- 1001, so neither migrator mistakes the other's database for its own.

CREATE TABLE personas (
    user_id            TEXT PRIMARY KEY,
    email              TEXT NOT NULL,
    name               TEXT NOT NULL,
    archetype          TEXT NOT NULL,
    system_prompt      TEXT NOT NULL,
    module_mix         JSONB NOT NULL,
    tick_cadence       TEXT NOT NULL CHECK (tick_cadence IN ('hourly', 'daily', 'weekdays')),
    paused             BOOLEAN NOT NULL DEFAULT FALSE,
    last_active_at     TIMESTAMPTZ,
    lease_owner        TEXT,
    lease_until        TIMESTAMPTZ,
    next_due_at        TIMESTAMPTZ,
    memory             TEXT,
    memory_updated_at  TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX personas_email_lower ON personas (lower(email));
CREATE INDEX personas_due ON personas (paused, last_active_at);

CREATE TABLE persona_ticks (
    tick_id             TEXT PRIMARY KEY,
    persona_id          TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    started_at          TIMESTAMPTZ NOT NULL,
    finished_at         TIMESTAMPTZ,
    status              TEXT NOT NULL
        CHECK (status IN ('running', 'ok', 'idle', 'incomplete', 'failed', 'aborted')),
    error               TEXT,
    failed_by           TEXT CHECK (failed_by IN ('app', 'agent', 'llm')),
    finish_reason       TEXT,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    turns               BIGINT NOT NULL DEFAULT 0,
    input_tokens        BIGINT NOT NULL DEFAULT 0,
    output_tokens       BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens   BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens  BIGINT NOT NULL DEFAULT 0,
    summary             TEXT,
    cost_usd            DOUBLE PRECISION
);
CREATE INDEX persona_ticks_persona ON persona_ticks (persona_id, started_at);
CREATE INDEX persona_ticks_running ON persona_ticks (status) WHERE status = 'running';

CREATE TABLE persona_actions (
    id             TEXT PRIMARY KEY,
    persona_id     TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    tick_id        TEXT NOT NULL,
    action_idx     BIGINT NOT NULL,
    tool_use_id    TEXT,
    tool_name      TEXT NOT NULL,
    input_hash     TEXT NOT NULL,
    result         TEXT NOT NULL CHECK (result IN ('ok', 'error')),
    error_message  TEXT,
    latency_ms     BIGINT NOT NULL CHECK (latency_ms >= 0),
    created_at     TIMESTAMPTZ NOT NULL,
    failed_by      TEXT CHECK (failed_by IN ('app', 'agent'))
);
CREATE INDEX persona_actions_persona ON persona_actions (persona_id, created_at);
CREATE INDEX persona_actions_tick ON persona_actions (tick_id);

CREATE TABLE persona_feedback (
    id          TEXT PRIMARY KEY,
    persona_id  TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    tick_id     TEXT NOT NULL,
    module      TEXT NOT NULL,
    rating      BIGINT CHECK (rating BETWEEN 1 AND 5),
    notes       TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    -- Only the parse-failure row goes without a rating.
    CHECK ((module = '__parse') = (rating IS NULL))
);
CREATE INDEX persona_feedback_persona ON persona_feedback (persona_id, module);

CREATE TABLE tick_transcripts (
    tick_id     TEXT PRIMARY KEY REFERENCES persona_ticks (tick_id) ON DELETE CASCADE,
    items       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX tick_transcripts_created ON tick_transcripts (created_at);

CREATE TABLE fleet_switch (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    paused   BOOLEAN NOT NULL,
    reason   TEXT NOT NULL,
    set_by   TEXT NOT NULL,
    set_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE runner_replicas (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    last_seen_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    ticking       BIGINT NOT NULL
);
