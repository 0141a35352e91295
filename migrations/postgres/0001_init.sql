-- Users, spaces, the tools' records and the persona audit tables (PostgreSQL).
-- Ids are TEXT (UUID v7 strings, or the deterministic row ids of the audit
-- tables) so both backends bind the same Rust types. Keep in step with
-- migrations/sqlite/0001_init.sql.

CREATE TABLE users (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL,
    password_hash       TEXT NOT NULL,
    kind                TEXT NOT NULL DEFAULT 'human' CHECK (kind IN ('human', 'persona', 'system')),
    tier                TEXT NOT NULL DEFAULT 'free',
    role                TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    zero_knowledge      BOOLEAN NOT NULL DEFAULT FALSE,
    wrapped_master_key  TEXT,
    master_key_kek_id   TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    deleted_at          TIMESTAMPTZ
);
CREATE UNIQUE INDEX users_email_lower ON users (lower(email));

CREATE TABLE spaces (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    type        TEXT NOT NULL CHECK (type IN ('personal', 'family', 'team', 'practice', 'brand', 'club')),
    -- A shared space outlives its creator; spaces left without members are
    -- removed by the store when a user is deleted.
    owner_id    TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX spaces_one_personal_per_owner ON spaces (owner_id) WHERE type = 'personal';

CREATE TABLE space_members (
    space_id   TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'member')),
    joined_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (space_id, user_id)
);
CREATE INDEX space_members_user ON space_members (user_id);

CREATE TABLE records (
    space_id          TEXT NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    collection        TEXT NOT NULL,
    id                TEXT NOT NULL,
    data              JSONB NOT NULL,
    -- Per-field last-writer-wins clocks: {"field": unix_millis}.
    field_updated_at  JSONB NOT NULL,
    created_by        TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    deleted_at        TIMESTAMPTZ,
    PRIMARY KEY (space_id, collection, id)
);
CREATE INDEX records_by_collection ON records (space_id, collection, created_at);

CREATE TABLE personas (
    user_id         TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    archetype       TEXT NOT NULL,
    system_prompt   TEXT NOT NULL,
    module_mix      JSONB NOT NULL,
    tick_cadence    TEXT NOT NULL CHECK (tick_cadence IN ('hourly', 'daily', 'weekdays')),
    paused          BOOLEAN NOT NULL DEFAULT FALSE,
    last_active_at  TIMESTAMPTZ,
    lease_owner     TEXT,
    lease_until     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX personas_due ON personas (paused, last_active_at);

CREATE TABLE persona_ticks (
    tick_id             TEXT PRIMARY KEY,
    persona_id          TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    started_at          TIMESTAMPTZ NOT NULL,
    finished_at         TIMESTAMPTZ,
    status              TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'aborted')),
    error               TEXT,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    turns               BIGINT NOT NULL DEFAULT 0,
    input_tokens        BIGINT NOT NULL DEFAULT 0,
    output_tokens       BIGINT NOT NULL DEFAULT 0,
    cache_read_tokens   BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens  BIGINT NOT NULL DEFAULT 0,
    summary             TEXT
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
    created_at     TIMESTAMPTZ NOT NULL
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
