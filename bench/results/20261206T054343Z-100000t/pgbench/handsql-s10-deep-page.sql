-- Scenario 10 (deep-page), written by hand: scenario 1's page (see s1-inbox.sql: the 12
-- fields, the customer's name, the assignee's email, the tags, 51 rows) after a given row
-- of the inbox's order, by keyset: the client kept the last row's (updated_at, id) from
-- the page before (bench/run.py takes them from its walk of ticketgate's pages), and the
-- page is a LIMIT 51 walk of the index (team_id, updated_at DESC, id DESC) starting just
-- after them (`(updated_at, id) < (:after_updated_at, :after_id)`, an index condition),
-- so it costs what the first page costs, however deep. ONE statement, as s1-inbox.sql.
-- Parameters (pgbench -D): team, after_updated_at, after_id. Run with pgbench -M prepared.
SELECT t.id, t.ticket_number, t.status, t.priority, t.channel_source, t.distinct_id,
       t.created_at, t.updated_at, t.message_count, t.last_message_at, t.last_message_text,
       t.unread_team_count,
       (SELECT COALESCE(NULLIF(btrim(p.properties ->> 'name'), ''),
                        NULLIF(btrim(p.properties ->> 'email'), ''),
                        (SELECT min(d.distinct_id) FROM person_distinct_ids d WHERE d.person_id = p.id),
                        '')
          FROM persons p
         WHERE p.id = COALESCE(
                 (SELECT d.person_id FROM person_distinct_ids d
                   WHERE d.team_id = t.team_id AND d.distinct_id = t.distinct_id),
                 (SELECT e.id FROM persons e
                   WHERE t.channel_source = 'email' AND t.email_from IS NOT NULL
                     AND e.team_id = t.team_id AND lower(e.properties ->> 'email') = lower(t.email_from)
                   ORDER BY e.created_at, e.id LIMIT 1))) AS person_name,
       (SELECT (SELECT u.email FROM users u WHERE u.id = a.user_id)
          FROM ticket_assignments a WHERE a.ticket_id = t.id) AS assignee_email,
       ARRAY(SELECT (SELECT g.name FROM tags g WHERE g.id = tt.tag_id) AS name
               FROM ticket_tags tt WHERE tt.ticket_id = t.id ORDER BY 1) AS tags
  FROM (SELECT id, team_id, ticket_number, status, priority, channel_source, distinct_id,
               email_from, created_at, updated_at, message_count, last_message_at,
               last_message_text, unread_team_count
          FROM tickets
         WHERE team_id = :team AND (updated_at, id) < (:after_updated_at, :after_id)
         ORDER BY updated_at DESC, id DESC
         LIMIT 51) t
 ORDER BY t.updated_at DESC, t.id DESC;
