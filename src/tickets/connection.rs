//! `TicketConnection`, and how lists of tickets answer each `Ticket` field as a whole
//! (see `graphql::lists`): the row's own fields straight off the rows, the person, the
//! assignee and the tags with one loader call each for the whole page.

use async_graphql::connection::{Edge, EmptyFields, PageInfo};
use async_graphql::{Context, Object, Result, Value};
use futures_util::future::BoxFuture;

use super::filter::TicketFilter;
use super::model::{ChannelDetail, Ticket, TicketPriority};
use super::queries;
use crate::assignments::loaders::AssigneeOf;
use crate::assignments::Assignment;
use crate::auth::TicketScope;
use crate::error::IntoGql;
use crate::graphql::context::RequestContext;
use crate::graphql::lists::values::{json, of, opt_string, string, strings};
use crate::graphql::lists::{fail_all, nested, ListObject, ObjectList, Page, Plan};
use crate::graphql::loaders::load_all;
use crate::persons::queries::PersonKey;
use crate::persons::Person;
use crate::tags::loaders::TagsOf;

pub type TicketEdge = Edge<String, Ticket, EmptyFields>;

/// A page of tickets (Relay connection), with the total over all pages on request.
pub struct TicketConnection {
    pub page: Page<Ticket>,
    /// What `totalCount` counts.
    pub scope: TicketScope,
    pub filter: TicketFilter,
}

#[Object]
impl TicketConnection {
    /// Information to aid in pagination.
    async fn page_info(&self) -> PageInfo {
        self.page.page_info()
    }

    /// A list of edges.
    async fn edges(&self) -> ObjectList<'_, TicketEdge> {
        self.page.edges()
    }

    /// A list of nodes.
    async fn nodes(&self) -> ObjectList<'_, Ticket> {
        self.page.nodes()
    }

    /// How many tickets match, over all pages (counted only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let rc = RequestContext::of(ctx)?;
        let (scope, filter) = (self.scope.clone(), self.filter.clone());
        rc.db
            .run(move |conn| Ok(queries::count(conn, &scope, &filter)?))
            .await
            .gql()
    }
}

impl ListObject for Ticket {
    fn plan(field: &str) -> Plan<Self> {
        Plan::Row(match field {
            "id" => |t, _| Ok(of(&t.id)),
            "ticketNumber" => |t, _| Ok(of(&t.ticket_number)),
            "channelSource" => |t, _| Ok(t.channel_source.graphql_value()),
            "channelDetail" => |t, _| {
                Ok(t.channel_detail
                    .map_or(Value::Null, ChannelDetail::graphql_value))
            },
            "distinctId" => |t, _| Ok(string(&t.distinct_id)),
            "status" => |t, _| Ok(t.status.graphql_value()),
            "priority" => |t, _| {
                Ok(t.priority
                    .map_or(Value::Null, TicketPriority::graphql_value))
            },
            "anonymousTraits" => |t, _| json(&t.anonymous_traits),
            "aiResolved" => |t, _| Ok(of(&t.ai_resolved)),
            // Internal: never for customer tokens (as `Ticket.escalationReason`).
            "escalationReason" => |t, viewer| match viewer.is_customer() {
                true => Ok(Value::Null),
                false => Ok(opt_string(t.escalation_reason.as_deref())),
            },
            "createdAt" => |t, _| Ok(of(&t.created_at)),
            "updatedAt" => |t, _| Ok(of(&t.updated_at)),
            "messageCount" => |t, _| Ok(of(&t.message_count)),
            "lastMessageAt" => |t, _| Ok(of(&t.last_message_at)),
            "lastMessageText" => |t, _| Ok(opt_string(t.last_message_text.as_deref())),
            "unreadTeamCount" => |t, _| Ok(of(&t.unread_team_count)),
            "unreadCustomerCount" => |t, _| Ok(of(&t.unread_customer_count)),
            "sessionId" => |t, _| Ok(opt_string(t.session_id.as_deref())),
            "sessionContext" => |t, _| json(&t.session_context),
            "slaDueAt" => |t, _| Ok(of(&t.sla_due_at)),
            "snoozedUntil" => |t, _| Ok(of(&t.snoozed_until)),
            "slackChannelId" => |t, _| Ok(opt_string(t.slack_channel_id.as_deref())),
            "slackThreadTs" => |t, _| Ok(opt_string(t.slack_thread_ts.as_deref())),
            "slackTeamId" => |t, _| Ok(opt_string(t.slack_team_id.as_deref())),
            "emailSubject" => |t, _| Ok(opt_string(t.email_subject.as_deref())),
            "emailFrom" => |t, _| Ok(opt_string(t.email_from.as_deref())),
            "ccParticipants" => |t, _| json(&t.cc_participants),
            "person" => return Plan::Batch(persons),
            "assignee" => return Plan::Batch(assignees),
            "tags" => return Plan::Batch(tags),
            // `emailTo` (rare in lists) and `messages` (arguments of its own).
            _ => return Plan::Each,
        })
    }
}

fn persons<'a>(
    tickets: &'a [&'a Ticket],
    fields: &'a [Context<'a>],
) -> BoxFuture<'a, Vec<Option<Value>>> {
    Box::pin(async move {
        let keys: Vec<PersonKey> = tickets.iter().map(|ticket| ticket.person_key()).collect();
        match load_all(&fields[0], keys.iter().cloned()).await {
            Ok(found) => {
                let persons: Vec<Option<&Person>> = keys.iter().map(|key| found.get(key)).collect();
                nested(fields, &persons).await
            }
            Err(error) => fail_all(fields, error),
        }
    })
}

fn assignees<'a>(
    tickets: &'a [&'a Ticket],
    fields: &'a [Context<'a>],
) -> BoxFuture<'a, Vec<Option<Value>>> {
    Box::pin(async move {
        match load_all(
            &fields[0],
            tickets.iter().map(|ticket| AssigneeOf(ticket.id)),
        )
        .await
        {
            Ok(found) => {
                let assignees: Vec<Option<&Assignment>> = tickets
                    .iter()
                    .map(|ticket| found.get(&AssigneeOf(ticket.id)))
                    .collect();
                nested(fields, &assignees).await
            }
            Err(error) => fail_all(fields, error),
        }
    })
}

fn tags<'a>(
    tickets: &'a [&'a Ticket],
    fields: &'a [Context<'a>],
) -> BoxFuture<'a, Vec<Option<Value>>> {
    Box::pin(async move {
        match load_all(&fields[0], tickets.iter().map(|ticket| TagsOf(ticket.id))).await {
            Ok(found) => tickets
                .iter()
                .map(|ticket| {
                    let tags = found.get(&TagsOf(ticket.id)).map(Vec::as_slice);
                    Some(strings(tags.unwrap_or_default()))
                })
                .collect(),
            Err(error) => fail_all(fields, error),
        }
    })
}
