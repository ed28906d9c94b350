use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};
use uuid::Uuid;

use super::broker::EventKind;
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
        .sql("WITH e AS (INSERT INTO events (team_id, kind, ticket_id, message_id) VALUES (")
        .bind::<SqlUuid, _>(team_id)
        .sql(", ")
        .bind::<Text, _>(kind.as_db())
        .sql(", ")
        .bind::<SqlUuid, _>(ticket_id)
        .sql(", ")
        .bind::<Nullable<SqlUuid>, _>(message_id)
        .sql(
            ") RETURNING seq, team_id, kind, ticket_id, message_id) \
             SELECT pg_notify('ticketgate_events', json_build_object( \
                 'seq', seq, 'team', team_id, 'kind', kind, 'ticket', ticket_id, \
                 'message', message_id)::text) FROM e",
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
