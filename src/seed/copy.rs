//! Writes generated chunks with binary `COPY FROM`, one transaction per chunk.

use diesel::prelude::*;
use diesel::sql_types::Bool;
use uuid::Uuid;

use super::rows::{Chunk, NewTicket};
use crate::db::schema::{
    messages, person_distinct_ids, persons, ticket_assignments, ticket_tags, tickets,
};
use crate::error::{AppError, AppResult};
use crate::teams::queries::reserve_ticket_numbers;

/// How chunks are written for one run.
#[derive(Clone, Copy, Debug)]
pub struct Writer {
    pub team_id: Uuid,
    /// Skip the foreign-key triggers (see [`may_skip_foreign_key_checks`]).
    pub skip_foreign_key_checks: bool,
}

/// Whether this session may load without foreign-key checks: only a superuser may set
/// `session_replication_role` (it disables the checks' internal triggers).
///
/// Those checks are about half the cost of a load (a lookup and a row lock on the parent
/// for every child row: ~12 per ticket), and the generator's rows are consistent by
/// construction — every reference points at a fixture read back from the database or at
/// a row copied earlier in the same transaction — so skipping them is what `pg_restore
/// --disable-triggers` does for the same reason. The setting is `SET LOCAL`, so it ends
/// with each chunk's transaction and never leaks into the caller's session.
/// NB: it would also skip ordinary triggers; the schema has none on these tables.
pub fn may_skip_foreign_key_checks(conn: &mut PgConnection) -> QueryResult<bool> {
    diesel::select(diesel::dsl::sql::<Bool>(
        "current_setting('is_superuser') = 'on'",
    ))
    .get_result(conn)
}

/// Numbers the chunk's tickets from the team's counter and copies every row of the chunk,
/// parents before children.
///
/// Reserving inside the same transaction keeps numbers gap-free: if the chunk fails, its
/// numbers are given back with the rollback. The team row stays locked until the commit,
/// which only delays other ticket creation on this team by one chunk.
pub fn write_chunk(conn: &mut PgConnection, writer: Writer, chunk: &mut Chunk) -> AppResult<()> {
    let count = i32::try_from(chunk.tickets.len()).map_err(AppError::internal)?;
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        if writer.skip_foreign_key_checks {
            diesel::sql_query("SET LOCAL session_replication_role = replica").execute(conn)?;
        }
        let first = reserve_ticket_numbers(conn, writer.team_id, count)?;
        number(&mut chunk.tickets, first);
        diesel::copy_from(persons::table)
            .from_insertable(&chunk.persons)
            .execute(conn)?;
        diesel::copy_from(person_distinct_ids::table)
            .from_insertable(&chunk.distinct_ids)
            .execute(conn)?;
        diesel::copy_from(tickets::table)
            .from_insertable(&chunk.tickets)
            .execute(conn)?;
        diesel::copy_from(messages::table)
            .from_insertable(&chunk.messages)
            .execute(conn)?;
        diesel::copy_from(ticket_assignments::table)
            .from_insertable(&chunk.assignments)
            .execute(conn)?;
        diesel::copy_from(ticket_tags::table)
            .from_insertable(&chunk.ticket_tags)
            .execute(conn)?;
        Ok(())
    })?;
    Ok(())
}

/// Tickets were generated in creation order: they take consecutive numbers from `first`.
fn number(tickets: &mut [NewTicket], first: i32) {
    for (ticket, number) in tickets.iter_mut().zip(first..) {
        ticket.ticket_number = number;
    }
}
