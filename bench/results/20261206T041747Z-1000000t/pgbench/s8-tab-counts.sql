-- Scenario 8 (tab-counts): the 4 statements ticketgate issued for one
-- request, captured from PostgreSQL's statement log by bench/run.py.
SET TIME ZONE 'UTC';
SET CLIENT_ENCODING TO 'UTF8';
SET statement_timeout = 10000;
WITH matching AS (SELECT "tickets"."id", "tickets"."status", "tickets"."priority", "tickets"."channel_source" FROM "tickets" WHERE ("tickets"."team_id" = :s4p1)), counted (kind, status, priority, channel_source, user_id, role_id, n) AS (SELECT 1, m.status, m.priority, m.channel_source, NULL::uuid, NULL::uuid, count(*) FROM matching m GROUP BY m.status, m.priority, m.channel_source) SELECT c.kind, c.status, c.priority, c.channel_source, c.n, c.user_id, u.email AS user_email, u.name AS user_name, u.created_at AS user_created_at, c.role_id, r.organization_id AS role_organization_id, r.name AS role_name, r.created_at AS role_created_at FROM counted c LEFT JOIN users u ON u.id = c.user_id LEFT JOIN roles r ON r.id = c.role_id;
