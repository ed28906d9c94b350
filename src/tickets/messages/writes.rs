//! Message mutations and the ticket counters they keep exact (DATA-MODEL.md "Messages").
//! The ticket row is locked first: concurrent messages on one ticket queue up behind it,
//! so counters never lose an increment and `created_at` follows commit order.

mod time;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::model::{Message, MessageAuthorType};
use crate::auth::TicketScope;
use crate::db::schema::{messages, tickets};
use crate::error::{AppError, AppResult};
use crate::events::{outbox, EventKind};
use crate::tickets::writes::{change_time, lock};
use crate::tickets::Ticket;
use crate::validate;

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub content: String,
    pub is_private: bool,
    pub author_type: MessageAuthorType,
    /// The agent writing it (support messages of a key that acts as a user).
    pub created_by: Option<Uuid>,
}

/// Which side read the ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadSide {
    Team,
    Customer,
}

pub fn send(
    conn: &mut PgConnection,
    scope: &TicketScope,
    ticket_id: Uuid,
    new: &NewMessage,
) -> AppResult<Message> {
    let team_id = scope.team_id;
    validate::content("content", &new.content)?;
    if new.is_private && new.author_type == MessageAuthorType::Customer {
        return Err(AppError::bad_input(
            "isPrivate",
            "customers cannot write private notes",
        ));
    }
    let (ticket, _) = lock(conn, scope, ticket_id)?;
    let message: Message = diesel::insert_into(messages::table)
        .values((
            messages::id.eq(Uuid::now_v7()),
            messages::team_id.eq(team_id),
            messages::ticket_id.eq(ticket_id),
            messages::content.eq(&new.content),
            messages::author_type.eq(new.author_type),
            messages::is_private.eq(new.is_private),
            messages::created_by.eq(match new.author_type {
                MessageAuthorType::Support => new.created_by,
                _ => None,
            }),
            // Read by the database once the lock is held: see `time`.
            messages::created_at.eq(time::AfterLastMessage(ticket_id)),
        ))
        .returning(Message::as_returning())
        .get_result(conn)?;
    if !new.is_private {
        count_new_message(conn, &ticket, &message)?;
    }
    outbox::publish(
        conn,
        team_id,
        EventKind::MessageAdded,
        ticket_id,
        Some(message.id),
    )?;
    Ok(message)
}

fn count_new_message(
    conn: &mut PgConnection,
    ticket: &Ticket,
    message: &Message,
) -> QueryResult<()> {
    let at = message.created_at;
    let (team_unread, customer_unread) = match message.author_type {
        MessageAuthorType::Customer => (1, 0),
        _ => (0, 1),
    };
    diesel::update(tickets::table.find(ticket.id))
        .set((
            tickets::message_count.eq(tickets::message_count + 1),
            tickets::last_message_at.eq(at),
            tickets::last_message_text.eq(validate::preview(&message.content)),
            tickets::updated_at.eq(change_time(ticket.updated_at.value()?, at)),
            tickets::unread_team_count.eq(tickets::unread_team_count + team_unread),
            tickets::unread_customer_count.eq(tickets::unread_customer_count + customer_unread),
        ))
        .execute(conn)
        .map(|_| ())
}

/// Soft-deletes a message; the ticket's counters go down (never below zero) and its last
/// message is recomputed from what remains. Of many concurrent deletes of one message,
/// exactly one succeeds; the others find it gone (NOT_FOUND) and change nothing.
pub fn delete(conn: &mut PgConnection, team_id: Uuid, message_id: Uuid) -> AppResult<Message> {
    let ticket_id = ticket_of_visible(conn, team_id, message_id)?;
    let (ticket, clock) = lock(conn, &TicketScope::team(team_id), ticket_id)?;
    let message = mark_deleted(conn, team_id, message_id, clock)?;
    if !message.is_private {
        recount(conn, &ticket, &message, clock)?;
    }
    outbox::publish(
        conn,
        team_id,
        EventKind::MessageDeleted,
        ticket_id,
        Some(message_id),
    )?;
    Ok(message)
}

/// The ticket of a message not deleted yet. Read before the ticket is locked, so it only
/// says which ticket to lock (a message never moves): whether the message is still there
/// is decided again under the lock, by `mark_deleted`.
fn ticket_of_visible(conn: &mut PgConnection, team_id: Uuid, message_id: Uuid) -> AppResult<Uuid> {
    messages::table
        .filter(messages::team_id.eq(team_id))
        .filter(messages::id.eq(message_id))
        .filter(messages::deleted.eq(false))
        .select(messages::ticket_id)
        .first(conn)
        .optional()?
        .ok_or(AppError::NotFound("message"))
}

/// Soft-deletes the message if it is still visible, with the ticket's lock held. A delete
/// that waited for the lock behind another delete of the same message must not count it
/// down a second time: the `deleted = false` condition, evaluated after the wait, leaves
/// it no row, and the caller's transaction ends with NOT_FOUND before it recounts or
/// publishes anything.
fn mark_deleted(
    conn: &mut PgConnection,
    team_id: Uuid,
    message_id: Uuid,
    clock: DateTime<Utc>,
) -> AppResult<Message> {
    diesel::update(
        messages::table
            .filter(messages::team_id.eq(team_id))
            .filter(messages::id.eq(message_id))
            .filter(messages::deleted.eq(false)),
    )
    .set((messages::deleted.eq(true), messages::deleted_at.eq(clock)))
    .returning(Message::as_returning())
    .get_result(conn)
    .optional()?
    .ok_or(AppError::NotFound("message"))
}

fn recount(
    conn: &mut PgConnection,
    ticket: &Ticket,
    deleted: &Message,
    clock: DateTime<Utc>,
) -> QueryResult<()> {
    let visible = messages::table
        .filter(messages::ticket_id.eq(ticket.id))
        .filter(messages::deleted.eq(false))
        .filter(messages::is_private.eq(false));
    let count: i64 = visible.count().get_result(conn)?;
    let last: Option<(DateTime<Utc>, String)> = visible
        .order((messages::created_at.desc(), messages::id.desc()))
        .select((messages::created_at, messages::content))
        .first(conn)
        .optional()?;
    let (team_less, customer_less) = match deleted.author_type {
        MessageAuthorType::Customer => (1, 0),
        _ => (0, 1),
    };
    diesel::update(tickets::table.find(ticket.id))
        .set((
            tickets::message_count.eq(count as i32),
            tickets::last_message_at.eq(last.as_ref().map(|(at, _)| *at)),
            tickets::last_message_text.eq(last.as_ref().map(|(_, text)| validate::preview(text))),
            tickets::unread_team_count.eq((ticket.unread_team_count.value()? - team_less).max(0)),
            tickets::unread_customer_count
                .eq((ticket.unread_customer_count.value()? - customer_less).max(0)),
            tickets::updated_at.eq(change_time(ticket.updated_at.value()?, clock)),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The team (or the customer) has read the ticket: their unread counter goes to zero.
/// Reading is not a change of the ticket: `updated_at` stays, the inbox does not reorder.
pub fn mark_read(
    conn: &mut PgConnection,
    scope: &TicketScope,
    ticket_id: Uuid,
    side: ReadSide,
) -> AppResult<Ticket> {
    let team_id = scope.team_id;
    lock(conn, scope, ticket_id)?;
    let target = tickets::table.find(ticket_id);
    let ticket = match side {
        ReadSide::Team => diesel::update(target)
            .set(tickets::unread_team_count.eq(0))
            .returning(Ticket::as_returning())
            .get_result(conn)?,
        ReadSide::Customer => diesel::update(target)
            .set(tickets::unread_customer_count.eq(0))
            .returning(Ticket::as_returning())
            .get_result(conn)?,
    };
    outbox::publish(conn, team_id, EventKind::TicketRead, ticket_id, None)?;
    Ok(ticket)
}

/// A message of the team by id (deleted ones included: they can still be looked up).
pub fn find(conn: &mut PgConnection, team_id: Uuid, id: Uuid) -> QueryResult<Option<Message>> {
    messages::table
        .filter(messages::team_id.eq(team_id))
        .filter(messages::id.eq(id))
        .select(Message::as_select())
        .first(conn)
        .optional()
}
