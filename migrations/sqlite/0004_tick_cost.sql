-- What a tick's tokens cost in US dollars, from the runner's price table;
-- NULL when unknown (a hosted model without a price) or not recorded.
ALTER TABLE persona_ticks ADD COLUMN cost_usd REAL;
