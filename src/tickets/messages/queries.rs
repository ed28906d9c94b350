use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use super::model::Message;
use crate::auth::TicketScope;
use crate::db::schema::{messages, tickets};
use crate::db::sql::Statement;
use crate::error::{AppError, AppResult};
use crate::graphql::pagination::Direction;
use crate::validate::MAX_CONTENT_BYTES;

/// The messages with these ids that the scope may read (global object look-ups), in one
/// statement: on the scope's tickets, never deleted ones, and for a customer never private
/// notes — what `Ticket.messages` would show.
pub fn visible_by_ids(
    conn: &mut PgConnection,
    scope: &TicketScope,
    ids: &[Uuid],
) -> QueryResult<Vec<Message>> {
    let readable = scope.apply(tickets::table.select(tickets::id).into_boxed());
    let mut query = messages::table
        .select(Message::as_select())
        .filter(messages::team_id.eq(scope.team_id))
        .filter(messages::id.eq_any(ids))
        .filter(messages::deleted.eq(false))
        .filter(messages::ticket_id.eq_any(readable))
        .into_boxed();
    if scope.distinct_id.is_some() {
        query = query.filter(messages::is_private.eq(false));
    }
    query.load(conn)
}

/// The same page request for the messages of several tickets: oldest first, `size` of
/// them, after (or before) a (created_at, id) position.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessagePageSpec {
    pub size: i64,
    pub direction: Direction,
    pub from: Option<(DateTime<Utc>, Uuid)>,
    pub include_private: bool,
    /// Most bytes of text the statement may bring back (the request's budget allows no
    /// more): past it the statement stops and the read fails with RESPONSE_TOO_LARGE, so a
    /// page bigger than the budget never reaches this process. None: no cap.
    pub max_bytes: Option<i64>,
}

/// Page rows of one ticket and whether more lie beyond them.
pub type MessagePage = (Vec<Message>, bool);

/// One page of messages for each ticket, in one statement (a LATERAL join reading each
/// ticket's messages off `messages_ticket_created_idx`). Deleted messages never appear.
pub fn pages_for_tickets(
    conn: &mut PgConnection,
    team_id: Uuid,
    ticket_ids: &[Uuid],
    spec: &MessagePageSpec,
) -> AppResult<HashMap<Uuid, MessagePage>> {
    let backward = spec.direction == Direction::Backward;
    let capped = text_cap_can_bind(spec, ticket_ids.len());
    // Capped: the running total of the text, in the order the rows come (each ticket's
    // page in turn, in the page's direction), stops the statement at the first row past
    // the cap (kept, so that the reader can tell). Two window functions and two sorts:
    // a third of the statement's cost on a page of 20, so only when the cap can bind.
    let mut query = Statement::new()
        .sql(match (capped, backward) {
            (false, _) => "SELECT page.* FROM unnest(",
            (true, false) => {
                "SELECT * FROM (SELECT page.*, \
                   row_number() OVER (ORDER BY t.ord, page.created_at, page.id) AS row_order, \
                   sum(octet_length(page.content)) OVER (ORDER BY t.ord, page.created_at, page.id) \
                   - octet_length(page.content) AS bytes_before FROM unnest("
            }
            (true, true) => {
                "SELECT * FROM (SELECT page.*, \
                   row_number() OVER (ORDER BY t.ord, page.created_at DESC, page.id DESC) \
                   AS row_order, \
                   sum(octet_length(page.content)) \
                   OVER (ORDER BY t.ord, page.created_at DESC, page.id DESC) \
                   - octet_length(page.content) AS bytes_before FROM unnest("
            }
        })
        .bind::<Array<SqlUuid>, _>(ticket_ids.to_vec())
        .sql(
            "::uuid[]) WITH ORDINALITY AS t(id, ord) CROSS JOIN LATERAL ( \
               SELECT m.id, m.team_id, m.ticket_id, m.content, m.author_type, m.is_private, \
                      m.created_by, m.deleted, m.created_at \
               FROM messages m \
               WHERE m.ticket_id = t.id AND NOT m.deleted AND m.team_id = ",
        )
        .bind::<SqlUuid, _>(team_id);
    if !spec.include_private {
        query = query.sql(" AND NOT m.is_private");
    }
    if let Some((at, id)) = spec.from {
        query = query
            .sql(match backward {
                false => " AND (m.created_at, m.id) > (",
                true => " AND (m.created_at, m.id) < (",
            })
            .bind::<Timestamptz, _>(at)
            .sql(", ")
            .bind::<SqlUuid, _>(id)
            .sql(")");
    }
    let query = query
        .sql(match backward {
            false => " ORDER BY m.created_at ASC, m.id ASC LIMIT ",
            true => " ORDER BY m.created_at DESC, m.id DESC LIMIT ",
        })
        .bind::<BigInt, _>(spec.size + 1);
    // Uncapped, the rows come in no promised order: each page is sorted below.
    let query = match capped {
        false => query.sql(") AS page"),
        true => query
            .sql(") AS page) AS capped WHERE bytes_before <= ")
            .bind::<BigInt, _>(spec.max_bytes.unwrap_or(i64::MAX))
            .sql(" ORDER BY row_order"),
    };
    let rows: Vec<Message> = query.load(conn)?;
    let bytes: usize = rows.iter().map(|message| message.content.len()).sum();
    if spec.max_bytes.is_some_and(|cap| bytes as i64 > cap) {
        return Err(AppError::TooLarge(format!(
            "these messages hold more than {} bytes of text: ask for fewer or smaller items",
            spec.max_bytes.unwrap_or_default()
        )));
    }
    let mut pages: HashMap<Uuid, MessagePage> = ticket_ids
        .iter()
        .map(|id| (*id, (Vec::new(), false)))
        .collect();
    for message in rows {
        if let Some((page, _)) = pages.get_mut(&message.ticket_id) {
            page.push(message);
        }
    }
    for (page, more) in pages.values_mut() {
        if !capped {
            page.sort_unstable_by_key(|message| (message.created_at, message.id));
            if backward {
                page.reverse();
            }
        }
        *more = page.len() as i64 > spec.size;
        page.truncate(spec.size as usize);
        if backward {
            page.reverse();
        }
    }
    Ok(pages)
}

/// Whether the text of the pages could pass the cap at all. Each ticket gives at most
/// `size + 1` rows, and no message holds more than `MAX_CONTENT_BYTES` of text: writes
/// are validated, and the `messages_content_size` check (migration 000011) holds every
/// writer to it. When even that worst case fits, the statement needs no running total.
fn text_cap_can_bind(spec: &MessagePageSpec, tickets: usize) -> bool {
    let Some(cap) = spec.max_bytes else {
        return false;
    };
    let rows = (tickets as i64).saturating_mul(spec.size.saturating_add(1));
    rows.saturating_mul(MAX_CONTENT_BYTES as i64) > cap
}
