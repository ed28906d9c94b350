-- Scenario 3 (one-ticket), written by hand: one ticket by its number in the team, with
-- the 12 fields the response shows, then its last 20 messages that are neither deleted
-- nor private (5 fields each), newest first, plus one to know whether older ones exist
-- (the client shows them oldest first). TWO statements, chained: the first finds the
-- ticket through the unique (team_id, ticket_number) index and keeps its id (\gset);
-- the second walks that ticket's messages backwards on the index (ticket_id, created_at,
-- id), LIMIT 21.
-- Parameters (pgbench -D): team, n (the ticket number). Run with pgbench -M prepared.
SELECT id AS tid, ticket_number, status, priority, channel_source, distinct_id, created_at,
       updated_at, message_count, last_message_at, last_message_text, unread_team_count
  FROM tickets
 WHERE team_id = :team AND ticket_number = :n \gset
SELECT id, content, author_type, is_private, created_at
  FROM messages
 WHERE ticket_id = :tid AND NOT deleted AND NOT is_private
 ORDER BY created_at DESC, id DESC
 LIMIT 21;
