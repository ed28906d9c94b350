use diesel::pg::Pg;
use diesel::prelude::*;
use uuid::Uuid;

use super::filter::TicketFilter;
use super::model::Ticket;
use super::order::Ordering;
use super::projection::{Columns, Projected, ProjectedRow};
use super::search;
use crate::auth::TicketScope;
use crate::db::schema::tickets;
use crate::graphql::pagination::{Direction, PageRequest};

/// The scope's tickets, reading `columns` (and the keys): see `projection`.
fn projected<'a>(scope: &TicketScope, columns: Columns) -> ProjectedQuery<'a> {
    scope.apply(tickets::table.select(Projected(columns)).into_boxed())
}

type ProjectedQuery<'a> = tickets::BoxedQuery<'a, Pg, <Projected as Expression>::SqlType>;

/// Rows read with `columns`, as tickets.
fn tickets_of(columns: Columns, rows: Vec<ProjectedRow>) -> QueryResult<Vec<Ticket>> {
    rows.into_iter()
        .map(|row| Projected(columns).ticket(row))
        .collect()
}

fn first_of(columns: Columns, row: Option<ProjectedRow>) -> QueryResult<Option<Ticket>> {
    row.map(|row| Projected(columns).ticket(row)).transpose()
}

pub fn find_by_id(
    conn: &mut PgConnection,
    scope: &TicketScope,
    id: Uuid,
    columns: Columns,
) -> QueryResult<Option<Ticket>> {
    let row = projected(scope, columns)
        .filter(tickets::id.eq(id))
        .first::<ProjectedRow>(conn)
        .optional()?;
    first_of(columns, row)
}

pub fn find_by_number(
    conn: &mut PgConnection,
    scope: &TicketScope,
    number: i32,
    columns: Columns,
) -> QueryResult<Option<Ticket>> {
    let row = projected(scope, columns)
        .filter(tickets::ticket_number.eq(number))
        .first::<ProjectedRow>(conn)
        .optional()?;
    first_of(columns, row)
}

/// One page of the scope's tickets matching `filter`, in `ordering`, after `request.from`.
/// Reads `size + 1` rows (the extra one tells whether another page follows) straight off
/// the ordering's index; rows come back in display order whatever the direction, with
/// whether more lie beyond them. Reads `columns`, the keys and the ordering's columns.
pub fn page(
    conn: &mut PgConnection,
    scope: &TicketScope,
    filter: &TicketFilter,
    ordering: &Ordering,
    request: &PageRequest,
    columns: Columns,
) -> QueryResult<(Vec<Ticket>, bool)> {
    let columns = columns.with(ordering.columns());
    let wanted = request.size + 1;
    // A text search tries the newest tickets first (see `search`): exact when the window
    // (cut short where its messages exceed the budget) holds a whole page and more.
    let windowed = match filter.text_search() {
        Some(text) if request.size > 0 => {
            let window = search::window_for(wanted);
            let order = ordering.order_sql(request.direction);
            // The derived table carries what the search tests on it too.
            let inner_columns = columns.with(search::row_columns());
            let inner = ordered(
                scope,
                &filter.without_search(),
                ordering,
                request,
                inner_columns,
            )?
            .select((Projected(inner_columns), search::messages_so_far(&order)));
            let mut query = search::Windowed::new(inner, Projected(columns), scope, text, window);
            query.order = order;
            query.limit = wanted;
            Some(query.load::<ProjectedRow>(conn)?).filter(|rows| rows.len() as i64 == wanted)
        }
        _ => None,
    };
    let rows = match windowed {
        Some(rows) => rows,
        None => ordered(scope, filter, ordering, request, columns)?
            .limit(wanted)
            .load::<ProjectedRow>(conn)?,
    };
    let mut rows = tickets_of(columns, rows)?;
    let more = rows.len() as i64 > request.size;
    rows.truncate(request.size as usize);
    if request.direction == Direction::Backward {
        rows.reverse();
    }
    Ok((rows, more))
}

/// The scope's tickets matching `filter`, after the cursor, in reading order.
fn ordered<'a>(
    scope: &TicketScope,
    filter: &TicketFilter,
    ordering: &Ordering,
    request: &'a PageRequest,
    columns: Columns,
) -> QueryResult<ProjectedQuery<'a>> {
    let mut query = filter.apply(scope, projected(scope, columns));
    if let Some(from) = &request.from {
        query = ordering
            .apply_seek(query, request.direction, from)
            .ok_or_else(|| {
                diesel::result::Error::QueryBuilderError("cursor of another shape".into())
            })?;
    }
    Ok(ordering.apply_order(query, request.direction))
}

/// How many of the scope's tickets match `filter`.
pub fn count(
    conn: &mut PgConnection,
    scope: &TicketScope,
    filter: &TicketFilter,
) -> QueryResult<i64> {
    filter
        .apply(
            scope,
            scope.apply(
                tickets::table
                    .select(diesel::dsl::count_star())
                    .into_boxed(),
            ),
        )
        .get_result(conn)
}

/// Tickets by id, for loaders (within the scope), reading `columns`.
pub fn by_ids(
    conn: &mut PgConnection,
    scope: &TicketScope,
    ids: &[Uuid],
    columns: Columns,
) -> QueryResult<Vec<Ticket>> {
    let rows = projected(scope, columns)
        .filter(tickets::id.eq_any(ids))
        .load::<ProjectedRow>(conn)?;
    tickets_of(columns, rows)
}

/// Messages waiting to be read over the scope's tickets that are not resolved: for the
/// team, customer messages (`unreadTeamCount`); for a customer, the team's replies
/// (`unreadCustomerCount`).
pub fn unread_count(conn: &mut PgConnection, scope: &TicketScope) -> QueryResult<i64> {
    let open = scope
        .apply(tickets::table.into_boxed())
        .filter(tickets::status.ne("resolved"));
    let sum = match scope.distinct_id {
        None => open
            .select(diesel::dsl::sum(tickets::unread_team_count))
            .get_result::<Option<i64>>(conn)?,
        Some(_) => open
            .select(diesel::dsl::sum(tickets::unread_customer_count))
            .get_result::<Option<i64>>(conn)?,
    };
    Ok(sum.unwrap_or(0))
}

/// The ticket if it is in the scope and matches `filter` (subscriptions apply the very
/// same rules as the `tickets` query).
pub fn matching(
    conn: &mut PgConnection,
    scope: &TicketScope,
    id: Uuid,
    filter: &TicketFilter,
) -> QueryResult<Option<Ticket>> {
    filter
        .apply(
            scope,
            scope.apply(tickets::table.select(Ticket::as_select()).into_boxed()),
        )
        .filter(tickets::id.eq(id))
        .first(conn)
        .optional()
}
