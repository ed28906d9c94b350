use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::{roles, teams, ticket_assignments, users};
use crate::users::User;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = roles, check_for_backend(diesel::pg::Pg))]
pub struct Role {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ticket_assignments, check_for_backend(diesel::pg::Pg))]
pub struct AssignmentRow {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub user_id: Option<Uuid>,
    pub role_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A ticket's assignee with the user or role it points at.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub row: AssignmentRow,
    pub user: Option<User>,
    pub role: Option<Role>,
}

/// The assignees of many tickets in one statement (tickets without one are absent).
pub fn for_tickets(
    conn: &mut PgConnection,
    ticket_ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, Assignment>> {
    let rows: Vec<(AssignmentRow, Option<User>, Option<Role>)> = ticket_assignments::table
        .left_join(users::table)
        .left_join(roles::table)
        .filter(ticket_assignments::ticket_id.eq_any(ticket_ids))
        .select((
            AssignmentRow::as_select(),
            Option::<User>::as_select(),
            Option::<Role>::as_select(),
        ))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row, user, role)| (row.ticket_id, Assignment { row, user, role }))
        .collect())
}

/// Roles with these ids of the team's organisation (global object look-ups), in one
/// statement.
pub fn roles_in_team_organization(
    conn: &mut PgConnection,
    team_id: Uuid,
    ids: &[Uuid],
) -> QueryResult<Vec<Role>> {
    roles::table
        .inner_join(teams::table.on(teams::organization_id.eq(roles::organization_id)))
        .filter(teams::id.eq(team_id))
        .filter(roles::id.eq_any(ids))
        .select(Role::as_select())
        .load(conn)
}
