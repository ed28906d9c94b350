use diesel::prelude::*;
use uuid::Uuid;

use super::model::{NewOrganization, NewTeam, Team};
use crate::db::schema::{organizations, teams};

pub fn find_by_slug(conn: &mut PgConnection, slug: &str) -> QueryResult<Option<Team>> {
    teams::table
        .filter(teams::slug.eq(slug))
        .select(Team::as_select())
        .first(conn)
        .optional()
}

pub fn find(conn: &mut PgConnection, id: Uuid) -> QueryResult<Team> {
    teams::table.find(id).select(Team::as_select()).first(conn)
}

/// The team with this slug, created (in an organisation of its own) when missing.
/// Returns the team and whether it was created now.
pub fn find_or_create(conn: &mut PgConnection, slug: &str) -> QueryResult<(Team, bool)> {
    conn.transaction(|conn| {
        if let Some(team) = find_by_slug(conn, slug)? {
            return Ok((team, false));
        }
        let org_id = Uuid::now_v7();
        let org_name = format!("{slug} organisation");
        diesel::insert_into(organizations::table)
            .values(NewOrganization {
                id: org_id,
                name: &org_name,
            })
            .execute(conn)?;
        let team = diesel::insert_into(teams::table)
            .values(NewTeam {
                id: Uuid::now_v7(),
                organization_id: org_id,
                slug,
                name: slug,
            })
            .returning(Team::as_returning())
            .get_result(conn)?;
        Ok((team, true))
    })
}

/// Takes the team's next ticket number under the team row's lock: numbers are gap-free
/// and unique however many tickets are created at once (the caller's transaction holds
/// the lock until it commits; a rolled-back creation gives its number back).
pub fn next_ticket_number(conn: &mut PgConnection, team_id: Uuid) -> QueryResult<i32> {
    diesel::update(teams::table.find(team_id))
        .set(teams::last_ticket_number.eq(teams::last_ticket_number + 1))
        .returning(teams::last_ticket_number)
        .get_result(conn)
}

/// Reserves `count` consecutive numbers at once (bulk seeding); returns the first.
pub fn reserve_ticket_numbers(
    conn: &mut PgConnection,
    team_id: Uuid,
    count: i32,
) -> QueryResult<i32> {
    let last: i32 = diesel::update(teams::table.find(team_id))
        .set(teams::last_ticket_number.eq(teams::last_ticket_number + count))
        .returning(teams::last_ticket_number)
        .get_result(conn)?;
    Ok(last - count + 1)
}

/// The inbound addresses of email channels, by channel id (a ticket's `emailTo`).
pub fn email_channel_addresses(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> QueryResult<std::collections::HashMap<Uuid, String>> {
    use crate::db::schema::email_channels;
    let rows: Vec<(Uuid, String)> = email_channels::table
        .filter(email_channels::id.eq_any(ids))
        .select((email_channels::id, email_channels::address))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}
