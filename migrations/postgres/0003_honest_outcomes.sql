-- Honest tick outcomes: a day without a tool call is 'idle', one cut short is
-- 'incomplete'; a failure says whose it is (the app, the agent or the LLM),
-- on the tick and on each failed call; the tick keeps the model's last
-- finish reason.
ALTER TABLE persona_ticks DROP CONSTRAINT persona_ticks_status_check;
ALTER TABLE persona_ticks ADD CONSTRAINT persona_ticks_status_check
    CHECK (status IN ('running', 'ok', 'idle', 'incomplete', 'failed', 'aborted'));
ALTER TABLE persona_ticks ADD COLUMN failed_by TEXT
    CHECK (failed_by IN ('app', 'agent', 'llm'));
ALTER TABLE persona_ticks ADD COLUMN finish_reason TEXT;
ALTER TABLE persona_actions ADD COLUMN failed_by TEXT
    CHECK (failed_by IN ('app', 'agent'));
