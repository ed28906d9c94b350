//! The per-team fixtures tickets refer to: agents (users with organisation and team
//! memberships), roles, tags and the inbound email channel.
//!
//! Every step is "insert what is missing, then read back": seeding a team twice reuses
//! the rows of the first run, and a user left over from a deleted team with the same slug
//! is adopted rather than tripping the case-insensitive unique email index.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel::sql_types::Text;
use uuid::Uuid;

use super::catalog::{AGENTS, AGENT_LEVELS, ROLES, TAGS};
use crate::db::schema::{
    email_channels, organization_memberships, role_memberships, roles, tags, team_memberships,
    users,
};
use crate::teams::Team;

diesel::define_sql_function! {
    /// SQL `lower(text)`, to match `users_email_key` (on `lower(email)`).
    fn lower(x: Text) -> Text;
}

#[derive(Debug, Clone)]
pub struct Agent {
    pub id: Uuid,
    /// Used to sign support replies.
    pub first_name: String,
}

#[derive(Debug, Clone)]
pub struct TeamFixtures {
    pub agents: Vec<Agent>,
    pub roles: Vec<Uuid>,
    /// Indexed like `catalog::TAGS`.
    pub tags: Vec<Uuid>,
    pub email_channel_id: Uuid,
}

/// Creates the missing fixtures of `team` and returns all of them, in one transaction.
pub fn ensure(conn: &mut PgConnection, team: &Team) -> QueryResult<TeamFixtures> {
    conn.transaction(|conn| {
        let agents = ensure_agents(conn, team)?;
        let roles = ensure_roles(conn, team.organization_id, &agents)?;
        let tags = ensure_tags(conn, team.id)?;
        let email_channel_id = ensure_email_channel(conn, team)?;
        Ok(TeamFixtures {
            agents,
            roles,
            tags,
            email_channel_id,
        })
    })
}

/// `ada.lovelace@<slug>.example.com`: the slug is unique, so the emails are too.
pub fn agent_email(first: &str, last: &str, slug: &str) -> String {
    format!(
        "{}.{}@{slug}.example.com",
        first.to_lowercase(),
        last.to_lowercase()
    )
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUser {
    id: Uuid,
    email: String,
    name: String,
}

fn ensure_agents(conn: &mut PgConnection, team: &Team) -> QueryResult<Vec<Agent>> {
    let wanted: Vec<NewUser> = AGENTS
        .iter()
        .map(|(first, last)| NewUser {
            id: Uuid::now_v7(),
            email: agent_email(first, last, &team.slug),
            name: format!("{first} {last}"),
        })
        .collect();
    // No conflict target: the unique index is on an expression (lower(email)).
    diesel::insert_into(users::table)
        .values(&wanted)
        .on_conflict_do_nothing()
        .execute(conn)?;
    let emails: Vec<&str> = wanted.iter().map(|u| u.email.as_str()).collect();
    let found: HashMap<String, Uuid> = users::table
        .filter(lower(users::email).eq_any(&emails))
        .select((lower(users::email), users::id))
        .load::<(String, Uuid)>(conn)?
        .into_iter()
        .collect();
    let agents = wanted
        .iter()
        .zip(AGENTS.iter())
        .map(|(user, (first, _))| {
            let id = *found
                .get(&user.email)
                .ok_or(diesel::result::Error::NotFound)?;
            Ok(Agent {
                id,
                first_name: (*first).to_owned(),
            })
        })
        .collect::<QueryResult<Vec<Agent>>>()?;
    add_memberships(conn, team, &agents)?;
    Ok(agents)
}

fn add_memberships(conn: &mut PgConnection, team: &Team, agents: &[Agent]) -> QueryResult<()> {
    let org_rows: Vec<_> = agents
        .iter()
        .zip(AGENT_LEVELS)
        .map(|(agent, level)| {
            (
                organization_memberships::organization_id.eq(team.organization_id),
                organization_memberships::user_id.eq(agent.id),
                organization_memberships::level.eq(level),
            )
        })
        .collect();
    diesel::insert_into(organization_memberships::table)
        .values(&org_rows)
        .on_conflict_do_nothing()
        .execute(conn)?;
    let team_rows: Vec<_> = agents
        .iter()
        .map(|agent| {
            (
                team_memberships::team_id.eq(team.id),
                team_memberships::user_id.eq(agent.id),
            )
        })
        .collect();
    diesel::insert_into(team_memberships::table)
        .values(&team_rows)
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(())
}

fn ensure_roles(
    conn: &mut PgConnection,
    organization_id: Uuid,
    agents: &[Agent],
) -> QueryResult<Vec<Uuid>> {
    let rows: Vec<_> = ROLES
        .iter()
        .map(|(name, _)| {
            (
                roles::id.eq(Uuid::now_v7()),
                roles::organization_id.eq(organization_id),
                roles::name.eq(*name),
            )
        })
        .collect();
    diesel::insert_into(roles::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .execute(conn)?;
    let names: Vec<&str> = ROLES.iter().map(|(name, _)| *name).collect();
    let found: HashMap<String, Uuid> = roles::table
        .filter(roles::organization_id.eq(organization_id))
        .filter(roles::name.eq_any(&names))
        .select((roles::name, roles::id))
        .load::<(String, Uuid)>(conn)?
        .into_iter()
        .collect();
    let role_ids = in_catalog_order(&names, &found)?;
    let members: Vec<_> = ROLES
        .iter()
        .zip(&role_ids)
        .flat_map(|((_, holders), role_id)| {
            holders.iter().filter_map(move |&i| {
                agents.get(i).map(|agent| {
                    (
                        role_memberships::role_id.eq(*role_id),
                        role_memberships::user_id.eq(agent.id),
                    )
                })
            })
        })
        .collect();
    diesel::insert_into(role_memberships::table)
        .values(&members)
        .on_conflict_do_nothing()
        .execute(conn)?;
    Ok(role_ids)
}

fn ensure_tags(conn: &mut PgConnection, team_id: Uuid) -> QueryResult<Vec<Uuid>> {
    let rows: Vec<_> = TAGS
        .iter()
        .map(|name| {
            (
                tags::id.eq(Uuid::now_v7()),
                tags::team_id.eq(team_id),
                tags::name.eq(*name),
            )
        })
        .collect();
    diesel::insert_into(tags::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .execute(conn)?;
    let found: HashMap<String, Uuid> = tags::table
        .filter(tags::team_id.eq(team_id))
        .filter(tags::name.eq_any(TAGS))
        .select((tags::name, tags::id))
        .load::<(String, Uuid)>(conn)?
        .into_iter()
        .collect();
    in_catalog_order(&TAGS, &found)
}

/// The ids of `names`, in that order; every name must have been found.
fn in_catalog_order(names: &[&str], found: &HashMap<String, Uuid>) -> QueryResult<Vec<Uuid>> {
    names
        .iter()
        .map(|name| {
            found
                .get(*name)
                .copied()
                .ok_or(diesel::result::Error::NotFound)
        })
        .collect()
}

/// The team's first email channel, or a new `support@<slug>.example.com` one.
fn ensure_email_channel(conn: &mut PgConnection, team: &Team) -> QueryResult<Uuid> {
    let existing = email_channels::table
        .filter(email_channels::team_id.eq(team.id))
        .order((email_channels::created_at, email_channels::id))
        .select(email_channels::id)
        .first::<Uuid>(conn)
        .optional()?;
    if let Some(id) = existing {
        return Ok(id);
    }
    let id = Uuid::now_v7();
    let address = format!("support@{}.example.com", team.slug);
    diesel::insert_into(email_channels::table)
        .values((
            email_channels::id.eq(id),
            email_channels::team_id.eq(team.id),
            email_channels::address.eq(&address),
            email_channels::from_name.eq(format!("{} Support", team.name)),
        ))
        .execute(conn)?;
    Ok(id)
}
