use diesel::prelude::*;
use uuid::Uuid;

use super::filter::TicketFilter;
use super::model::Ticket;
use super::order::Ordering;
use crate::db::schema::tickets;
use crate::graphql::pagination::{Direction, PageRequest};

pub fn find_by_id(conn: &mut PgConnection, team_id: Uuid, id: Uuid) -> QueryResult<Option<Ticket>> {
    tickets::table
        .filter(tickets::team_id.eq(team_id))
        .filter(tickets::id.eq(id))
        .select(Ticket::as_select())
        .first(conn)
        .optional()
}

pub fn find_by_number(
    conn: &mut PgConnection,
    team_id: Uuid,
    number: i32,
) -> QueryResult<Option<Ticket>> {
    tickets::table
        .filter(tickets::team_id.eq(team_id))
        .filter(tickets::ticket_number.eq(number))
        .select(Ticket::as_select())
        .first(conn)
        .optional()
}

/// One page of the team's tickets matching `filter`, in `ordering`, after `request.from`.
/// Reads `size + 1` rows (the extra one tells whether another page follows) straight off
/// the ordering's index; rows come back in display order whatever the direction, with
/// whether more lie beyond them.
pub fn page(
    conn: &mut PgConnection,
    team_id: Uuid,
    filter: &TicketFilter,
    ordering: &Ordering,
    request: &PageRequest,
) -> QueryResult<(Vec<Ticket>, bool)> {
    let mut query = filter.apply(
        team_id,
        tickets::table
            .filter(tickets::team_id.eq(team_id))
            .select(Ticket::as_select())
            .into_boxed(),
    );
    if let Some(from) = &request.from {
        query = ordering
            .apply_seek(query, request.direction, from)
            .ok_or_else(|| {
                diesel::result::Error::QueryBuilderError("cursor of another shape".into())
            })?;
    }
    let query = ordering.apply_order(query, request.direction);
    let mut rows = query.limit(request.size + 1).load(conn)?;
    let more = rows.len() as i64 > request.size;
    rows.truncate(request.size as usize);
    if request.direction == Direction::Backward {
        rows.reverse();
    }
    Ok((rows, more))
}

/// How many of the team's tickets match `filter`.
pub fn count(conn: &mut PgConnection, team_id: Uuid, filter: &TicketFilter) -> QueryResult<i64> {
    filter
        .apply(
            team_id,
            tickets::table
                .filter(tickets::team_id.eq(team_id))
                .select(diesel::dsl::count_star())
                .into_boxed(),
        )
        .get_result(conn)
}

/// Tickets by id, for loaders (scoped to the team).
pub fn by_ids(conn: &mut PgConnection, team_id: Uuid, ids: &[Uuid]) -> QueryResult<Vec<Ticket>> {
    tickets::table
        .filter(tickets::team_id.eq(team_id))
        .filter(tickets::id.eq_any(ids))
        .select(Ticket::as_select())
        .load(conn)
}

/// The team's unread count: customer messages the team has not read, over open tickets.
pub fn unread_count(conn: &mut PgConnection, team_id: Uuid) -> QueryResult<i64> {
    tickets::table
        .filter(tickets::team_id.eq(team_id))
        .filter(tickets::status.ne("resolved"))
        .select(diesel::dsl::sum(tickets::unread_team_count))
        .get_result::<Option<i64>>(conn)
        .map(|sum| sum.unwrap_or(0))
}

/// The ticket if it is the team's and matches `filter` (subscriptions apply the very same
/// rules as the `tickets` query).
pub fn matching(
    conn: &mut PgConnection,
    team_id: Uuid,
    id: Uuid,
    filter: &TicketFilter,
) -> QueryResult<Option<Ticket>> {
    filter
        .apply(
            team_id,
            tickets::table
                .filter(tickets::team_id.eq(team_id))
                .filter(tickets::id.eq(id))
                .select(Ticket::as_select())
                .into_boxed(),
        )
        .first(conn)
        .optional()
}
