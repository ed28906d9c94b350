CREATE INDEX messages_content_trgm_idx ON messages USING gin (content gin_trgm_ops);
DROP INDEX messages_team_content_trgm_idx;
DROP EXTENSION IF EXISTS btree_gin;
