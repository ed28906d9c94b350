//! The `Ticket` GraphQL type (field by field as `ticket.schema.json`) and its queries.

use async_graphql::connection::Edge;
use async_graphql::{Context, Object, Result, ID};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::connection::TicketConnection;
use super::filter::TicketFilter;
use super::messages::graphql::{ticket_messages, MessageConnection};
use super::model::{ChannelDetail, ChannelSource, Ticket, TicketPriority, TicketStatus};
use super::order::{Ordering, TicketOrder};
use super::projection;
use super::queries;
use super::read_ahead::ReadAhead;
use super::views;
use crate::assignments::loaders::AssigneeOf;
use crate::assignments::Assignment;
use crate::auth::TicketScope;
use crate::db::json::RawJson;
use crate::error::{AppError, IntoGql};
use crate::graphql::context::RequestContext;
use crate::graphql::lists::Page;
use crate::graphql::pagination::{self, CursorsWanted, Direction};
use crate::persons::Person;
use crate::tags::loaders::TagsOf;
use crate::teams::loaders::EmailChannelById;

/// A support conversation with a customer, through one channel.
#[Object]
impl Ticket {
    /// The ticket's id: a uuid, also its global id (`node(id:)`).
    #[graphql(name = "id")]
    pub async fn global_id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The ticket's number, unique within the team and assigned on creation (1, 2, 3…).
    async fn ticket_number(&self) -> Result<i32> {
        self.ticket_number.value().gql()
    }

    /// The channel the ticket came in through.
    async fn channel_source(&self) -> ChannelSource {
        self.channel_source
    }

    /// Where within its channel the ticket came from; null when the channel has no detail.
    async fn channel_detail(&self) -> Result<Option<ChannelDetail>> {
        self.channel_detail.value().gql()
    }

    /// The customer's distinct id (the analytics identifier the person is found by).
    async fn distinct_id(&self) -> &str {
        &self.distinct_id
    }

    /// Ticket status: new, open, pending, on_hold, or resolved.
    async fn status(&self) -> Result<TicketStatus> {
        self.status.value().gql()
    }

    /// Ticket priority: low, medium, or high. Null if unset.
    async fn priority(&self) -> Result<Option<TicketPriority>> {
        self.priority.value().gql()
    }

    /// Customer-provided traits such as name and email.
    async fn anonymous_traits(&self) -> Result<&RawJson> {
        self.anonymous_traits.get().gql()
    }

    /// Whether AI resolved the ticket without a human.
    async fn ai_resolved(&self) -> Result<bool> {
        self.ai_resolved.value().gql()
    }

    /// Why the ticket was escalated from AI to a human, if it was (internal: always null
    /// for customer tokens).
    async fn escalation_reason(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        let rc = RequestContext::of(ctx)?;
        Ok(match rc.viewer.is_customer() {
            true => None,
            false => self.escalation_reason.get().gql()?.as_deref(),
        })
    }

    /// When the ticket was created.
    async fn created_at(&self) -> Result<DateTime<Utc>> {
        self.created_at.value().gql()
    }

    /// When the ticket last changed (a new message counts as a change).
    async fn updated_at(&self) -> Result<DateTime<Utc>> {
        self.updated_at.value().gql()
    }

    /// Number of messages visible to the customer (private notes and deleted messages are
    /// not counted).
    async fn message_count(&self) -> Result<i32> {
        self.message_count.value().gql()
    }

    /// When the newest counted message was sent.
    async fn last_message_at(&self) -> Result<Option<DateTime<Utc>>> {
        self.last_message_at.value().gql()
    }

    /// The first 500 characters of the newest counted message.
    async fn last_message_text(&self) -> Result<Option<&str>> {
        Ok(self.last_message_text.get().gql()?.as_deref())
    }

    /// Customer messages the team has not read yet.
    async fn unread_team_count(&self) -> Result<i32> {
        self.unread_team_count.value().gql()
    }

    /// Team and AI messages the customer has not read yet.
    async fn unread_customer_count(&self) -> Result<i32> {
        self.unread_customer_count.value().gql()
    }

    /// The analytics session the ticket was opened from.
    async fn session_id(&self) -> Result<Option<&str>> {
        Ok(self.session_id.get().gql()?.as_deref())
    }

    /// Session context captured when the ticket was created (replay URL, current URL…).
    async fn session_context(&self) -> Result<&RawJson> {
        self.session_context.get().gql()
    }

    /// SLA deadline set via workflows. Null means no SLA.
    async fn sla_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        self.sla_due_at.value().gql()
    }

    /// Until when the ticket is snoozed (on hold); it reopens by itself afterwards.
    async fn snoozed_until(&self) -> Result<Option<DateTime<Utc>>> {
        self.snoozed_until.value().gql()
    }

    /// The Slack channel of a Slack ticket.
    async fn slack_channel_id(&self) -> Result<Option<&str>> {
        Ok(self.slack_channel_id.get().gql()?.as_deref())
    }

    /// The Slack thread (its timestamp) of a Slack ticket.
    async fn slack_thread_ts(&self) -> Result<Option<&str>> {
        Ok(self.slack_thread_ts.get().gql()?.as_deref())
    }

    /// The Slack workspace of a Slack ticket.
    async fn slack_team_id(&self) -> Result<Option<&str>> {
        Ok(self.slack_team_id.get().gql()?.as_deref())
    }

    /// The subject of an email ticket.
    async fn email_subject(&self) -> Result<Option<&str>> {
        Ok(self.email_subject.get().gql()?.as_deref())
    }

    /// The sender of an email ticket.
    async fn email_from(&self) -> Option<&str> {
        self.email_from.as_deref()
    }

    /// People copied on an email ticket.
    async fn cc_participants(&self) -> Result<&RawJson> {
        self.cc_participants.get().gql()
    }

    /// The address an email ticket was sent to (the team's email channel).
    async fn email_to(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let Some(channel_id) = self.email_channel_id.value().gql()? else {
            return Ok(None);
        };
        let rc = RequestContext::of(ctx)?;
        rc.loaders
            .load_one(EmailChannelById(channel_id))
            .await
            .gql()
    }

    /// Who is responsible for the ticket; null when unassigned.
    async fn assignee(&self, ctx: &Context<'_>) -> Result<Option<Assignment>> {
        let rc = RequestContext::of(ctx)?;
        rc.loaders.load_one(AssigneeOf(self.id)).await.gql()
    }

    /// The customer, found among the team's persons by the ticket's distinct id (for email
    /// tickets, else by the sender's address); null when there is none.
    async fn person(&self, ctx: &Context<'_>) -> Result<Option<Person>> {
        let rc = RequestContext::of(ctx)?;
        rc.loaders.load_one(self.person_key()).await.gql()
    }

    /// The ticket's tags, sorted.
    async fn tags(&self, ctx: &Context<'_>) -> Result<Vec<String>> {
        let rc = RequestContext::of(ctx)?;
        Ok(rc
            .loaders
            .load_one(TagsOf(self.id))
            .await
            .gql()?
            .unwrap_or_default())
    }

    /// The conversation, oldest first. Private notes only with `includePrivate: true`;
    /// deleted messages never.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::graphql::pagination::page_cost(first, last, child_complexity)")]
    async fn messages(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The first n messages (default 50).")] first: Option<i32>,
        #[graphql(desc = "Messages after this cursor.")] after: Option<String>,
        #[graphql(desc = "The last n messages (the newest).")] last: Option<i32>,
        #[graphql(desc = "Messages before this cursor.")] before: Option<String>,
        #[graphql(
            default_with = "Some(false)",
            desc = "Include internal notes (private messages)."
        )]
        include_private: Option<bool>,
    ) -> Result<MessageConnection> {
        ticket_messages(ctx, self.id, first, after, last, before, include_private).await
    }
}

/// How `ticket` names the ticket it reads.
#[derive(Clone, Copy)]
enum TicketBy {
    Id(Uuid),
    Number(i32),
}

/// The ticket queries of the root `Query` type.
#[derive(Default)]
pub struct TicketQuery;

#[Object]
impl TicketQuery {
    /// One ticket of your team, by `id` or by `number` (give exactly one of them).
    async fn ticket(
        &self,
        ctx: &Context<'_>,
        id: Option<Uuid>,
        number: Option<i32>,
    ) -> Result<Option<Ticket>> {
        let rc = RequestContext::of(ctx)?;
        let scope = TicketScope::of(rc.viewer);
        let columns = projection::of_ticket(&ctx.look_ahead());
        let by = match (id, number) {
            (Some(id), None) => TicketBy::Id(id),
            (None, Some(number)) => TicketBy::Number(number),
            _ => {
                return Err(AppError::bad_input(
                    "id",
                    "give exactly one of `id` and `number`",
                ))
                .gql()
            }
        };
        // Its person, assignee, tags and page of messages come along in the same trip.
        let read_ahead = ReadAhead::of_ticket(ctx, &ctx.look_ahead());
        let (ticket, primed) = rc
            .db
            .run(move |conn| {
                let ticket = match by {
                    TicketBy::Id(id) => queries::find_by_id(conn, &scope, id, columns)?,
                    TicketBy::Number(number) => {
                        queries::find_by_number(conn, &scope, number, columns)?
                    }
                };
                let Some(ticket) = ticket else {
                    return Err(AppError::NotFound("ticket"));
                };
                let primed = read_ahead.fetch(conn, &scope, std::slice::from_ref(&ticket));
                Ok((ticket, primed))
            })
            .await
            .gql()?;
        rc.loaders.loader().prime(primed);
        Ok(Some(ticket))
    }

    /// Your team's tickets matching `filter`, in `orderBy` order (default: newest update
    /// first), as a Relay connection with keyset cursors.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::graphql::pagination::page_cost(first, last, child_complexity)")]
    async fn tickets(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Which tickets (all of them when absent); with `view`, narrows the view's."
        )]
        filter: Option<TicketFilter>,
        #[graphql(
            desc = "Sort keys, most significant first (at most 3); ties are broken by id. \
                    Absent: the view's order, else newest update first."
        )]
        order_by: Option<Vec<TicketOrder>>,
        #[graphql(
            desc = "Returns the first n tickets (default 50, at most the configured maximum)."
        )]
        first: Option<i32>,
        #[graphql(desc = "Returns the tickets after this cursor.")] after: Option<String>,
        #[graphql(desc = "Returns the last n tickets.")] last: Option<i32>,
        #[graphql(desc = "Returns the tickets before this cursor.")] before: Option<String>,
        #[graphql(desc = "A saved view (see `views`): its filter and order apply.")] view: Option<
            Uuid,
        >,
    ) -> Result<TicketConnection> {
        let rc = RequestContext::of(ctx)?;
        let (filter, view_order) = views::resolve(rc.db, rc.viewer, view, filter).await.gql()?;
        let ordering = Ordering::new(order_by.or(view_order)).gql()?;
        let scope = TicketScope::of(rc.viewer);
        // The scope is part of the query: another team's (or customer's) cursor is refused.
        let query_id = pagination::fingerprint(&("tickets", &scope, &filter, &ordering));
        let request = pagination::page_request(
            rc.page_limits,
            &query_id,
            first,
            after.as_deref(),
            last,
            before.as_deref(),
        )
        .gql()?;
        if let Some(from) = &request.from {
            if !ordering.accepts(from) {
                let argument = if after.is_some() { "after" } else { "before" };
                return Err(AppError::bad_input(argument, "invalid cursor")).gql();
            }
        }
        let (page_scope, page_filter, page_ordering, page_request) = (
            scope.clone(),
            filter.clone(),
            ordering.clone(),
            request.clone(),
        );
        // What the page's tickets will ask their loaders for comes along in the same trip.
        let read_ahead = ReadAhead::of_connection(ctx, &ctx.look_ahead());
        // Only the columns the selection needs (the page adds its ordering's).
        let columns = projection::of_connection(&ctx.look_ahead());
        let (rows, more, primed) = rc
            .db
            .run(move |conn| {
                let (rows, more) = queries::page(
                    conn,
                    &page_scope,
                    &page_filter,
                    &page_ordering,
                    &page_request,
                    columns,
                )?;
                let primed = read_ahead.fetch(conn, &page_scope, &rows);
                Ok((rows, more, primed))
            })
            .await
            .gql()?;
        rc.loaders.loader().prime(primed);
        let (has_previous, has_next) = match request.direction {
            Direction::Forward => (request.from.is_some(), more),
            Direction::Backward => (more, request.from.is_some()),
        };
        let cursors = CursorsWanted::of(&ctx.look_ahead(), rows.len());
        let edges = rows
            .into_iter()
            .enumerate()
            .map(|(index, ticket)| {
                let cursor = match cursors.at(index) {
                    true => pagination::encode_cursor(&query_id, &ordering.position(&ticket)?),
                    false => String::new(),
                };
                Ok(Edge::new(cursor, ticket))
            })
            .collect::<Result<_, AppError>>()
            .gql()?;
        Ok(TicketConnection {
            page: Page {
                edges,
                has_previous_page: has_previous,
                has_next_page: has_next,
            },
            scope,
            filter,
        })
    }

    /// Customer messages waiting for the team: the sum of `unreadTeamCount` over tickets
    /// that are not resolved.
    async fn unread_count(&self, ctx: &Context<'_>) -> Result<i64> {
        let rc = RequestContext::of(ctx)?;
        let scope = TicketScope::of(rc.viewer);
        rc.db
            .run(move |conn| Ok(queries::unread_count(conn, &scope)?))
            .await
            .gql()
    }
}
