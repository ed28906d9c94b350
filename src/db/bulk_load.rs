//! The bulk-load path for an empty database: the secondary indexes of the tables the
//! seeder fills are dropped before the load and built again after it.
//!
//! Why: maintaining ~28 secondary indexes row by row (three of them trigram GIN indexes)
//! was most of a large load — at 100,000 tickets, COPY into `messages` took 19 s with its
//! indexes and 1 s without, while building them afterwards took ~6 s. A sorted build is
//! also the tightest index there is.
//!
//! The definitions are read from the catalog (`pg_get_indexdef`), so the migrations stay
//! the single source of truth. Indexes backing a constraint (primary keys, `UNIQUE`) are
//! kept: foreign keys depend on them, uniqueness stays enforced during the load, and
//! their keys are sequential (appended at the right edge), so they cost little.
//!
//! A seed killed between the drop and the rebuild must not leave the database without
//! its indexes: each dropped definition is recorded in `seed_dropped_indexes` in the
//! transaction that drops it, and deleted once the index exists again. Whatever is still
//! listed is built by [`restore_dropped`], which every start runs after the migrations.

use std::collections::VecDeque;
use std::sync::Mutex;

use diesel::prelude::*;
use diesel::sql_types::{Array, Bool, Text};

use crate::error::{AppError, AppResult};

/// The tables the seeder COPYs into.
pub const LOADED_TABLES: [&str; 6] = [
    "persons",
    "person_distinct_ids",
    "tickets",
    "messages",
    "ticket_assignments",
    "ticket_tags",
];

/// Memory for each index build. The trigram GIN accumulator of 2.6 million messages
/// outgrows 1GB and then flushes and merges partial lists: measured 92 s for that
/// build at 1GB, ~20 µs a row when it fits. Two builds run at once, well within
/// this machine class' memory (it is only taken as needed).
const BUILD_MEMORY: &str = "3GB";

/// Index builds at once, each on its own connection (a GIN build uses one core).
const BUILDERS: usize = 2;

#[derive(Debug, Clone, QueryableByName)]
pub struct SecondaryIndex {
    /// Schema-qualified when needed, quoted when needed (`regclass::text`).
    #[diesel(sql_type = Text)]
    pub name: String,
    /// `CREATE INDEX …` as the catalog has it.
    #[diesel(sql_type = Text)]
    pub definition: String,
}

#[derive(QueryableByName)]
struct Flag {
    #[diesel(sql_type = Bool)]
    value: bool,
}

/// Whether every loaded table is empty and this session may drop and create their
/// indexes (it owns them, directly or through a role, or is a superuser).
pub fn applies(conn: &mut PgConnection) -> QueryResult<bool> {
    let empty = LOADED_TABLES
        .iter()
        .map(|table| format!("NOT EXISTS (SELECT 1 FROM {table})"))
        .collect::<Vec<_>>()
        .join(" AND ");
    let sql = format!(
        "SELECT ({empty}) AND (SELECT bool_and(pg_has_role(current_user, c.relowner, 'USAGE')) \
         FROM pg_class c WHERE c.oid = ANY(ARRAY[{}]::regclass[])) AS value",
        quoted_list(&LOADED_TABLES)
    );
    Ok(diesel::sql_query(sql).get_result::<Flag>(conn)?.value)
}

fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The indexes of the loaded tables that back no constraint: `messages` (the largest
/// table) first, and GIN (the slowest to build) first within a table, so the longest
/// builds start first and the short ones fill in around them.
pub fn secondary_indexes(conn: &mut PgConnection) -> QueryResult<Vec<SecondaryIndex>> {
    let tables: Vec<String> = LOADED_TABLES.iter().map(|t| (*t).to_owned()).collect();
    diesel::sql_query(
        "SELECT i.indexrelid::regclass::text AS name, \
                pg_get_indexdef(i.indexrelid) AS definition \
         FROM pg_index i \
         JOIN pg_class t ON t.oid = i.indrelid \
         JOIN pg_class x ON x.oid = i.indexrelid \
         JOIN pg_am a ON a.oid = x.relam \
         WHERE t.oid = ANY(SELECT to_regclass(n) FROM unnest($1::text[]) AS n) \
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) \
         ORDER BY t.relname = 'messages' DESC, a.amname = 'gin' DESC, t.relname, x.relname",
    )
    .bind::<Array<Text>, _>(tables)
    .load(conn)
}

/// Drops `indexes` in one transaction (all or none), recording each definition so an
/// interrupted seed can be repaired.
pub fn drop_indexes(conn: &mut PgConnection, indexes: &[SecondaryIndex]) -> QueryResult<()> {
    conn.transaction(|conn| {
        for index in indexes {
            diesel::sql_query(
                "INSERT INTO seed_dropped_indexes (name, definition) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET definition = EXCLUDED.definition",
            )
            .bind::<Text, _>(&index.name)
            .bind::<Text, _>(&index.definition)
            .execute(conn)?;
            diesel::sql_query(format!("DROP INDEX {}", index.name)).execute(conn)?;
        }
        Ok(())
    })
}

/// Held by a bulk seed from the drop to the rebuild, and by [`restore_dropped`]: a
/// listed index belongs to a running seed while the lock is taken.
const REBUILD_LOCK: i64 = 7316812020;

/// Marks this session's bulk load as running until [`end_load`] or the session ends (a
/// killed seed's session ends, which hands its indexes to [`restore_dropped`]).
pub fn begin_load(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query(format!("SELECT pg_advisory_lock({REBUILD_LOCK})"))
        .execute(conn)
        .map(|_| ())
}

pub fn end_load(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query(format!("SELECT pg_advisory_unlock({REBUILD_LOCK})"))
        .execute(conn)
        .map(|_| ())
}

#[derive(QueryableByName)]
struct Locked {
    #[diesel(sql_type = Bool)]
    locked: bool,
}

/// Builds the indexes an interrupted seed left dropped (see the module doc). Nothing is done while a seed is loading (it rebuilds its own) or another
/// replica is already restoring; the builds are `IF NOT EXISTS`.
pub fn restore_dropped(conn: &mut PgConnection) -> QueryResult<()> {
    conn.transaction(|conn| {
        let sql = format!("SELECT pg_try_advisory_xact_lock({REBUILD_LOCK}) AS locked");
        if !diesel::sql_query(sql).get_result::<Locked>(conn)?.locked {
            return Ok(());
        }
        let dropped: Vec<SecondaryIndex> =
            diesel::sql_query("SELECT name, definition FROM seed_dropped_indexes ORDER BY name")
                .load(conn)?;
        for index in &dropped {
            tracing::warn!(index = %index.name, "building an index an interrupted seed dropped");
            diesel::sql_query(if_not_exists(&index.definition)).execute(conn)?;
            forget_dropped(conn, &index.name)?;
        }
        Ok(())
    })
}

/// `CREATE [UNIQUE] INDEX name …` as `CREATE [UNIQUE] INDEX IF NOT EXISTS name …`.
fn if_not_exists(definition: &str) -> String {
    for prefix in ["CREATE INDEX ", "CREATE UNIQUE INDEX "] {
        if let Some(rest) = definition.strip_prefix(prefix) {
            return format!("{prefix}IF NOT EXISTS {rest}");
        }
    }
    definition.to_owned()
}

fn forget_dropped(conn: &mut PgConnection, name: &str) -> QueryResult<()> {
    diesel::sql_query("DELETE FROM seed_dropped_indexes WHERE name = $1")
        .bind::<Text, _>(name)
        .execute(conn)
        .map(|_| ())
}

/// Builds `indexes` again, [`BUILDERS`] at a time, each builder on a connection of its own
/// to `url`. Every index is attempted even when one fails, so a failure leaves as few
/// missing as possible; the error then names what is missing.
pub fn create_indexes(url: &str, indexes: Vec<SecondaryIndex>) -> AppResult<()> {
    let queue = Mutex::new(VecDeque::from(indexes));
    let failed: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..BUILDERS {
            scope.spawn(|| build_from_queue(url, &queue, &failed));
        }
    });
    let mut failed = failed.into_inner().unwrap_or_else(|e| e.into_inner());
    // Left over when no builder could connect.
    let left = queue.into_inner().unwrap_or_else(|e| e.into_inner());
    failed.extend(left.into_iter().map(|index| index.definition));
    if failed.is_empty() {
        Ok(())
    } else {
        Err(AppError::internal(format!(
            "seeding could not rebuild these indexes (recreate them from their migrations): {}",
            failed.join("; ")
        )))
    }
}

fn build_from_queue(
    url: &str,
    queue: &Mutex<VecDeque<SecondaryIndex>>,
    failed: &Mutex<Vec<String>>,
) {
    let mut conn = match crate::db::connect(url).and_then(|mut conn| {
        prepare_builder(&mut conn)?;
        Ok(conn)
    }) {
        Ok(conn) => Some(conn),
        Err(err) => {
            tracing::warn!(error = %err, "index builder could not connect; the other builds on");
            None
        }
    };
    loop {
        // The other builder still drains the queue when this one could not connect.
        let Some(conn) = conn.as_mut() else { return };
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        let Some(index) = next else { return };
        let started = std::time::Instant::now();
        match diesel::sql_query(&index.definition)
            .execute(conn)
            .and_then(|_| forget_dropped(conn, &index.name))
        {
            Ok(()) => tracing::debug!(
                index = %index.name,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "index rebuilt"
            ),
            Err(err) => {
                tracing::error!(index = %index.name, error = %err, "index rebuild failed");
                failed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(format!("{} ({err})", index.definition));
            }
        }
    }
}

/// Generous memory for the sort and the GIN accumulator. No parallel workers: the
/// builders already keep every core busy.
fn prepare_builder(conn: &mut PgConnection) -> AppResult<()> {
    diesel::sql_query(format!("SET maintenance_work_mem = '{BUILD_MEMORY}'")).execute(conn)?;
    diesel::sql_query("SET max_parallel_maintenance_workers = 0").execute(conn)?;
    Ok(())
}
