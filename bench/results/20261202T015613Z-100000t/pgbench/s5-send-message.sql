-- Scenario 5 (send-message): the 6 statements ticketgate issued for one
-- request, captured from PostgreSQL's statement log by bench/run.py.
-- The prologue picks the ticket and the new message's id (ticketgate does both in Rust).
\set n random(1, 1000)
SELECT id AS tid FROM tickets WHERE team_id = '01a23477-8be3-7189-902e-17da013e0af4' AND ticket_number = :n \gset
SELECT tg_pgl.uuid_v7ish() AS mid \gset
BEGIN;
SELECT "tickets"."id", "tickets"."team_id", "tickets"."ticket_number", "tickets"."channel_source", "tickets"."channel_detail", "tickets"."distinct_id", "tickets"."status", "tickets"."priority", "tickets"."anonymous_traits", "tickets"."ai_resolved", "tickets"."escalation_reason", "tickets"."unread_customer_count", "tickets"."unread_team_count", "tickets"."message_count", "tickets"."last_message_at", "tickets"."last_message_text", "tickets"."slack_channel_id", "tickets"."slack_thread_ts", "tickets"."slack_team_id", "tickets"."email_channel_id", "tickets"."email_subject", "tickets"."email_from", "tickets"."cc_participants", "tickets"."session_id", "tickets"."session_context", "tickets"."sla_due_at", "tickets"."snoozed_until", "tickets"."created_at", "tickets"."updated_at", clock_timestamp() FROM "tickets" WHERE (("tickets"."team_id" = :s2p1) AND ("tickets"."id" = :tid)) LIMIT :s2p3 FOR UPDATE;
INSERT INTO "messages" ("id", "team_id", "ticket_id", "content", "author_type", "is_private", "created_by", "created_at") VALUES (:mid, :s3p2, :tid, :s3p4, :s3p5, :s3p6, NULL, :s3p8) RETURNING "messages"."id", "messages"."team_id", "messages"."ticket_id", "messages"."content", "messages"."author_type", "messages"."is_private", "messages"."created_by", "messages"."deleted", "messages"."created_at";
UPDATE "tickets" SET "message_count" = ("tickets"."message_count" + :s4p1), "last_message_at" = :s4p2, "last_message_text" = :s4p3, "updated_at" = :s4p4, "unread_team_count" = ("tickets"."unread_team_count" + :s4p5), "unread_customer_count" = ("tickets"."unread_customer_count" + :s4p6) WHERE ("tickets"."id" = :tid);
WITH e AS (INSERT INTO events (team_id, kind, ticket_id, message_id) VALUES (:s5p1, :s5p2, :tid, :mid) RETURNING seq, team_id, kind, ticket_id, message_id) SELECT pg_notify('ticketgate_events', json_build_object( 'seq', seq, 'team', team_id, 'kind', kind, 'ticket', ticket_id, 'message', message_id)::text) FROM e;
COMMIT;
