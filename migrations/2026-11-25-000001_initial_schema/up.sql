-- ticketgate: the whole domain in one schema. Enum-like columns are text with CHECK
-- constraints (values as the reference stores them) so new values are a one-line migration.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE teams (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    slug                text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name                text NOT NULL,
    -- Highest ticket number handed out so far: creation bumps it under the row lock, so
    -- numbers are gap-free and never repeat, even when tickets are created concurrently.
    last_ticket_number  integer NOT NULL DEFAULT 0 CHECK (last_ticket_number >= 0),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX teams_organization_idx ON teams (organization_id);

CREATE TABLE users (
    id          uuid PRIMARY KEY,
    email       text NOT NULL,
    name        text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE organization_memberships (
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    level            text NOT NULL DEFAULT 'member' CHECK (level IN ('member', 'admin', 'owner')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, user_id)
);
CREATE INDEX organization_memberships_user_idx ON organization_memberships (user_id);

CREATE TABLE team_memberships (
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_memberships_user_idx ON team_memberships (user_id);

CREATE TABLE roles (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name             text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (organization_id, name)
);

CREATE TABLE role_memberships (
    role_id     uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (role_id, user_id)
);

-- Customers as the analytics product knows them: one person, many distinct ids.
CREATE TABLE persons (
    id             uuid PRIMARY KEY,
    team_id        uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    properties     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(properties) = 'object'),
    is_identified  boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX persons_team_idx ON persons (team_id);
-- The email fallback of email tickets looks persons up by lower(properties->>'email').
CREATE INDEX persons_team_email_idx ON persons (team_id, lower(properties ->> 'email'));

CREATE TABLE person_distinct_ids (
    team_id      uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    distinct_id  text NOT NULL CHECK (length(distinct_id) BETWEEN 1 AND 400),
    person_id    uuid NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, distinct_id)
);
CREATE INDEX person_distinct_ids_person_idx ON person_distinct_ids (person_id);

-- The inbound email address a team receives tickets on; a ticket's `emailTo` is derived
-- from it, as the reference derives it from its email channel configuration.
CREATE TABLE email_channels (
    id          uuid PRIMARY KEY,
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    address     text NOT NULL,
    from_name   text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_channels_team_idx ON email_channels (team_id);

CREATE TABLE tickets (
    id                     uuid PRIMARY KEY,
    team_id                uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    ticket_number          integer NOT NULL CHECK (ticket_number > 0),
    channel_source         text NOT NULL DEFAULT 'widget'
        CHECK (channel_source IN ('widget', 'email', 'slack', 'teams')),
    channel_detail         text
        CHECK (channel_detail IN ('slack_channel_message', 'slack_bot_mention', 'slack_emoji_reaction',
                                  'teams_channel_message', 'teams_bot_mention', 'widget_embedded',
                                  'widget_api')),
    -- Access control for the customer widget: never exposed through the API.
    widget_session_id      text,
    distinct_id            text NOT NULL CHECK (length(distinct_id) <= 400),
    status                 text NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'open', 'pending', 'on_hold', 'resolved')),
    priority               text CHECK (priority IN ('low', 'medium', 'high')),
    anonymous_traits       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(anonymous_traits) = 'object'),
    ai_resolved            boolean NOT NULL DEFAULT false,
    escalation_reason      text,
    unread_customer_count  integer NOT NULL DEFAULT 0 CHECK (unread_customer_count >= 0),
    unread_team_count      integer NOT NULL DEFAULT 0 CHECK (unread_team_count >= 0),
    message_count          integer NOT NULL DEFAULT 0 CHECK (message_count >= 0),
    last_message_at        timestamptz,
    last_message_text      text CHECK (char_length(last_message_text) <= 500),
    slack_channel_id       text,
    slack_thread_ts        text,
    slack_team_id          text,
    teams_channel_id       text,
    teams_conversation_id  text,
    teams_service_url      text,
    teams_tenant_id        text,
    email_channel_id       uuid REFERENCES email_channels (id) ON DELETE SET NULL,
    email_subject          text CHECK (char_length(email_subject) <= 500),
    email_from             text,
    cc_participants        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(cc_participants) = 'array'),
    session_id             text,
    session_context        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(session_context) = 'object'),
    sla_due_at             timestamptz,
    snoozed_until          timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tickets_team_number_key UNIQUE (team_id, ticket_number)
);
-- The reference's indexes. Orderings carry `id` last: it breaks ties, so keyset
-- pagination can seek on (column, id) with one index range scan.
CREATE INDEX tickets_team_widget_session_idx ON tickets (team_id, widget_session_id);
CREATE INDEX tickets_team_distinct_id_idx ON tickets (team_id, distinct_id);
CREATE INDEX tickets_team_status_idx ON tickets (team_id, status);
CREATE INDEX tickets_team_number_desc_idx ON tickets (team_id, ticket_number DESC);
CREATE INDEX tickets_team_session_idx ON tickets (team_id, session_id);
CREATE INDEX tickets_team_slack_thread_idx ON tickets (team_id, slack_channel_id, slack_thread_ts);
CREATE INDEX tickets_team_teams_thread_idx ON tickets (team_id, teams_channel_id, teams_conversation_id);
CREATE INDEX tickets_team_updated_idx ON tickets (team_id, updated_at DESC, id DESC);
CREATE INDEX tickets_team_status_updated_idx ON tickets (team_id, status, updated_at DESC, id DESC);
CREATE INDEX tickets_team_created_idx ON tickets (team_id, created_at DESC, id DESC);
CREATE INDEX tickets_team_sla_idx ON tickets (team_id, sla_due_at, id);
CREATE INDEX tickets_team_snoozed_idx ON tickets (team_id, snoozed_until, id);
CREATE INDEX tickets_snooze_wake_idx ON tickets (snoozed_until) WHERE snoozed_until IS NOT NULL;

-- One assignee per ticket: a user or a role, never both.
CREATE TABLE ticket_assignments (
    id          uuid PRIMARY KEY,
    ticket_id   uuid NOT NULL UNIQUE REFERENCES tickets (id) ON DELETE CASCADE,
    user_id     uuid REFERENCES users (id) ON DELETE CASCADE,
    role_id     uuid REFERENCES roles (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ticket_assignments_one_assignee CHECK ((user_id IS NULL) <> (role_id IS NULL))
);
CREATE INDEX ticket_assignments_user_idx ON ticket_assignments (user_id) WHERE user_id IS NOT NULL;
CREATE INDEX ticket_assignments_role_idx ON ticket_assignments (role_id) WHERE role_id IS NOT NULL;

-- What happened to a ticket (assignments, status changes, creation): automation reads it.
CREATE TABLE ticket_activities (
    id             uuid PRIMARY KEY,
    team_id        uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    ticket_id      uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind           text NOT NULL
        CHECK (kind IN ('created', 'status_changed', 'priority_changed', 'assigned', 'unassigned',
                        'snoozed', 'woken', 'tags_changed')),
    actor_user_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    details        jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_activities_ticket_idx ON ticket_activities (ticket_id, created_at);

CREATE TABLE messages (
    id            uuid PRIMARY KEY,
    team_id       uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    ticket_id     uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    content       text NOT NULL,
    author_type   text NOT NULL CHECK (author_type IN ('customer', 'support', 'AI')),
    is_private    boolean NOT NULL DEFAULT false,
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    -- Channel metadata (Slack ts, email message id, …), kept as the channel sent it.
    item_context  jsonb NOT NULL DEFAULT '{}',
    deleted       boolean NOT NULL DEFAULT false,
    deleted_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_ticket_created_idx ON messages (ticket_id, created_at, id);
CREATE INDEX messages_team_idx ON messages (team_id);

CREATE TABLE tags (
    id          uuid PRIMARY KEY,
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (team_id, name)
);

CREATE TABLE ticket_tags (
    ticket_id  uuid NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    tag_id     uuid NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (ticket_id, tag_id)
);
CREATE INDEX ticket_tags_tag_idx ON ticket_tags (tag_id);

-- API keys are stored as a SHA-256 of the key; the clear key is shown once, at creation.
CREATE TABLE api_keys (
    id            uuid PRIMARY KEY,
    team_id       uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id       uuid REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL DEFAULT '',
    key_hash      bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    -- The first characters of the key, to tell keys apart in listings without the secret.
    key_prefix    text NOT NULL,
    scopes        text[] NOT NULL DEFAULT '{read,write}' CHECK (scopes <@ '{read,write}'::text[]),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_keys_team_idx ON api_keys (team_id);
