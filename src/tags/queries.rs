use std::collections::HashMap;

use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::{tags, ticket_tags};

/// The tag names of many tickets in one statement, each list sorted.
pub fn for_tickets(
    conn: &mut PgConnection,
    ticket_ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, Vec<String>>> {
    let rows: Vec<(Uuid, String)> = ticket_tags::table
        .inner_join(tags::table)
        .filter(ticket_tags::ticket_id.eq_any(ticket_ids))
        .order((ticket_tags::ticket_id, tags::name))
        .select((ticket_tags::ticket_id, tags::name))
        .load(conn)?;
    let mut by_ticket: HashMap<Uuid, Vec<String>> = HashMap::new();
    for (ticket_id, name) in rows {
        by_ticket.entry(ticket_id).or_default().push(name);
    }
    Ok(by_ticket)
}

/// Every tag of the team, sorted by name.
pub fn for_team(conn: &mut PgConnection, team_id: Uuid) -> QueryResult<Vec<String>> {
    tags::table
        .filter(tags::team_id.eq(team_id))
        .order(tags::name)
        .select(tags::name)
        .load(conn)
}
