-- "The story so far": a bounded summary the persona's last tick wrote, put
-- into its next day prompt; NULL until a tick wrote one or after an
-- operator reset it.
ALTER TABLE personas ADD COLUMN memory TEXT;
ALTER TABLE personas ADD COLUMN memory_updated_at TIMESTAMPTZ;
