//! Assigning a ticket to a user of the team's organisation, a role of it, or nobody.

use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::writes::{lock, record_activity};
use super::Ticket;
use crate::auth::TicketScope;
use crate::db::schema::{organization_memberships, roles, teams, ticket_assignments};
use crate::error::{AppError, AppResult};
use crate::events::{outbox, EventKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assignee {
    User(Uuid),
    Role(Uuid),
}

fn organization(conn: &mut PgConnection, team_id: Uuid) -> QueryResult<Uuid> {
    teams::table
        .find(team_id)
        .select(teams::organization_id)
        .first(conn)
}

/// Users outside the organisation and roles of another one are refused (as unknown ids:
/// another tenant's ids must look like nothing at all).
fn check(conn: &mut PgConnection, team_id: Uuid, assignee: Assignee) -> AppResult<()> {
    let org = organization(conn, team_id)?;
    let known = match assignee {
        Assignee::User(user_id) => diesel::select(diesel::dsl::exists(
            organization_memberships::table
                .filter(organization_memberships::organization_id.eq(org))
                .filter(organization_memberships::user_id.eq(user_id)),
        ))
        .get_result::<bool>(conn)?,
        Assignee::Role(role_id) => diesel::select(diesel::dsl::exists(
            roles::table
                .filter(roles::organization_id.eq(org))
                .filter(roles::id.eq(role_id)),
        ))
        .get_result::<bool>(conn)?,
    };
    match (known, assignee) {
        (true, _) => Ok(()),
        (false, Assignee::User(_)) => Err(AppError::NotFound("user")),
        (false, Assignee::Role(_)) => Err(AppError::NotFound("role")),
    }
}

pub fn assign(
    conn: &mut PgConnection,
    team_id: Uuid,
    ticket_id: Uuid,
    assignee: Option<Assignee>,
    actor: Option<Uuid>,
) -> AppResult<Ticket> {
    let (ticket, _) = lock(conn, &TicketScope::team(team_id), ticket_id)?;
    if let Some(assignee) = assignee {
        check(conn, team_id, assignee)?;
    }
    diesel::delete(ticket_assignments::table.filter(ticket_assignments::ticket_id.eq(ticket_id)))
        .execute(conn)?;
    let (user_id, role_id) = match assignee {
        Some(Assignee::User(id)) => (Some(id), None),
        Some(Assignee::Role(id)) => (None, Some(id)),
        None => (None, None),
    };
    if assignee.is_some() {
        diesel::insert_into(ticket_assignments::table)
            .values((
                ticket_assignments::id.eq(Uuid::now_v7()),
                ticket_assignments::ticket_id.eq(ticket_id),
                ticket_assignments::user_id.eq(user_id),
                ticket_assignments::role_id.eq(role_id),
            ))
            .execute(conn)?;
    }
    let kind = if assignee.is_some() {
        "assigned"
    } else {
        "unassigned"
    };
    record_activity(
        conn,
        team_id,
        ticket_id,
        kind,
        actor,
        json!({ "user_id": user_id, "role_id": role_id }),
    )?;
    outbox::publish(conn, team_id, EventKind::TicketAssigned, ticket_id, None)?;
    Ok(ticket)
}
