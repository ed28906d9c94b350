-- The outbox of live updates. Every mutation adds its event here in its own transaction
-- and NOTIFYs `ticketgate_events` with the event's ids (never rows: NOTIFY payloads are
-- capped at 8 kB). Listeners that lost their connection replay what they missed from
-- this table; old events are pruned.
CREATE TABLE events (
    seq         bigserial PRIMARY KEY,
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('ticket_created', 'ticket_updated', 'ticket_assigned',
                                              'message_added', 'message_deleted', 'ticket_read')),
    ticket_id   uuid NOT NULL,
    message_id  uuid,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX events_created_at_idx ON events (created_at);
