//! Ticket mutations of the GraphQL schema. Every one needs a key with the `write` scope
//! and runs in one transaction.

use async_graphql::{
    Context, Enum, InputObject, Json, MaybeUndefined, Object, OneofObject, Result, SimpleObject,
};
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use super::assign::{self as assignment_writes, Assignee};
use super::bulk::{self, Selection, StatusChange};
use super::filter::TicketFilter;
use super::model::{ChannelDetail, ChannelSource, Ticket, TicketPriority, TicketStatus};
use super::views;
use super::writes::{self, NewTicket, TagAction, TicketPatch};
use crate::auth::viewer::Scope;
use crate::error::{AppError, IntoGql};
use crate::graphql::context::RequestContext;

/// A customer's first message, which opens a ticket.
#[derive(InputObject)]
pub struct CreateTicketInput {
    /// The customer's distinct id.
    pub distinct_id: String,
    /// The customer's first message.
    pub message: String,
    #[graphql(default_with = "ChannelSource::Widget")]
    pub channel_source: ChannelSource,
    pub channel_detail: Option<ChannelDetail>,
    /// Customer-provided traits such as name and email.
    pub anonymous_traits: Option<Json<serde_json::Value>>,
    pub email_subject: Option<String>,
    pub email_from: Option<String>,
    pub session_id: Option<String>,
    pub session_context: Option<Json<serde_json::Value>>,
}

/// The writable fields of a ticket. Leave a field out to keep it; `null` clears it.
#[derive(InputObject, Default)]
pub struct UpdateTicketInput {
    pub status: Option<TicketStatus>,
    /// `null` removes the priority.
    pub priority: MaybeUndefined<TicketPriority>,
    pub anonymous_traits: Option<Json<serde_json::Value>>,
    pub ai_resolved: Option<bool>,
    pub escalation_reason: MaybeUndefined<String>,
    /// `null` removes the SLA.
    pub sla_due_at: MaybeUndefined<DateTime<Utc>>,
    /// The SLA as minutes from now (instead of `slaDueAt`).
    pub sla_due_in_minutes: Option<i32>,
    /// Snoozing (setting it while it was null) puts the ticket ON_HOLD and clearing it
    /// reopens it, unless `status` is given too.
    pub snoozed_until: MaybeUndefined<DateTime<Utc>>,
    /// The ticket's tags, exactly (at most 50, each at most 64 characters).
    pub tags: Option<Vec<String>>,
}

/// Who to assign a ticket to. Give exactly one field (or pass `null` to unassign).
#[derive(OneofObject)]
pub enum AssigneeInput {
    /// A user of the team's organisation.
    UserId(Uuid),
    /// A role of the team's organisation.
    RoleId(Uuid),
}

/// How a bulk tag change applies its tags.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum TagChange {
    /// Add the tags, keep the others.
    Add,
    /// Remove the tags, keep the others.
    Remove,
    /// Make the tags exactly these.
    Set,
}

fn maybe<T>(value: MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

fn patch_of(input: UpdateTicketInput) -> std::result::Result<TicketPatch, AppError> {
    let sla_due_at = match (maybe(input.sla_due_at), input.sla_due_in_minutes) {
        (Some(_), Some(_)) => {
            return Err(AppError::bad_input(
                "input.slaDueInMinutes",
                "give either slaDueAt or slaDueInMinutes",
            ))
        }
        (None, Some(minutes)) if !(0..=525_600).contains(&minutes) => {
            return Err(AppError::bad_input(
                "input.slaDueInMinutes",
                "must be between 0 and 525600 (a year)",
            ))
        }
        (None, Some(minutes)) => Some(Some(Utc::now() + Duration::minutes(i64::from(minutes)))),
        (at, None) => at,
    };
    Ok(TicketPatch {
        status: input.status,
        priority: maybe(input.priority),
        anonymous_traits: input.anonymous_traits.map(|j| j.0),
        ai_resolved: input.ai_resolved,
        escalation_reason: maybe(input.escalation_reason),
        sla_due_at,
        snoozed_until: maybe(input.snoozed_until),
        tags: input.tags,
    })
}

/// Orders tickets as the ids were given (bulk actions lock in id order); selected by a
/// filter, they stay in id order.
fn in_given_order(selection: &Selection, mut tickets: Vec<Ticket>) -> Vec<Ticket> {
    let Selection::Ids(ids) = selection else {
        return tickets;
    };
    let mut ordered = Vec::with_capacity(tickets.len());
    for id in ids {
        if let Some(i) = tickets.iter().position(|t| t.id == *id) {
            ordered.push(tickets.swap_remove(i));
        }
    }
    ordered
}

#[derive(Default)]
pub struct TicketMutation;

#[Object]
impl TicketMutation {
    /// Opens a ticket from a customer's first message: status NEW, the team's next number.
    /// Customer tokens open tickets for their own distinct id only.
    async fn create_ticket(&self, ctx: &Context<'_>, input: CreateTicketInput) -> Result<Ticket> {
        let rc = RequestContext::of(ctx)?;
        match &rc.viewer.customer {
            Some(own) if *own != input.distinct_id => {
                return Err(AppError::Forbidden(
                    "customers open tickets for their own distinct id".into(),
                ))
                .gql()
            }
            Some(_) => {}
            None => rc.viewer.require(Scope::Write).gql()?,
        }
        let team_id = rc.viewer.team_id;
        let new = NewTicket {
            distinct_id: input.distinct_id,
            channel_source: input.channel_source,
            channel_detail: input.channel_detail,
            anonymous_traits: input
                .anonymous_traits
                .map_or_else(|| serde_json::json!({}), |j| j.0),
            email_subject: input.email_subject,
            email_from: input.email_from,
            session_id: input.session_id,
            session_context: input
                .session_context
                .map_or_else(|| serde_json::json!({}), |j| j.0),
            message: input.message,
        };
        rc.db
            .transaction(move |conn| writes::create(conn, team_id, &new))
            .await
            .gql()
    }

    /// Changes a ticket. With `expectedUpdatedAt` (the `updatedAt` you read), the change
    /// is refused with CONFLICT, changing nothing, if the ticket changed since.
    async fn update_ticket(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateTicketInput,
        expected_updated_at: Option<DateTime<Utc>>,
    ) -> Result<Ticket> {
        let rc = RequestContext::of(ctx)?;
        rc.viewer.require(Scope::Write).gql()?;
        let (team_id, actor) = (rc.viewer.team_id, rc.viewer.user_id);
        let patch = patch_of(input).gql()?;
        rc.db
            .transaction(move |conn| {
                writes::update(conn, team_id, id, &patch, expected_updated_at, actor)
            })
            .await
            .gql()
    }

    /// Assigns a ticket to a user or a role of the team's organisation; `null` unassigns.
    async fn assign_ticket(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        assignee: Option<AssigneeInput>,
    ) -> Result<Ticket> {
        let rc = RequestContext::of(ctx)?;
        rc.viewer.require(Scope::Write).gql()?;
        let (team_id, actor) = (rc.viewer.team_id, rc.viewer.user_id);
        let assignee = assignee.map(|a| match a {
            AssigneeInput::UserId(id) => Assignee::User(id),
            AssigneeInput::RoleId(id) => Assignee::Role(id),
        });
        rc.db
            .transaction(move |conn| assignment_writes::assign(conn, team_id, id, assignee, actor))
            .await
            .gql()
    }

    /// Adds, removes or sets tags on up to 1,000 tickets, all of them or none: the tickets
    /// given by `ids` (1 to 1,000), or those matching a saved `view` and/or `filter` (the
    /// view narrowed by the filter; matching more than 1,000 is refused), never both
    /// kinds. Returns them (in the order of `ids`, else by id); only those whose tags
    /// changed get a new `updatedAt` and an event.
    async fn bulk_update_tags(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "These tickets (1 to 1,000); or give `filter` and/or `view`.")]
        ids: Option<Vec<Uuid>>,
        action: TagChange,
        tags: Vec<String>,
        filter: Option<TicketFilter>,
        view: Option<Uuid>,
    ) -> Result<Vec<Ticket>> {
        let rc = RequestContext::of(ctx)?;
        rc.viewer.require(Scope::Write).gql()?;
        let team_id = rc.viewer.team_id;
        let action = match action {
            TagChange::Add => TagAction::Add,
            TagChange::Remove => TagAction::Remove,
            TagChange::Set => TagAction::Set,
        };
        let selection = selection(&rc, ids, filter, view).await.gql()?;
        let given = selection.clone();
        let tickets = rc
            .db
            .transaction(move |conn| bulk::bulk_tags(conn, team_id, &selection, action, &tags))
            .await
            .gql()?;
        Ok(in_given_order(&given, tickets))
    }

    /// Sets the status of up to 1,000 tickets (chosen as for `bulkUpdateTags`), all of
    /// them or none; returns every one of them. Tickets already in that status are left
    /// as they are (see `bulkChangeStatus` for how many changed).
    async fn bulk_update_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "These tickets (1 to 1,000); or give `filter` and/or `view`.")]
        ids: Option<Vec<Uuid>>,
        status: TicketStatus,
        filter: Option<TicketFilter>,
        view: Option<Uuid>,
    ) -> Result<Vec<Ticket>> {
        let change = change_status(ctx, ids, status, filter, view).await?;
        Ok(change.tickets)
    }

    /// Sets the status of up to 1,000 tickets (chosen as for `bulkUpdateTags`), all of
    /// them or none, and says what it did: tickets already in that status are skipped
    /// (no new `updatedAt`, no activity, no event) and not counted in `changed`.
    async fn bulk_change_status(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "These tickets (1 to 1,000); or give `filter` and/or `view`.")]
        ids: Option<Vec<Uuid>>,
        status: TicketStatus,
        filter: Option<TicketFilter>,
        view: Option<Uuid>,
    ) -> Result<BulkStatusChange> {
        let change = change_status(ctx, ids, status, filter, view).await?;
        let matched = change.tickets.len() as i32;
        let changed: Vec<Ticket> = change
            .tickets
            .into_iter()
            .filter(|t| change.changed.contains(&t.id))
            .collect();
        Ok(BulkStatusChange {
            matched,
            changed: changed.len() as i32,
            tickets: changed,
        })
    }
}

/// What `bulkChangeStatus` did.
#[derive(SimpleObject)]
pub struct BulkStatusChange {
    /// How many tickets were selected (by ids, filter or view).
    pub matched: i32,
    /// How many of them changed status (the others already had it).
    pub changed: i32,
    /// The tickets that changed, as they are now (by id).
    pub tickets: Vec<Ticket>,
}

/// The tickets a bulk mutation applies to: `ids`, or `view` and/or `filter` (the view
/// narrowed by the filter), never both kinds.
async fn selection(
    rc: &RequestContext<'_>,
    ids: Option<Vec<Uuid>>,
    filter: Option<TicketFilter>,
    view: Option<Uuid>,
) -> std::result::Result<Selection, AppError> {
    let by_filter = filter.is_some() || view.is_some();
    match (ids, by_filter) {
        (Some(_), true) => Err(AppError::bad_input(
            "ids",
            "give either `ids` or `filter`/`view`, not both",
        )),
        (Some(ids), false) => Ok(Selection::Ids(ids)),
        (None, true) => {
            let (filter, _) = views::resolve(rc.db, rc.viewer, view, filter).await?;
            Ok(Selection::Filter(Box::new(filter)))
        }
        (None, false) => Err(AppError::bad_input(
            "ids",
            "give the tickets: `ids`, or `filter` and/or `view`",
        )),
    }
}

async fn change_status(
    ctx: &Context<'_>,
    ids: Option<Vec<Uuid>>,
    status: TicketStatus,
    filter: Option<TicketFilter>,
    view: Option<Uuid>,
) -> Result<StatusChange> {
    let rc = RequestContext::of(ctx)?;
    rc.viewer.require(Scope::Write).gql()?;
    let (team_id, actor) = (rc.viewer.team_id, rc.viewer.user_id);
    let selection = selection(&rc, ids, filter, view).await.gql()?;
    let given = selection.clone();
    let mut change = rc
        .db
        .transaction(move |conn| bulk::bulk_status(conn, team_id, &selection, status, actor))
        .await
        .gql()?;
    change.tickets = in_given_order(&given, change.tickets);
    Ok(change)
}
