-- Batch bodies are stored compressed (zstd) from now on: bytes, not text.
-- Rows stored before hold the JSON itself, as UTF-8; both read back alike
-- (a zstd frame starts with bytes that JSON text cannot start with). On
-- SQLite the TEXT column holds either, so only PostgreSQL changes.
ALTER TABLE batches ALTER COLUMN body TYPE BYTEA USING convert_to(body, 'UTF8');
