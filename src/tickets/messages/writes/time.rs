//! The time of a new message, chosen inside its `INSERT`.
//!
//! The clock that `lock` returns is read as the ticket row is found, which is before
//! PostgreSQL waits for the row lock, and it is not read again after the wait when the
//! holder left the row unchanged, as a private note does. A message that waited behind a
//! note would then carry an earlier time than the note that committed before it, and the
//! conversation's order (`created_at, id`) would differ from its commit order, the order
//! subscribers receive it in. Read inside the `INSERT`, with the lock held, the clock is
//! later than every message committed before; `+ 1 µs` over the ticket's latest message
//! (one backward step of `messages_ticket_created_idx`) keeps the order strict even if
//! two clock readings are equal or the system clock steps back.

use diesel::expression::{is_aggregate, AppearsOnTable, Expression, ValidGrouping};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::Timestamptz;
use diesel::QueryResult;
use uuid::Uuid;

/// `GREATEST(clock_timestamp(), latest message of the ticket + 1 µs)`.
#[derive(Debug, Clone, Copy)]
pub struct AfterLastMessage(pub Uuid);

impl Expression for AfterLastMessage {
    type SqlType = Timestamptz;
}

impl QueryFragment<Pg> for AfterLastMessage {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "GREATEST(clock_timestamp(), (SELECT max(created_at) FROM messages \
             WHERE ticket_id = ",
        );
        out.push_bind_param::<diesel::sql_types::Uuid, _>(&self.0)?;
        out.push_sql(") + interval '1 microsecond')");
        Ok(())
    }
}

impl QueryId for AfterLastMessage {
    type QueryId = AfterLastMessage;
    // The text never changes: the statement is prepared once per connection.
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<QS> AppearsOnTable<QS> for AfterLastMessage {}

impl<GB> ValidGrouping<GB> for AfterLastMessage {
    type IsAggregate = is_aggregate::Never;
}
