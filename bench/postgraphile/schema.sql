-- What PostGraphile needs beyond ticketgate's tables to answer the benchmark's queries
-- as ONE request each, with the same results as ticketgate. Kept in its own schema,
-- `tg_pgl`, so ticketgate's `public` stays as its migrations made it (one index aside, see
-- the end); applied by bench/run.py (idempotent). Each function is a PostGraphile "computed column" (its first
-- argument is a row of the table, its name starts with the table's name).

CREATE SCHEMA IF NOT EXISTS tg_pgl;

-- Ticket.person: the customer is not a foreign key. ticketgate's rule (persons::for_keys):
-- the team's person owning the ticket's distinct id, else, for email tickets, the oldest
-- of the team's persons whose `email` property is the sender's address in any case.
CREATE OR REPLACE FUNCTION tg_pgl.tickets_person(t public.tickets) RETURNS public.persons
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT p.* FROM public.persons p
    WHERE p.id = COALESCE(
        (SELECT d.person_id FROM public.person_distinct_ids d
         WHERE d.team_id = t.team_id AND d.distinct_id = t.distinct_id),
        (SELECT e.id FROM public.persons e
         WHERE t.channel_source = 'email' AND t.email_from IS NOT NULL
           AND e.team_id = t.team_id
           AND lower(e.properties ->> 'email') = lower(t.email_from)
         ORDER BY e.created_at, e.id LIMIT 1))
$$;

-- Person.displayName: ticketgate's `TicketPerson.name` (Person::display_name): the `name`
-- property, else the `email` property, else the first of its distinct ids.
CREATE OR REPLACE FUNCTION tg_pgl.persons_display_name(p public.persons) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT COALESCE(
        NULLIF(btrim(p.properties ->> 'name'), ''),
        NULLIF(btrim(p.properties ->> 'email'), ''),
        (SELECT min(d.distinct_id) FROM public.person_distinct_ids d WHERE d.person_id = p.id),
        '')
$$;

-- Ticket.customerName / Ticket.customerEmail, filterable: the search looks in them. Plain
-- SQL that PostgreSQL inlines, spelled as in ticketgate's trigram indexes, so the same
-- indexes serve both servers.
CREATE OR REPLACE FUNCTION tg_pgl.tickets_customer_name(t public.tickets) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT t.anonymous_traits ->> 'name' $$;

CREATE OR REPLACE FUNCTION tg_pgl.tickets_customer_email(t public.tickets) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT t.anonymous_traits ->> 'email' $$;

-- A v7-like uuid (time-ordered, as ticketgate's Uuid::now_v7): new rows land at the end
-- of the primary-key index for PostGraphile and pgbench too, as they do for ticketgate.
CREATE OR REPLACE FUNCTION tg_pgl.uuid_v7ish() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
            || '7' || substr(md5(random()::text), 1, 19))::uuid
$$;
COMMENT ON FUNCTION tg_pgl.uuid_v7ish() IS E'@behavior -*';

-- Mutation.sendMessage: ticketgate's sendMessage (messages::writes::send, as a team key
-- without a user): lock the ticket, insert the message strictly after the previous one,
-- count it on the ticket, record the event in the outbox and NOTIFY, in one transaction.
-- It notifies its own channel, so ticketgate's listener is not woken by PostGraphile's
-- writes.
CREATE OR REPLACE FUNCTION tg_pgl.send_message(ticket_id uuid, content text)
RETURNS public.messages
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    t public.tickets;
    clock timestamptz;
    at timestamptz;
    m public.messages;
    seq bigint;
BEGIN
    SELECT * INTO t FROM public.tickets WHERE id = send_message.ticket_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no such ticket' USING ERRCODE = 'P0002';
    END IF;
    clock := clock_timestamp();
    at := greatest(clock, coalesce(t.last_message_at, t.created_at) + interval '1 microsecond');
    INSERT INTO public.messages (id, team_id, ticket_id, content, author_type, is_private, created_at)
    VALUES (tg_pgl.uuid_v7ish(), t.team_id, t.id, send_message.content, 'support', false, at)
    RETURNING * INTO m;
    UPDATE public.tickets SET
        message_count = message_count + 1,
        last_message_at = at,
        last_message_text = left(send_message.content, 500),
        updated_at = greatest(at, t.updated_at + interval '1 microsecond'),
        unread_customer_count = unread_customer_count + 1
    WHERE id = t.id;
    INSERT INTO public.events (team_id, kind, ticket_id, message_id)
    VALUES (t.team_id, 'message_added', t.id, m.id)
    RETURNING events.seq INTO seq;
    PERFORM pg_notify('tg_pgl_events', json_build_object(
        'seq', seq, 'team', t.team_id, 'kind', 'message_added', 'ticket', t.id,
        'message', m.id)::text);
    RETURN m;
END
$$;

-- The one addition to `public`: a trigram index on message content alone. ticketgate's own
-- (migration 000004) is on (team_id, content) because ticketgate's search names the team
-- in its message look-up; PostGraphile's relation filter (`messagesByTicketId: {some:
-- {content: …}}`) is a per-ticket EXISTS without the team, and reads 3-4x more of the
-- composite index than of this one. A PostGraphile user would add it, so it is here: the
-- search compares both servers at their best. (It slows every message insert a little,
-- for both servers alike.)
CREATE INDEX IF NOT EXISTS tg_pgl_messages_content_trgm_idx ON public.messages
    USING gin (content gin_trgm_ops);
