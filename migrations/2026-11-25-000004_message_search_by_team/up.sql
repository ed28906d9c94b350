-- Text search over messages, scoped to the team inside the index.
--
-- With a trigram index on content alone, PostgreSQL answered "which of this team's tickets
-- have a message containing X" by reading every message of the team through
-- messages_team_idx and running ILIKE on each (it prices ILIKE as cheap as `=`): 45 ms at
-- 26,000 messages per team, growing with the team. A GIN index on (team_id, content
-- trigrams) (btree_gin lets a uuid sit in a GIN index) finds the team's matching messages
-- directly: about 1 ms for the same search. Deleted messages are never searched.
CREATE EXTENSION IF NOT EXISTS btree_gin;

CREATE INDEX messages_team_content_trgm_idx ON messages
    USING gin (team_id, content gin_trgm_ops) WHERE NOT deleted;

DROP INDEX messages_content_trgm_idx;
