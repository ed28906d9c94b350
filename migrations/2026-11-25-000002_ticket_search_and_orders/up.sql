-- Text search over tickets (trigram indexes answer case-insensitive `ILIKE '%…%'`) and the
-- orderings of the `tickets` query whose columns may be null.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX tickets_traits_name_trgm_idx ON tickets
    USING gin ((anonymous_traits ->> 'name') gin_trgm_ops);
CREATE INDEX tickets_traits_email_trgm_idx ON tickets
    USING gin ((anonymous_traits ->> 'email') gin_trgm_ops);
CREATE INDEX tickets_email_subject_trgm_idx ON tickets
    USING gin (email_subject gin_trgm_ops);
CREATE INDEX messages_content_trgm_idx ON messages
    USING gin (content gin_trgm_ops);

-- Null SLA/snooze times sort last in both directions: the orderings use
-- COALESCE(column, ±infinity) so keyset cursors compare plain values.
CREATE INDEX tickets_team_sla_asc_idx ON tickets
    (team_id, COALESCE(sla_due_at, 'infinity'::timestamptz), id);
CREATE INDEX tickets_team_sla_desc_idx ON tickets
    (team_id, COALESCE(sla_due_at, '-infinity'::timestamptz) DESC, id DESC);
CREATE INDEX tickets_team_snoozed_asc_idx ON tickets
    (team_id, COALESCE(snoozed_until, 'infinity'::timestamptz), id);
CREATE INDEX tickets_team_snoozed_desc_idx ON tickets
    (team_id, COALESCE(snoozed_until, '-infinity'::timestamptz) DESC, id DESC);
