-- Whether the request ran on the caller's own provider key (X-Provider-Key): 1, or on the operator's: 0.
-- The budget of a day counts what the operator's keys spent, while the usage report shows every request.
-- Portable across SQLite and PostgreSQL. The SQLite ledger splits this file on semicolons: none in comments.
ALTER TABLE usage_records ADD COLUMN own_key INTEGER NOT NULL DEFAULT 0
