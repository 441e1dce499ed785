-- cost_usd may be NULL: the request's model has no known price. Such a request is counted as unpriced and
-- its cost is never summed as 0. SQLite cannot drop NOT NULL from a column in place, so the table is rebuilt
-- (create the new one, copy every row, drop the old one, rename, recreate the index), in statements that mean
-- the same on SQLite and PostgreSQL. The SQLite ledger splits this file on semicolons: none in comments.
CREATE TABLE usage_records_0002 (
    request_id TEXT NOT NULL,
    user_id TEXT,                         -- NULL: anonymous, never readable through /v1/usage
    provider TEXT NOT NULL,
    model TEXT NOT NULL,                  -- as requested
    iterations INTEGER NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    total_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION,            -- USD at list prices, NULL: unpriced
    status TEXT NOT NULL,                 -- "ok" or the error code
    latency_ms DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, -- unix seconds
    day TEXT NOT NULL                     -- YYYY-MM-DD, UTC
);
INSERT INTO usage_records_0002 (request_id, user_id, provider, model, iterations, prompt_tokens, completion_tokens,
                                total_tokens, cost_usd, status, latency_ms, created_at, day)
    SELECT request_id, user_id, provider, model, iterations, prompt_tokens, completion_tokens,
           total_tokens, cost_usd, status, latency_ms, created_at, day
    FROM usage_records;
DROP TABLE usage_records;
ALTER TABLE usage_records_0002 RENAME TO usage_records;
CREATE INDEX usage_records_user_day ON usage_records (user_id, day);
