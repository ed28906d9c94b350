-- Scenario 9 (dashboard), written by hand: the inbox's 50 tickets (latest update first, id
-- as the tie-break) plus one row to know whether a next page exists, each with the 12
-- fields, the customer's name, the assignee's email and its last 3 messages that are
-- neither deleted nor private (5 fields each, oldest of the three first). ONE statement:
-- the page is a LIMIT 51 walk of the index (team_id, updated_at DESC, id DESC); per row,
--   - the customer's name: the team's person owning the ticket's distinct_id
--     (person_distinct_ids), else, for email tickets, the oldest person of the team whose
--     `email` property is the sender's address in any case (ticketgate's rule); the name
--     is its `name` property, else its `email`, else its first distinct id;
--   - the assignee's email: ticket_assignments -> users (a role assignee has none);
--   - the last 3 messages: a backward walk of the index (ticket_id, created_at, id),
--     LIMIT 3, returned as one JSON array per ticket (json_agg);
-- each a scalar sub-select on an index. One row per message instead (LEFT JOIN LATERAL,
-- the ticket's columns repeated) cost PostgreSQL 1.4x the CPU of the JSON array.
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
       (SELECT json_agg(m ORDER BY m.created_at, m.id)
          FROM (SELECT id, content, author_type, is_private, created_at
                  FROM messages
                 WHERE ticket_id = t.id AND NOT deleted AND NOT is_private
                 ORDER BY created_at DESC, id DESC
                 LIMIT 3) m) AS messages
  FROM (SELECT id, team_id, ticket_number, status, priority, channel_source, distinct_id,
               email_from, created_at, updated_at, message_count, last_message_at,
               last_message_text, unread_team_count
          FROM tickets
         WHERE team_id = :team
         ORDER BY updated_at DESC, id DESC
         LIMIT 51) t
 ORDER BY t.updated_at DESC, t.id DESC;
