//! Bulk changes: tags or status of many tickets at once, chosen by ids or by a filter
//! (a view's, a request's, or both), all or nothing in one transaction. At most
//! `MAX_IDS` (1,000) tickets per call: more ids, or a filter matching more, is refused
//! before anything changes. Only tickets that actually change get an activity and an
//! event.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Timestamptz;
use serde_json::json;
use uuid::Uuid;

use super::filter::TicketFilter;
use super::model::{Ticket, TicketStatus};
use super::writes::{
    add_tag_ids, change_time, record_activity, record_changes, tag_ids, TagAction,
};
use crate::auth::TicketScope;
use crate::db::schema::{tags, ticket_tags, tickets};
use crate::db::sql::trusted;
use crate::error::{AppError, AppResult};
use crate::events::{outbox, EventKind};
use crate::validate::{self, MAX_IDS};

/// Which tickets a bulk change applies to.
#[derive(Clone, Debug)]
pub enum Selection {
    /// These ids, every one of them the team's (else NOT_FOUND, nothing changes).
    Ids(Vec<Uuid>),
    /// The team's tickets matching this (resolved) filter, up to `MAX_IDS` of them.
    Filter(Box<TicketFilter>),
}

/// The selected tickets' ids, sorted and distinct.
fn selected(conn: &mut PgConnection, team_id: Uuid, selection: &Selection) -> AppResult<Vec<Uuid>> {
    match selection {
        Selection::Ids(ids) => validate::ids("ids", ids),
        Selection::Filter(filter) => {
            let scope = TicketScope::team(team_id);
            let ids: Vec<Uuid> = filter
                .apply(
                    &scope,
                    scope.apply(tickets::table.select(tickets::id).into_boxed()),
                )
                .order(tickets::id)
                .limit(MAX_IDS as i64 + 1)
                .load(conn)?;
            if ids.len() > MAX_IDS {
                return Err(AppError::bad_input(
                    "filter",
                    format!(
                        "matches more than {MAX_IDS} tickets: a bulk change takes at most \
                         {MAX_IDS}; narrow the filter"
                    ),
                ));
            }
            Ok(ids)
        }
    }
}

/// Locks every ticket (in id order, so concurrent bulk actions cannot deadlock); any id
/// that is not the team's fails the whole action.
fn lock_all(
    conn: &mut PgConnection,
    team_id: Uuid,
    ids: &[Uuid],
) -> AppResult<(Vec<Ticket>, DateTime<Utc>)> {
    let rows: Vec<(Ticket, DateTime<Utc>)> = tickets::table
        .filter(tickets::team_id.eq(team_id))
        .filter(tickets::id.eq_any(ids))
        .order(tickets::id)
        .select((
            Ticket::as_select(),
            trusted::<Timestamptz>("clock_timestamp()"),
        ))
        .for_update()
        .load(conn)?;
    if rows.len() != ids.len() {
        return Err(AppError::NotFound("ticket"));
    }
    let clock = rows.first().map(|(_, c)| *c).unwrap_or_else(Utc::now);
    Ok((rows.into_iter().map(|(t, _)| t).collect(), clock))
}

/// Touches `updated_at` of tickets changed by a bulk action and returns them.
fn touch_all(
    conn: &mut PgConnection,
    tickets_before: &[Ticket],
    clock: DateTime<Utc>,
) -> QueryResult<Vec<Ticket>> {
    let mut after = Vec::with_capacity(tickets_before.len());
    for ticket in tickets_before {
        after.push(
            diesel::update(tickets::table.find(ticket.id))
                .set(tickets::updated_at.eq(change_time(ticket.updated_at.value()?, clock)))
                .returning(Ticket::as_returning())
                .get_result(conn)?,
        );
    }
    Ok(after)
}

/// Adds, removes or sets tags on the selected tickets; returns them (in id order). Only
/// tickets whose tags changed get a new `updatedAt`, an activity and an event.
pub fn bulk_tags(
    conn: &mut PgConnection,
    team_id: Uuid,
    selection: &Selection,
    action: TagAction,
    names: &[String],
) -> AppResult<Vec<Ticket>> {
    let names = validate::tags("tags", names)?;
    let ids = selected(conn, team_id, selection)?;
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (locked, clock) = lock_all(conn, team_id, &ids)?;
    let before = tag_sets(conn, &ids)?;
    let tag_ids = match action {
        TagAction::Remove => tags::table
            .filter(tags::team_id.eq(team_id))
            .filter(tags::name.eq_any(&names))
            .select(tags::id)
            .load(conn)?,
        _ => tag_ids(conn, team_id, &names)?,
    };
    match action {
        TagAction::Add => add_tag_ids(conn, &ids, &tag_ids)?,
        TagAction::Remove => {
            diesel::delete(
                ticket_tags::table
                    .filter(ticket_tags::ticket_id.eq_any(&ids))
                    .filter(ticket_tags::tag_id.eq_any(&tag_ids)),
            )
            .execute(conn)?;
        }
        TagAction::Set => {
            diesel::delete(
                ticket_tags::table
                    .filter(ticket_tags::ticket_id.eq_any(&ids))
                    .filter(ticket_tags::tag_id.ne_all(&tag_ids)),
            )
            .execute(conn)?;
            add_tag_ids(conn, &ids, &tag_ids)?;
        }
    }
    // Only tickets whose tags changed are touched and announced.
    let after_tags = tag_sets(conn, &ids)?;
    let (changed, unchanged): (Vec<Ticket>, Vec<Ticket>) = locked
        .into_iter()
        .partition(|t| before.get(&t.id) != after_tags.get(&t.id));
    let mut after = touch_all(conn, &changed, clock)?;
    for ticket in &after {
        record_activity(
            conn,
            team_id,
            ticket.id,
            "tags_changed",
            None,
            json!({ "tags": names }),
        )?;
        outbox::publish(conn, team_id, EventKind::TicketUpdated, ticket.id, None)?;
    }
    after.extend(unchanged);
    after.sort_by_key(|t| t.id);
    Ok(after)
}

/// Each ticket's tag ids (tickets without tags are absent).
fn tag_sets(conn: &mut PgConnection, ids: &[Uuid]) -> QueryResult<HashMap<Uuid, BTreeSet<Uuid>>> {
    let links: Vec<(Uuid, Uuid)> = ticket_tags::table
        .filter(ticket_tags::ticket_id.eq_any(ids))
        .select((ticket_tags::ticket_id, ticket_tags::tag_id))
        .load(conn)?;
    let mut sets: HashMap<Uuid, BTreeSet<Uuid>> = HashMap::new();
    for (ticket, tag) in links {
        sets.entry(ticket).or_default().insert(tag);
    }
    Ok(sets)
}

/// What a bulk status change did: every selected ticket as it is now (in id order), and
/// the ones it changed (those not already in the status).
pub struct StatusChange {
    pub tickets: Vec<Ticket>,
    pub changed: Vec<Uuid>,
}

/// Sets the status of the selected tickets. Tickets already in it are left alone: no
/// new `updatedAt`, no activity, no event.
pub fn bulk_status(
    conn: &mut PgConnection,
    team_id: Uuid,
    selection: &Selection,
    status: TicketStatus,
    actor: Option<Uuid>,
) -> AppResult<StatusChange> {
    let ids = selected(conn, team_id, selection)?;
    let (locked, clock) = lock_all(conn, team_id, &ids)?;
    let mut tickets_now = Vec::with_capacity(locked.len());
    let mut changed = Vec::new();
    for ticket in locked {
        if *ticket.status.get()? == status {
            tickets_now.push(ticket);
            continue;
        }
        let updated: Ticket = diesel::update(tickets::table.find(ticket.id))
            .set((
                tickets::status.eq(status),
                tickets::updated_at.eq(change_time(ticket.updated_at.value()?, clock)),
            ))
            .returning(Ticket::as_returning())
            .get_result(conn)?;
        record_changes(conn, &ticket, &updated, actor)?;
        outbox::publish(conn, team_id, EventKind::TicketUpdated, ticket.id, None)?;
        changed.push(updated.id);
        tickets_now.push(updated);
    }
    Ok(StatusChange {
        tickets: tickets_now,
        changed,
    })
}
