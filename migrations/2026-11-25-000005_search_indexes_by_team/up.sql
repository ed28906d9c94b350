-- Search at 1,000,000 tickets (100,000 per team), continued from 000004.
--
-- messages_team_idx (team_id alone) served no query (messages are read by id or by
-- ticket), but it let PostgreSQL answer the message side of a search by reading all of
-- the team's messages and running ILIKE on each: 240 ms per search at 290,000 messages,
-- against 14-18 ms through messages_team_content_trgm_idx. Dropped, so the trigram index
-- is the only way in.
DROP INDEX messages_team_idx;

-- The ticket side the same way: the trait and subject trigram indexes carry the team, so
-- a search reads the team's matches only (5 ms) instead of intersecting every team's
-- matches with the team's 100,000 tickets (36 ms).
CREATE INDEX tickets_team_traits_name_trgm_idx ON tickets
    USING gin (team_id, (anonymous_traits ->> 'name') gin_trgm_ops);
CREATE INDEX tickets_team_traits_email_trgm_idx ON tickets
    USING gin (team_id, (anonymous_traits ->> 'email') gin_trgm_ops);
CREATE INDEX tickets_team_email_subject_trgm_idx ON tickets
    USING gin (team_id, email_subject gin_trgm_ops);
DROP INDEX tickets_traits_name_trgm_idx;
DROP INDEX tickets_traits_email_trgm_idx;
DROP INDEX tickets_email_subject_trgm_idx;
