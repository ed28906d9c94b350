use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Uuid as SqlUuid};
use uuid::Uuid;

use super::broker::{Event, EventKind};
use super::position::Position;
use crate::db::sql::Statement;

/// The NOTIFY channel every replica listens on.
/// The NOTIFY channel key changes are announced on, with the key's id, by a trigger on
/// `api_keys` (migration 000006): every replica forgets the keys it cached and closes that
/// key's websocket connections.
pub const REVOKED_CHANNEL: &str = "ticketgate_revoked_keys";

pub const CHANNEL: &str = "ticketgate_events";

/// Records an event and notifies listeners, inside the caller's transaction: both happen
/// exactly when (and only if) the mutation commits, in commit order.
pub fn publish(
    conn: &mut PgConnection,
    team_id: Uuid,
    kind: EventKind,
    ticket_id: Uuid,
    message_id: Option<Uuid>,
) -> QueryResult<()> {
    Statement::new()
        .sql(
            "WITH e AS (INSERT INTO events (team_id, kind, ticket_id, message_id, trace_parent) \
             VALUES (",
        )
        .bind::<SqlUuid, _>(team_id)
        .sql(", ")
        .bind::<Text, _>(kind.as_db())
        .sql(", ")
        .bind::<SqlUuid, _>(ticket_id)
        .sql(", ")
        .bind::<Nullable<SqlUuid>, _>(message_id)
        .sql(", ")
        // The publishing request's trace, carried to every replica's delivery.
        .bind::<Nullable<Text>, _>(crate::telemetry::current_traceparent())
        .sql(
            ") RETURNING seq, team_id, kind, ticket_id, message_id, trace_parent) \
             SELECT pg_notify('ticketgate_events', json_build_object( \
                 'seq', seq, 'team', team_id, 'kind', kind, 'ticket', ticket_id, \
                 'message', message_id, 'trace', trace_parent)::text) FROM e",
        )
        .execute(conn)
        .map(|_| ())
}

/// Removes events older than `keep` (replays never reach that far back).
pub fn prune(conn: &mut PgConnection, keep: std::time::Duration) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM events WHERE created_at < clock_timestamp() - $1 * interval '1 second'",
    )
    .bind::<diesel::sql_types::Double, _>(keep.as_secs_f64())
    .execute(conn)
}

/// What the outbox holds: the oldest event kept (None when empty) and the last seq ever
/// taken (0 before the first event).
pub struct Extent {
    pub oldest_kept: Option<i64>,
    pub last_taken: i64,
}

#[derive(QueryableByName)]
struct ExtentRow {
    #[diesel(sql_type = Nullable<BigInt>)]
    oldest_kept: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    last_taken: Option<i64>,
}

pub fn extent(conn: &mut PgConnection) -> QueryResult<Extent> {
    let row: ExtentRow = diesel::sql_query(
        "SELECT (SELECT min(seq) FROM events) AS oldest_kept, \
                pg_sequence_last_value(pg_get_serial_sequence('events', 'seq')) AS last_taken",
    )
    .get_result(conn)?;
    Ok(Extent {
        oldest_kept: row.oldest_kept,
        last_taken: row.last_taken.unwrap_or(0),
    })
}

#[derive(QueryableByName)]
struct EventRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = SqlUuid)]
    team_id: Uuid,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = SqlUuid)]
    ticket_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    message_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    trace_parent: Option<String>,
}

/// The events committed after `position` (past its `high`, or in its gaps), of every
/// team, in seq order; at most `limit`. Every team's, because a resumed subscriber's next
/// positions must not list other teams' seqs as missing.
pub fn after(conn: &mut PgConnection, position: &Position, limit: i64) -> QueryResult<Vec<Event>> {
    let rows: Vec<EventRow> = diesel::sql_query(
        "SELECT seq, team_id, kind, ticket_id, message_id, trace_parent FROM events \
         WHERE seq > $1 OR seq = ANY($2) ORDER BY seq LIMIT $3",
    )
    .bind::<BigInt, _>(position.high)
    .bind::<Array<BigInt>, _>(&position.gaps)
    .bind::<BigInt, _>(limit)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(Event {
                seq: row.seq,
                team: row.team_id,
                kind: EventKind::from_db(&row.kind)?,
                ticket: row.ticket_id,
                message: row.message_id,
                trace: row.trace_parent,
            })
        })
        .collect())
}
