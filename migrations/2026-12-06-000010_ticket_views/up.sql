-- Saved views: a team's named ticket filter and order. `owner_user_id` null: shared with
-- the team; set: private to that user (keys created for the user). `filter` and
-- `order_by` hold the GraphQL input values (`TicketFilter`, `[TicketOrder!]`) as JSON,
-- validated like a request's before they are stored; tags are named, so a view naming a
-- tag that was deleted still reads (the tag simply matches no ticket).
CREATE TABLE ticket_views (
    id             uuid PRIMARY KEY,
    team_id        uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    owner_user_id  uuid REFERENCES users (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    filter         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(filter) = 'object'),
    order_by       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(order_by) = 'array'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- One name per scope: the team's shared views, and each user's private ones.
CREATE UNIQUE INDEX ticket_views_name_idx ON ticket_views
    (team_id, COALESCE(owner_user_id, '00000000-0000-0000-0000-000000000000'::uuid), name);
