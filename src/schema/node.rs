//! Relay's Global Object Identification: `interface Node { id: ID! }`, `node(id:)` and
//! `nodes(ids:)`. An id stays the plain uuid of its row (so stored ids and every `UUID`
//! argument keep working); uuids do not repeat across tables, so one statement finds which
//! table each id belongs to, then each kind is read by its own domain's look-up, in the
//! caller's scope exactly as the typed fields read it. What the caller may not see is
//! `null`, like an id that does not exist.

use std::collections::HashMap;

use async_graphql::{Context, Interface, Object, Result, ID};
use diesel::prelude::*;
use diesel::sql_types::{Array, SmallInt, Uuid as SqlUuid};
use uuid::Uuid;

use crate::assignments::queries::{roles_in_team_organization, Role};
use crate::auth::{TicketScope, Viewer};
use crate::error::{AppError, AppResult, IntoGql};
use crate::graphql::context::RequestContext;
use crate::persons::{queries as persons, Person};
use crate::teams::{queries as teams, Team};
use crate::tickets::messages::{queries as messages, Message};
use crate::tickets::projection::{self, Columns};
use crate::tickets::views::graphql::TicketView;
use crate::tickets::views::queries::{self as views, ViewScope};
use crate::tickets::{queries as tickets, Ticket};
use crate::users::{queries as users, User};

/// Most ids one `nodes` call may ask for.
pub const MAX_NODES: usize = 100;

/// An object with a global id, refetchable with `node(id:)`.
#[derive(Interface, Clone)]
#[graphql(field(
    name = "id",
    method = "global_id",
    ty = "ID",
    desc = "The object's global id (a uuid, the same as its typed look-ups take)."
))]
pub enum Node {
    // Boxed: a ticket row is several times the size of the others.
    Ticket(Box<Ticket>),
    Message(Message),
    TicketPerson(Person),
    User(User),
    Role(Role),
    Team(Team),
    TicketView(TicketView),
}

/// The tables a global id may name, as the kind statement reports them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Kind {
    Ticket = 1,
    Message = 2,
    Person = 3,
    User = 4,
    Role = 5,
    Team = 6,
    View = 7,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Ticket,
        Kind::Message,
        Kind::Person,
        Kind::User,
        Kind::Role,
        Kind::Team,
        Kind::View,
    ];

    /// A customer token refetches what it reads: its tickets and their messages.
    fn visible_to(self, viewer: &Viewer) -> bool {
        viewer.customer.is_none() || matches!(self, Kind::Ticket | Kind::Message)
    }
}

#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// The object with this global id, or null when there is none that you may see
    /// (another team's, a ticket a customer token may not read, or not an id at all).
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        let mut found = lookup(ctx, vec![id]).await?;
        Ok(found.pop().flatten())
    }

    /// The objects with these global ids, in the same order (null where `node` would be
    /// null); at most 100 ids, read in a constant number of statements.
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Node>>> {
        if ids.len() > MAX_NODES {
            return Err(AppError::bad_input(
                "ids",
                format!("at most {MAX_NODES} ids"),
            ))
            .gql();
        }
        lookup(ctx, ids).await
    }
}

async fn lookup(ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Node>>> {
    let rc = RequestContext::of(ctx)?;
    let uuids: Vec<Option<Uuid>> = ids.iter().map(|id| Uuid::parse_str(id).ok()).collect();
    let mut wanted: Vec<Uuid> = uuids.iter().flatten().copied().collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(uuids.iter().map(|_| None).collect());
    }
    let viewer = rc.viewer.clone();
    // A ticket reads the columns of the fields its selection may ask (the look-ahead does
    // not tell type conditions apart: a field of another type by the same name only adds
    // a column).
    let columns = projection::of_ticket(&ctx.look_ahead());
    let found = rc
        .db
        .run(move |conn| read_nodes(conn, &viewer, &wanted, columns))
        .await
        .gql()?;
    Ok(uuids
        .iter()
        .map(|id| id.and_then(|id| found.get(&id).cloned()))
        .collect())
}

/// Each id's object, read by its kind's look-up in the viewer's scope.
fn read_nodes(
    conn: &mut PgConnection,
    viewer: &Viewer,
    ids: &[Uuid],
    columns: Columns,
) -> AppResult<HashMap<Uuid, Node>> {
    let kinds = kinds_of(conn, viewer.team_id, ids)?;
    let scope = TicketScope::of(viewer);
    let team = viewer.team_id;
    let mut nodes = HashMap::new();
    for kind in Kind::ALL.into_iter().filter(|kind| kind.visible_to(viewer)) {
        let of_kind: Vec<Uuid> = kinds
            .iter()
            .filter(|(_, k)| *k == kind)
            .map(|(id, _)| *id)
            .collect();
        if of_kind.is_empty() {
            continue;
        }
        let read: Vec<(Uuid, Node)> = match kind {
            Kind::Ticket => tickets::by_ids(conn, &scope, &of_kind, columns)?
                .into_iter()
                .map(|t| (t.id, Node::Ticket(Box::new(t))))
                .collect(),
            Kind::Message => messages::visible_by_ids(conn, &scope, &of_kind)?
                .into_iter()
                .map(|m| (m.id, Node::Message(m)))
                .collect(),
            Kind::Person => persons::by_ids(conn, team, &of_kind)?
                .into_iter()
                .map(|p| (p.id, Node::TicketPerson(p)))
                .collect(),
            Kind::User => users::in_team_organization_by_ids(conn, team, &of_kind)?
                .into_iter()
                .map(|u| (u.id, Node::User(u)))
                .collect(),
            Kind::Role => roles_in_team_organization(conn, team, &of_kind)?
                .into_iter()
                .map(|r| (r.id, Node::Role(r)))
                .collect(),
            Kind::Team => vec![(team, Node::Team(teams::find(conn, team)?))],
            Kind::View => {
                let scope = ViewScope {
                    team_id: team,
                    user_id: viewer.user_id,
                };
                views::visible_by_ids(conn, scope, &of_kind)?
                    .into_iter()
                    .map(|row| (row.id, Node::TicketView(TicketView(row))))
                    .collect()
            }
        };
        nodes.extend(read);
    }
    Ok(nodes)
}

#[derive(QueryableByName)]
struct KindRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SmallInt)]
    kind: i16,
}

/// Which table each id is a row of, in one statement (by primary keys; rows of other
/// teams are not reported, and each kind's look-up applies the full scope).
fn kinds_of(conn: &mut PgConnection, team: Uuid, ids: &[Uuid]) -> AppResult<Vec<(Uuid, Kind)>> {
    let rows: Vec<KindRow> = diesel::sql_query(
        "SELECT id, 1::int2 AS kind FROM tickets WHERE team_id = $1 AND id = ANY($2) \
         UNION ALL SELECT id, 2::int2 FROM messages WHERE team_id = $1 AND id = ANY($2) \
         UNION ALL SELECT id, 3::int2 FROM persons WHERE team_id = $1 AND id = ANY($2) \
         UNION ALL SELECT id, 4::int2 FROM users WHERE id = ANY($2) \
         UNION ALL SELECT id, 5::int2 FROM roles WHERE id = ANY($2) \
         UNION ALL SELECT id, 6::int2 FROM teams WHERE id = $1 AND id = ANY($2) \
         UNION ALL SELECT id, 7::int2 FROM ticket_views WHERE team_id = $1 AND id = ANY($2)",
    )
    .bind::<SqlUuid, _>(team)
    .bind::<Array<SqlUuid>, _>(ids.to_vec())
    .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let kind = Kind::ALL
                .into_iter()
                .find(|kind| *kind as i16 == row.kind)?;
            Some((row.id, kind))
        })
        .collect())
}
