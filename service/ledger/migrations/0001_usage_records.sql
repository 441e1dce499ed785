-- Portable across SQLite and PostgreSQL.
CREATE TABLE IF NOT EXISTS usage_records (
    request_id TEXT NOT NULL,
    user_id TEXT,                         -- NULL: anonymous, never readable through /v1/usage
    provider TEXT NOT NULL,
    model TEXT NOT NULL,                  -- as requested
    iterations INTEGER NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    total_tokens BIGINT NOT NULL,
    cost_usd DOUBLE PRECISION NOT NULL,
    status TEXT NOT NULL,                 -- "ok" or the error code
    latency_ms DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, -- unix seconds
    day TEXT NOT NULL                     -- YYYY-MM-DD, UTC
);
CREATE INDEX IF NOT EXISTS usage_records_user_day ON usage_records (user_id, day);
