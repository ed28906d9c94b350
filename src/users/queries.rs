use diesel::prelude::*;
use uuid::Uuid;

use super::model::User;
use crate::db::schema::{organization_memberships, teams, users};

/// The user with this email (any letter case) who belongs to the team's organisation.
pub fn find_in_team_organization(
    conn: &mut PgConnection,
    team_id: Uuid,
    email: &str,
) -> QueryResult<Option<User>> {
    users::table
        .inner_join(organization_memberships::table)
        .inner_join(
            teams::table.on(teams::organization_id.eq(organization_memberships::organization_id)),
        )
        .filter(teams::id.eq(team_id))
        .filter(
            diesel::dsl::sql::<diesel::sql_types::Bool>("lower(users.email) = lower(")
                .bind::<diesel::sql_types::Text, _>(email)
                .sql(")"),
        )
        .select(User::as_select())
        .first(conn)
        .optional()
}

/// Users by id (message authors), in one statement.
pub fn by_ids(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<Vec<User>> {
    users::table
        .filter(users::id.eq_any(ids))
        .select(User::as_select())
        .load(conn)
}

/// Users with these ids who belong to the team's organisation (global object look-ups),
/// in one statement.
pub fn in_team_organization_by_ids(
    conn: &mut PgConnection,
    team_id: Uuid,
    ids: &[Uuid],
) -> QueryResult<Vec<User>> {
    users::table
        .inner_join(organization_memberships::table)
        .inner_join(
            teams::table.on(teams::organization_id.eq(organization_memberships::organization_id)),
        )
        .filter(teams::id.eq(team_id))
        .filter(users::id.eq_any(ids))
        .select(User::as_select())
        .load(conn)
}
