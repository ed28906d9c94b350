-- Operations registered by their SHA-256, per team: automatic persisted queries (Apollo's
-- protocol; `source = 'apq'`, the oldest evicted past a bound per team) and trusted
-- documents pushed by an operator (`source = 'trusted'`, never evicted). Shared by every
-- replica; each keeps a small cache in memory.
CREATE TABLE persisted_operations (
    team_id     uuid NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    query       text NOT NULL,
    source      text NOT NULL CHECK (source IN ('apq', 'trusted')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (team_id, sha256)
);
CREATE INDEX persisted_operations_eviction ON persisted_operations (team_id, source, created_at);
