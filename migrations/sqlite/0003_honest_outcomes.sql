-- Honest tick outcomes: a day without a tool call is 'idle', one cut short is
-- 'incomplete'; a failure says whose it is (the app, the agent or the LLM),
-- on the tick and on each failed call; the tick keeps the model's last
-- finish reason. SQLite cannot change a CHECK constraint in place, so the
-- tick table is rebuilt (nothing references it).
CREATE TABLE persona_ticks_new (
    tick_id             TEXT PRIMARY KEY,
    persona_id          TEXT NOT NULL REFERENCES personas (user_id) ON DELETE CASCADE,
    started_at          TEXT NOT NULL,
    finished_at         TEXT,
    status              TEXT NOT NULL
        CHECK (status IN ('running', 'ok', 'idle', 'incomplete', 'failed', 'aborted')),
    error               TEXT,
    failed_by           TEXT CHECK (failed_by IN ('app', 'agent', 'llm')),
    finish_reason       TEXT,
    provider            TEXT NOT NULL,
    model               TEXT NOT NULL,
    turns               INTEGER NOT NULL DEFAULT 0,
    input_tokens        INTEGER NOT NULL DEFAULT 0,
    output_tokens       INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens   INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens  INTEGER NOT NULL DEFAULT 0,
    summary             TEXT
);
INSERT INTO persona_ticks_new (tick_id, persona_id, started_at, finished_at, status, error,
    provider, model, turns, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
    summary)
SELECT tick_id, persona_id, started_at, finished_at, status, error, provider, model, turns,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, summary
FROM persona_ticks;
DROP TABLE persona_ticks;
ALTER TABLE persona_ticks_new RENAME TO persona_ticks;
CREATE INDEX persona_ticks_persona ON persona_ticks (persona_id, started_at);
CREATE INDEX persona_ticks_running ON persona_ticks (status) WHERE status = 'running';

ALTER TABLE persona_actions ADD COLUMN failed_by TEXT
    CHECK (failed_by IN ('app', 'agent'));
