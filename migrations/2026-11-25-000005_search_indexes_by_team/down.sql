CREATE INDEX tickets_traits_name_trgm_idx ON tickets
    USING gin ((anonymous_traits ->> 'name') gin_trgm_ops);
CREATE INDEX tickets_traits_email_trgm_idx ON tickets
    USING gin ((anonymous_traits ->> 'email') gin_trgm_ops);
CREATE INDEX tickets_email_subject_trgm_idx ON tickets
    USING gin (email_subject gin_trgm_ops);
DROP INDEX tickets_team_email_subject_trgm_idx;
DROP INDEX tickets_team_traits_email_trgm_idx;
DROP INDEX tickets_team_traits_name_trgm_idx;
CREATE INDEX messages_team_idx ON messages (team_id);
