-- Automatic persisted queries (Apollo's protocol): queries registered by their SHA-256, per
-- team, the oldest forgotten past a bound per team. Shared by every replica; each keeps a
-- small cache in memory.
CREATE TABLE persisted_operations (
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    query       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, sha256)
);
CREATE INDEX persisted_operations_eviction ON persisted_operations (team_id, created_at);

-- Trusted documents: the operations an operator pushed from a client's manifest
-- (`ticketgate documents push`), by the manifest's id (a SHA-256, an MD5, any id the
-- client sends), for the whole deployment. With TICKETGATE_TRUSTED_DOCUMENTS=only no other
-- operation runs. Never evicted.
CREATE TABLE trusted_documents (
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9:._-]{1,200}$'),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    query       text NOT NULL,
    client_name text,
    pushed_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trusted_documents_sha256 ON trusted_documents (sha256);
