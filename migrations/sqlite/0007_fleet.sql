-- Scale-out: several runner replicas on one database.
--
-- next_due_at: the schedule may not claim the persona before this time. A
-- scheduled claim sets it to the lease's end (a replica that dies mid-tick
-- frees the persona with its lease); the tick's end sets it to the next
-- due time (its cadence, or its failure backoff). NULL: no gate.
ALTER TABLE personas ADD COLUMN next_due_at TEXT;

-- The fleet's kill-switch: one row, who set it, when and why.
CREATE TABLE fleet_switch (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    paused   INTEGER NOT NULL,
    reason   TEXT NOT NULL,
    set_by   TEXT NOT NULL,
    set_at   TEXT NOT NULL
);

-- One row per live runner replica, renewed by its heartbeat; a replica
-- whose row is past expires_at is dead (its LLM quota share goes to the rest).
CREATE TABLE runner_replicas (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    ticking       INTEGER NOT NULL
);
