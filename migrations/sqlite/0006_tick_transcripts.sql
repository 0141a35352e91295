-- The transcript of each tick (prompts, answers, tool calls with their input
-- and answer, the rating turn), already cut and redacted by the runner, kept
-- as a JSON array beside its tick row; deleted with the tick, or by the
-- runner once older than its retention.
CREATE TABLE tick_transcripts (
    tick_id     TEXT PRIMARY KEY REFERENCES persona_ticks (tick_id) ON DELETE CASCADE,
    items       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX tick_transcripts_created ON tick_transcripts (created_at);
