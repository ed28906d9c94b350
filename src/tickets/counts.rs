//! `ticketCounts`: how many of the viewer's tickets match a filter, in all and per status,
//! priority, channel and assignee — the tabs of an inbox — in one SQL statement whatever
//! is selected. The matching tickets are the `tickets` query's own (`TicketScope::apply`
//! then `TicketFilter::apply`, the same code), counted once per (status, priority,
//! channel) combination, and per assignee only when `byAssignee` is selected.

use std::collections::HashMap;

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use super::filter::TicketFilter;
use super::model::{ChannelSource, TicketPriority, TicketStatus};
use crate::assignments::queries::Role;
use crate::auth::TicketScope;
use crate::db::schema::tickets;
use crate::db::sql::Statement;
use crate::error::IntoGql;
use crate::graphql::context::RequestContext;
use crate::users::User;

/// Counts of the tickets matching a filter: in all, and per status, priority, channel
/// source and assignee.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct TicketCounts {
    /// How many tickets match.
    pub total: i64,
    /// Per status, every status listed (zeros included), in the enum's order.
    pub by_status: Vec<StatusCount>,
    /// Per priority, every priority listed and then tickets without one (`priority`
    /// null), zeros included.
    pub by_priority: Vec<PriorityCount>,
    /// Per channel source, every source listed (zeros included).
    pub by_channel_source: Vec<ChannelSourceCount>,
    /// Per assignee: each user or role with at least one matching ticket (most tickets
    /// first, then by id), then the unassigned tickets (always listed, possibly 0).
    pub by_assignee: Vec<AssigneeCount>,
}

/// Matching tickets in one status.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct StatusCount {
    pub status: TicketStatus,
    pub count: i64,
}

/// Matching tickets of one priority; `priority` null: tickets without a priority.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct PriorityCount {
    pub priority: Option<TicketPriority>,
    pub count: i64,
}

/// Matching tickets from one channel source.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct ChannelSourceCount {
    pub channel_source: ChannelSource,
    pub count: i64,
}

/// Matching tickets of one assignee: a user, a role, or nobody (`unassigned`).
#[derive(Clone, Debug)]
pub struct AssigneeCount {
    pub user: Option<User>,
    pub role: Option<Role>,
    pub count: i64,
}

impl PartialEq for AssigneeCount {
    /// Same assignee, same count (a renamed user is not a new count).
    fn eq(&self, other: &AssigneeCount) -> bool {
        self.user.as_ref().map(|u| u.id) == other.user.as_ref().map(|u| u.id)
            && self.role.as_ref().map(|r| r.id) == other.role.as_ref().map(|r| r.id)
            && self.count == other.count
    }
}

/// Matching tickets of one assignee: a user, a role, or nobody (`unassigned`).
#[Object]
impl AssigneeCount {
    /// The assigned user; null for a role or for unassigned tickets.
    async fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    /// The assigned role; null for a user or for unassigned tickets.
    async fn role(&self) -> Option<&Role> {
        self.role.as_ref()
    }

    /// True for the tickets nobody is assigned to.
    async fn unassigned(&self) -> bool {
        self.user.is_none() && self.role.is_none()
    }

    /// How many matching tickets.
    async fn count(&self) -> i64 {
        self.count
    }
}

/// One row of the statement: the tickets of one (status, priority, channel) combination
/// (`kind` 1: at most 80 rows, summed per dimension here), or of one assignee (`kind` 2),
/// with the assignee's user or role.
#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = Integer)]
    kind: i32,
    #[diesel(sql_type = Nullable<Text>)]
    status: Option<TicketStatus>,
    #[diesel(sql_type = Nullable<Text>)]
    priority: Option<TicketPriority>,
    #[diesel(sql_type = Nullable<Text>)]
    channel_source: Option<ChannelSource>,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    user_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    user_email: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    user_name: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    user_created_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    role_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    role_organization_id: Option<Uuid>,
    #[diesel(sql_type = Nullable<Text>)]
    role_name: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    role_created_at: Option<DateTime<Utc>>,
}

const BY_DIMENSIONS: i32 = 1;
const BY_ASSIGNEE: i32 = 2;

/// The counts of the scope's tickets matching `filter`: one statement. The filtered
/// tickets (the `tickets` query's rows, same scope and filter code) are counted per
/// (status, priority, channel) combination in one hash aggregate — total and each
/// dimension are sums of those few rows — and, when `with_assignees` (the selection asks
/// for `byAssignee`), per assignee too, the user or role joined on the few grouped rows.
///
/// Not `GROUPING SETS`: at 100,000 tickets per team its sorts and the join with every
/// assignment for every request made a count take seconds under load (BENCHMARKS.md).
pub fn count(
    conn: &mut PgConnection,
    scope: &TicketScope,
    filter: &TicketFilter,
    with_assignees: bool,
) -> QueryResult<TicketCounts> {
    let matching = filter.apply(
        scope,
        scope.apply(
            tickets::table
                .select((
                    tickets::id,
                    tickets::status,
                    tickets::priority,
                    tickets::channel_source,
                ))
                .into_boxed(),
        ),
    );
    let assignees = match with_assignees {
        true => {
            " UNION ALL \
             SELECT 2, NULL, NULL, NULL, a.user_id, a.role_id, count(*) \
             FROM matching m LEFT JOIN ticket_assignments a ON a.ticket_id = m.id \
             GROUP BY a.user_id, a.role_id"
        }
        false => "",
    };
    let rows: Vec<CountRow> = Statement::new()
        .sql("WITH matching AS (")
        .fragment(matching)
        .sql(
            "), counted (kind, status, priority, channel_source, user_id, role_id, n) AS (\
             SELECT 1, m.status, m.priority, m.channel_source, NULL::uuid, NULL::uuid, \
               count(*) \
             FROM matching m GROUP BY m.status, m.priority, m.channel_source",
        )
        .sql(assignees)
        .sql(
            ") SELECT c.kind, c.status, c.priority, c.channel_source, c.n, \
               c.user_id, u.email AS user_email, u.name AS user_name, \
               u.created_at AS user_created_at, \
               c.role_id, r.organization_id AS role_organization_id, r.name AS role_name, \
               r.created_at AS role_created_at \
             FROM counted c \
             LEFT JOIN users u ON u.id = c.user_id \
             LEFT JOIN roles r ON r.id = c.role_id",
        )
        .load(conn)?;
    Ok(assemble(rows))
}

fn assemble(rows: Vec<CountRow>) -> TicketCounts {
    let mut total = 0;
    let mut statuses = HashMap::new();
    let mut priorities = HashMap::new();
    let mut channels = HashMap::new();
    let mut unassigned = 0;
    let mut assignees = Vec::new();
    for row in rows {
        match row.kind {
            BY_DIMENSIONS => {
                total += row.n;
                if let Some(status) = row.status {
                    *statuses.entry(status).or_insert(0) += row.n;
                }
                *priorities.entry(row.priority).or_insert(0) += row.n;
                if let Some(channel) = row.channel_source {
                    *channels.entry(channel).or_insert(0) += row.n;
                }
            }
            BY_ASSIGNEE => {
                let user = match (row.user_id, row.user_email, row.user_name) {
                    (Some(id), Some(email), Some(name)) => Some(User {
                        id,
                        email,
                        name,
                        created_at: row.user_created_at.unwrap_or_default(),
                    }),
                    _ => None,
                };
                let role = match (row.role_id, row.role_organization_id, row.role_name) {
                    (Some(id), Some(organization_id), Some(name)) => Some(Role {
                        id,
                        organization_id,
                        name,
                        created_at: row.role_created_at.unwrap_or_default(),
                    }),
                    _ => None,
                };
                match (row.user_id, row.role_id) {
                    (None, None) => unassigned += row.n,
                    _ => assignees.push(AssigneeCount {
                        user,
                        role,
                        count: row.n,
                    }),
                }
            }
            _ => {}
        }
    }
    assignees.sort_by(|a, b| {
        let id = |x: &AssigneeCount| (x.user.as_ref().map(|u| u.id), x.role.as_ref().map(|r| r.id));
        b.count.cmp(&a.count).then_with(|| id(a).cmp(&id(b)))
    });
    assignees.push(AssigneeCount {
        user: None,
        role: None,
        count: unassigned,
    });
    TicketCounts {
        total,
        by_status: TicketStatus::ALL
            .iter()
            .map(|&status| StatusCount {
                status,
                count: statuses.get(&status).copied().unwrap_or(0),
            })
            .collect(),
        by_priority: TicketPriority::ALL
            .iter()
            .map(|&p| Some(p))
            .chain([None])
            .map(|priority| PriorityCount {
                priority,
                count: priorities.get(&priority).copied().unwrap_or(0),
            })
            .collect(),
        by_channel_source: ChannelSource::ALL
            .iter()
            .map(|&channel_source| ChannelSourceCount {
                channel_source,
                count: channels.get(&channel_source).copied().unwrap_or(0),
            })
            .collect(),
        by_assignee: assignees,
    }
}

/// The `ticketCounts` query.
#[derive(Default)]
pub struct TicketCountsQuery;

#[Object]
impl TicketCountsQuery {
    /// How many of your tickets match `filter` (the `tickets` query's rules and scope), in
    /// all and per status, priority, channel source and assignee: the tabs of an inbox, in
    /// one SQL statement.
    async fn ticket_counts(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Which tickets (all of them when absent); with `view`, narrows the view's."
        )]
        filter: Option<TicketFilter>,
        #[graphql(desc = "A saved view (see `views`): its filter applies.")] view: Option<Uuid>,
    ) -> Result<TicketCounts> {
        let rc = RequestContext::of(ctx)?;
        let (filter, _) = super::views::resolve(rc.db, rc.viewer, view, filter)
            .await
            .gql()?;
        let scope = TicketScope::of(rc.viewer);
        let with_assignees = ctx.look_ahead().field("byAssignee").exists();
        rc.db
            .run(move |conn| Ok(count(conn, &scope, &filter, with_assignees)?))
            .await
            .gql()
    }
}
