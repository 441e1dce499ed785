-- Every record carries its own id, so a write retried or replayed after it landed (a lost answer, a spool
-- replayed after a crash) is skipped instead of counted twice: request ids come from callers and may repeat.
-- Rows written before this migration have none (NULL, which a unique index allows any number of times).
-- Portable across SQLite and PostgreSQL. The SQLite ledger splits this file on semicolons: none in comments.
ALTER TABLE usage_records ADD COLUMN record_id TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS usage_records_record_id ON usage_records (record_id);
