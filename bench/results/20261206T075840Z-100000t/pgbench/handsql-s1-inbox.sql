-- Scenario 1 (inbox), written by hand: the 50-ticket page in the inbox's order (latest
-- update first, id as the tie-break) plus one row to know whether a next page exists,
-- with exactly what the response shows. ONE statement (one round trip): the page is a
-- LIMIT 51 walk of the index (team_id, updated_at DESC, id DESC) selecting the 12 fields
-- (plus the keys that find the person); for each of those rows
--   - the customer's name: the team's person owning the ticket's distinct_id
--     (person_distinct_ids), else, for email tickets, the oldest person of the team whose
--     `email` property is the sender's address in any case (ticketgate's rule); the name
--     is its `name` property, else its `email`, else its first distinct id;
--   - the assignee's email: ticket_assignments -> users (a role assignee has none);
--   - the tag names, sorted, as an array;
-- each a look-up by primary key or unique index, per row, as scalar sub-selects (joined,
-- PostgreSQL's generic plan hashed all of ticket_assignments and tags instead: 1.7x the
-- CPU of this form).
-- Parameters (pgbench -D): team. Run with pgbench -M prepared.
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
         WHERE team_id = :team
         ORDER BY updated_at DESC, id DESC
         LIMIT 51) t
 ORDER BY t.updated_at DESC, t.id DESC;
