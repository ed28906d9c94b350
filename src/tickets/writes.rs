//! Ticket mutations. Each runs inside the caller's transaction, locks the rows it changes,
//! records an activity and an event, and leaves everything consistent or nothing at all.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel::sql_types::Timestamptz;
use serde_json::json;
use uuid::Uuid;

use super::model::{ChannelDetail, ChannelSource, Ticket, TicketPriority, TicketStatus};
use super::projection::NotLoaded;
use crate::auth::TicketScope;
use crate::db::schema::{email_channels, messages, tags, ticket_activities, ticket_tags, tickets};
use crate::db::sql::trusted;
use crate::error::{AppError, AppResult};
use crate::events::{outbox, EventKind};
use crate::teams::queries as teams;
use crate::validate;

/// A customer's first message, which opens a ticket.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub distinct_id: String,
    pub channel_source: ChannelSource,
    pub channel_detail: Option<ChannelDetail>,
    pub anonymous_traits: serde_json::Value,
    pub email_subject: Option<String>,
    pub email_from: Option<String>,
    pub session_id: Option<String>,
    pub session_context: serde_json::Value,
    pub message: String,
}

/// What `updateTicket` may change. Outer `None`: leave as is; `Some(None)`: clear.
#[derive(Debug, Clone, Default)]
pub struct TicketPatch {
    pub status: Option<TicketStatus>,
    pub priority: Option<Option<TicketPriority>>,
    pub anonymous_traits: Option<serde_json::Value>,
    pub ai_resolved: Option<bool>,
    pub escalation_reason: Option<Option<String>>,
    pub sla_due_at: Option<Option<DateTime<Utc>>>,
    pub snoozed_until: Option<Option<DateTime<Utc>>>,
    pub tags: Option<Vec<String>>,
}

#[derive(AsChangeset, Default)]
#[diesel(table_name = tickets)]
struct TicketChanges {
    status: Option<&'static str>,
    priority: Option<Option<&'static str>>,
    anonymous_traits: Option<serde_json::Value>,
    ai_resolved: Option<bool>,
    escalation_reason: Option<Option<String>>,
    sla_due_at: Option<Option<DateTime<Utc>>>,
    snoozed_until: Option<Option<DateTime<Utc>>>,
    updated_at: Option<DateTime<Utc>>,
}

/// A ticket of the scope, locked until the transaction ends, with the database's clock.
///
/// The clock is read as the row is found, before any wait for its lock, and is read
/// again after the wait only if the holder changed the row. Times derived from the
/// locked row (`change_time` over `updated_at`) stay ordered; a time that must follow
/// writes that leave the row alone (a message after a private note) is read in its own
/// statement instead (`messages/writes/time.rs`).
pub fn lock(
    conn: &mut PgConnection,
    scope: &TicketScope,
    id: Uuid,
) -> AppResult<(Ticket, DateTime<Utc>)> {
    let query = tickets::table
        .filter(tickets::team_id.eq(scope.team_id))
        .filter(tickets::id.eq(id))
        .select((
            Ticket::as_select(),
            trusted::<Timestamptz>("clock_timestamp()"),
        ))
        .for_update();
    let found = match &scope.distinct_id {
        Some(distinct_id) => query
            .filter(tickets::distinct_id.eq(distinct_id))
            .first(conn)
            .optional()?,
        None => query.first(conn).optional()?,
    };
    found.ok_or(AppError::NotFound("ticket"))
}

/// The time of a change to a ticket last changed at `previous`: the clock, but always
/// after `previous`, so `updated_at` strictly increases (orderings and
/// `expectedUpdatedAt` rely on it).
pub fn change_time(previous: DateTime<Utc>, clock: DateTime<Utc>) -> DateTime<Utc> {
    clock.max(previous + Duration::microseconds(1))
}

pub fn record_activity(
    conn: &mut PgConnection,
    team_id: Uuid,
    ticket_id: Uuid,
    kind: &str,
    actor: Option<Uuid>,
    details: serde_json::Value,
) -> QueryResult<()> {
    diesel::insert_into(ticket_activities::table)
        .values((
            ticket_activities::id.eq(Uuid::now_v7()),
            ticket_activities::team_id.eq(team_id),
            ticket_activities::ticket_id.eq(ticket_id),
            ticket_activities::kind.eq(kind),
            ticket_activities::actor_user_id.eq(actor),
            ticket_activities::details.eq(details),
        ))
        .execute(conn)
        .map(|_| ())
}

fn check_channel(new: &NewTicket) -> AppResult<()> {
    let source = new.channel_source.as_db();
    let fits = match new.channel_detail {
        None => true,
        Some(detail) => detail.as_db().starts_with(source),
    };
    if !fits {
        return Err(AppError::bad_input(
            "input.channelDetail",
            format!("does not belong to the {source} channel"),
        ));
    }
    Ok(())
}

pub fn validate_new(new: &NewTicket) -> AppResult<()> {
    let distinct_chars = new.distinct_id.chars().count();
    if new.distinct_id.trim().is_empty() || distinct_chars > 400 {
        return Err(AppError::bad_input(
            "input.distinctId",
            "must have 1 to 400 characters",
        ));
    }
    validate::text("input.distinctId", &new.distinct_id, 400)?;
    check_channel(new)?;
    validate::object("input.anonymousTraits", &new.anonymous_traits)?;
    validate::object("input.sessionContext", &new.session_context)?;
    if let Some(from) = &new.email_from {
        validate::email("input.emailFrom", from)?;
    }
    if let Some(subject) = &new.email_subject {
        validate::text("input.emailSubject", subject, 500)?;
    }
    if let Some(session) = &new.session_id {
        validate::text("input.sessionId", session, 200)?;
    }
    validate::content("input.message", &new.message)
}

/// Opens a ticket with the team's next number and its first (customer) message.
pub fn create(conn: &mut PgConnection, team_id: Uuid, new: &NewTicket) -> AppResult<Ticket> {
    validate_new(new)?;
    let number = teams::next_ticket_number(conn, team_id)?;
    let now: DateTime<Utc> =
        diesel::select(trusted::<Timestamptz>("clock_timestamp()")).get_result(conn)?;
    let email_channel_id = match new.channel_source {
        ChannelSource::Email => email_channels::table
            .filter(email_channels::team_id.eq(team_id))
            .order(email_channels::created_at)
            .select(email_channels::id)
            .first::<Uuid>(conn)
            .optional()?,
        _ => None,
    };
    let id = Uuid::now_v7();
    diesel::insert_into(tickets::table)
        .values((
            (
                tickets::id.eq(id),
                tickets::team_id.eq(team_id),
                tickets::ticket_number.eq(number),
                tickets::channel_source.eq(new.channel_source),
                tickets::channel_detail.eq(new.channel_detail),
                tickets::distinct_id.eq(&new.distinct_id),
                tickets::status.eq(TicketStatus::New),
                tickets::anonymous_traits.eq(&new.anonymous_traits),
                tickets::email_subject.eq(&new.email_subject),
                tickets::email_from.eq(&new.email_from),
                tickets::email_channel_id.eq(email_channel_id),
            ),
            (
                tickets::session_id.eq(&new.session_id),
                tickets::session_context.eq(&new.session_context),
                tickets::message_count.eq(1),
                tickets::unread_team_count.eq(1),
                tickets::last_message_at.eq(now),
                tickets::last_message_text.eq(validate::preview(&new.message)),
                tickets::created_at.eq(now),
                tickets::updated_at.eq(now),
            ),
        ))
        .execute(conn)?;
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(Uuid::now_v7()),
            messages::team_id.eq(team_id),
            messages::ticket_id.eq(id),
            messages::content.eq(&new.message),
            messages::author_type.eq("customer"),
            messages::created_at.eq(now),
        ))
        .execute(conn)?;
    record_activity(
        conn,
        team_id,
        id,
        "created",
        None,
        json!({ "ticket_number": number }),
    )?;
    outbox::publish(conn, team_id, EventKind::TicketCreated, id, None)?;
    Ok(tickets::table
        .find(id)
        .select(Ticket::as_select())
        .first(conn)?)
}

pub fn validate_patch(patch: &TicketPatch) -> AppResult<Option<Vec<String>>> {
    if let Some(traits) = &patch.anonymous_traits {
        validate::object("input.anonymousTraits", traits)?;
    }
    if let Some(Some(reason)) = &patch.escalation_reason {
        validate::text("input.escalationReason", reason, 2000)?;
    }
    if let Some(Some(at)) = patch.sla_due_at {
        validate::date("input.slaDueAt", at)?;
    }
    if let Some(Some(at)) = patch.snoozed_until {
        validate::date("input.snoozedUntil", at)?;
    }
    patch
        .tags
        .as_ref()
        .map(|names| validate::tags("input.tags", names))
        .transpose()
}

/// Applies a patch with the reference's snooze rules; with `expected_updated_at`, refuses
/// (CONFLICT, nothing changed) when the ticket changed since the caller read it.
pub fn update(
    conn: &mut PgConnection,
    team_id: Uuid,
    id: Uuid,
    patch: &TicketPatch,
    expected_updated_at: Option<DateTime<Utc>>,
    actor: Option<Uuid>,
) -> AppResult<Ticket> {
    let tags = validate_patch(patch)?;
    let (ticket, clock) = lock(conn, &TicketScope::team(team_id), id)?;
    if let Some(expected) = expected_updated_at {
        let updated_at = ticket.updated_at.value()?;
        if expected.timestamp_micros() != updated_at.timestamp_micros() {
            return Err(AppError::Conflict(format!(
                "the ticket changed at {} (you expected {}): read it again",
                updated_at.to_rfc3339(),
                expected.to_rfc3339()
            )));
        }
    }
    let status = match patch.status {
        Some(status) => Some(status),
        None => snooze_status(&ticket, patch)?,
    };
    let changes = TicketChanges {
        status: status.map(TicketStatus::as_db),
        priority: patch.priority.map(|p| p.map(TicketPriority::as_db)),
        anonymous_traits: patch.anonymous_traits.clone(),
        ai_resolved: patch.ai_resolved,
        escalation_reason: patch.escalation_reason.clone(),
        sla_due_at: patch.sla_due_at,
        snoozed_until: patch.snoozed_until,
        updated_at: Some(change_time(ticket.updated_at.value()?, clock)),
    };
    let updated: Ticket = diesel::update(tickets::table.find(id))
        .set(&changes)
        .returning(Ticket::as_returning())
        .get_result(conn)?;
    if let Some(names) = tags {
        set_tags(conn, team_id, id, &names)?;
    }
    record_changes(conn, &ticket, &updated, actor)?;
    outbox::publish(conn, team_id, EventKind::TicketUpdated, id, None)?;
    Ok(updated)
}

/// Snoozing (null → a time) puts the ticket on hold; clearing the snooze reopens it —
/// unless the same change sets a status explicitly.
fn snooze_status(ticket: &Ticket, patch: &TicketPatch) -> Result<Option<TicketStatus>, NotLoaded> {
    Ok(match (ticket.snoozed_until.value()?, patch.snoozed_until) {
        (None, Some(Some(_))) => Some(TicketStatus::OnHold),
        (Some(_), Some(None)) => Some(TicketStatus::Open),
        _ => None,
    })
}

/// Status and priority changes are what automation reacts to: log them.
pub(super) fn record_changes(
    conn: &mut PgConnection,
    before: &Ticket,
    after: &Ticket,
    actor: Option<Uuid>,
) -> QueryResult<()> {
    let (status_before, status_after) = (before.status.value()?, after.status.value()?);
    if status_before != status_after {
        record_activity(
            conn,
            after.team_id,
            after.id,
            "status_changed",
            actor,
            json!({ "from": status_before, "to": status_after }),
        )?;
    }
    let (priority_before, priority_after) = (before.priority.value()?, after.priority.value()?);
    if priority_before != priority_after {
        record_activity(
            conn,
            after.team_id,
            after.id,
            "priority_changed",
            actor,
            json!({ "from": priority_before, "to": priority_after }),
        )?;
    }
    let snoozed_until = after.snoozed_until.value()?;
    if before.snoozed_until.get()?.is_none() && snoozed_until.is_some() {
        record_activity(
            conn,
            after.team_id,
            after.id,
            "snoozed",
            actor,
            json!({ "until": snoozed_until }),
        )?;
    }
    Ok(())
}

/// The team's tags with these names, created when missing; returns their ids.
pub(super) fn tag_ids(
    conn: &mut PgConnection,
    team_id: Uuid,
    names: &[String],
) -> QueryResult<Vec<Uuid>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<_> = names
        .iter()
        .map(|name| {
            (
                tags::id.eq(Uuid::now_v7()),
                tags::team_id.eq(team_id),
                tags::name.eq(name),
            )
        })
        .collect();
    diesel::insert_into(tags::table)
        .values(rows)
        .on_conflict((tags::team_id, tags::name))
        .do_nothing()
        .execute(conn)?;
    tags::table
        .filter(tags::team_id.eq(team_id))
        .filter(tags::name.eq_any(names))
        .select(tags::id)
        .load(conn)
}

/// Makes the ticket's tags exactly `names`.
pub fn set_tags(
    conn: &mut PgConnection,
    team_id: Uuid,
    ticket_id: Uuid,
    names: &[String],
) -> QueryResult<()> {
    let ids = tag_ids(conn, team_id, names)?;
    diesel::delete(
        ticket_tags::table
            .filter(ticket_tags::ticket_id.eq(ticket_id))
            .filter(ticket_tags::tag_id.ne_all(&ids)),
    )
    .execute(conn)?;
    add_tag_ids(conn, &[ticket_id], &ids)
}

pub(super) fn add_tag_ids(
    conn: &mut PgConnection,
    ticket_ids: &[Uuid],
    tag_ids: &[Uuid],
) -> QueryResult<()> {
    let links: Vec<_> = ticket_ids
        .iter()
        .flat_map(|t| {
            tag_ids
                .iter()
                .map(move |g| (ticket_tags::ticket_id.eq(*t), ticket_tags::tag_id.eq(*g)))
        })
        .collect();
    if links.is_empty() {
        return Ok(());
    }
    diesel::insert_into(ticket_tags::table)
        .values(links)
        .on_conflict_do_nothing()
        .execute(conn)
        .map(|_| ())
}

/// What a bulk tag change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagAction {
    Add,
    Remove,
    Set,
}
