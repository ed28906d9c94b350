//! Waking snoozed tickets: background work every replica runs, safe with many replicas
//! at once.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use uuid::Uuid;

use crate::db::Db;
use crate::error::AppResult;
use crate::events::{outbox, EventKind};

#[derive(QueryableByName)]
struct Woken {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    team_id: Uuid,
}

/// Wakes tickets whose snooze has passed: clears `snoozed_until`, reopens them, logs and
/// publishes the change. `SKIP LOCKED` lets several replicas share the work without
/// waking a ticket twice or waiting on each other.
pub fn wake_snoozed(conn: &mut PgConnection, batch: i64) -> AppResult<usize> {
    conn.transaction(|conn| {
        let woken: Vec<Woken> = diesel::sql_query(
            "WITH due AS (SELECT id FROM tickets WHERE snoozed_until IS NOT NULL \
                            AND snoozed_until <= clock_timestamp() \
                          ORDER BY snoozed_until LIMIT $1 FOR UPDATE SKIP LOCKED) \
             UPDATE tickets t SET snoozed_until = NULL, status = 'open', \
                    updated_at = GREATEST(clock_timestamp(), t.updated_at + interval '1 microsecond') \
             FROM due WHERE t.id = due.id RETURNING t.id, t.team_id",
        )
        .bind::<diesel::sql_types::BigInt, _>(batch)
        .load(conn)?;
        for ticket in &woken {
            super::writes::record_activity(
                conn,
                ticket.team_id,
                ticket.id,
                "woken",
                None,
                serde_json::json!({}),
            )?;
            outbox::publish(conn, ticket.team_id, EventKind::TicketUpdated, ticket.id, None)?;
        }
        Ok(woken.len())
    })
}

/// Runs the periodic jobs until the process ends.
/// Events older than `event_retention` are pruned about every 5 minutes (every 60th round
/// at the default 5 s).
pub async fn run(db: Db, every: Duration, event_retention: Duration) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut rounds: u64 = 0;
    loop {
        ticks.tick().await;
        rounds += 1;
        let prune = rounds.is_multiple_of(60);
        let outcome = db
            .run(move |conn| {
                let woken = wake_snoozed(conn, 500)?;
                if prune {
                    outbox::prune(conn, event_retention)?;
                }
                Ok(woken)
            })
            .await;
        match outcome {
            Ok(0) => {}
            Ok(woken) => tracing::info!(woken, "woke snoozed tickets"),
            Err(err) => tracing::warn!(error = %err, "background jobs failed"),
        }
    }
}
