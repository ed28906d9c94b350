-- Indexes that `ticketgate seed` dropped for a bulk load and has not built again yet.
-- A row is written in the transaction that drops the index and deleted once the index
-- exists again, so a seed killed mid-way leaves a record here; the next start (serve,
-- migrate or seed) builds what is listed (seed/bulk.rs `restore_dropped`).
CREATE TABLE seed_dropped_indexes (
    name       text PRIMARY KEY,
    definition text NOT NULL,
    dropped_at timestamptz NOT NULL DEFAULT now()
);
