use async_graphql::connection::{Edge, EmptyFields, PageInfo};
use async_graphql::{Context, ErrorExtensions, Object, Result, Value, ID};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use uuid::Uuid;

use super::loaders::MessagePageOf;
use super::model::{Message, MessageAuthorType};
use super::queries::MessagePageSpec;
use crate::auth::TicketScope;
use crate::error::{AppError, IntoGql};
use crate::graphql::budget::ResponseBudget;
use crate::graphql::context::RequestContext;
use crate::graphql::lists::values::{of, string};
use crate::graphql::lists::{fail_all, nested, report, ListObject, ObjectList, Page, Plan};
use crate::graphql::loaders::load_all;
use crate::graphql::pagination::{self, CursorsWanted, Direction, Position};
use crate::tickets::loaders::TicketById;
use crate::tickets::projection;
use crate::tickets::Ticket;
use crate::users::loaders::UserById;
use crate::users::User;

/// A message of a ticket's conversation.
#[Object]
impl Message {
    /// The message's id: a uuid, also its global id (`node(id:)`).
    #[graphql(name = "id")]
    pub async fn global_id(&self) -> ID {
        ID(self.id.to_string())
    }

    /// The text of the message.
    async fn content(&self) -> &str {
        &self.content
    }

    /// Who wrote it: the customer, a support agent or the AI.
    async fn author_type(&self) -> MessageAuthorType {
        self.author_type
    }

    /// An internal note: never shown to the customer, not counted on the ticket.
    async fn is_private(&self) -> bool {
        self.is_private
    }

    /// When it was sent.
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The agent who wrote it; null for customer and AI messages.
    async fn created_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(user_id) = self.created_by else {
            return Ok(None);
        };
        let rc = RequestContext::of(ctx)?;
        rc.loaders.load_one(UserById(user_id)).await.gql()
    }

    /// Where the live stream stood when `messageAdded` delivered this message: give it
    /// back as `messageAdded(after:)` to resume right after it. Null outside that
    /// subscription.
    async fn event_position(&self) -> Option<&str> {
        self.event_position.as_deref()
    }

    /// The ticket it belongs to.
    async fn ticket(&self, ctx: &Context<'_>) -> Result<Ticket> {
        let rc = RequestContext::of(ctx)?;
        let columns = projection::of_ticket(&ctx.look_ahead());
        rc.loaders
            .load_one(TicketById(self.ticket_id, columns))
            .await
            .gql()?
            .ok_or(AppError::NotFound("ticket"))
            .gql()
    }
}

/// A page of a ticket's messages, oldest first.
pub struct MessageConnection(Page<Message>);

#[Object]
impl MessageConnection {
    /// Information to aid in pagination.
    async fn page_info(&self) -> PageInfo {
        self.0.page_info()
    }

    /// A list of edges.
    async fn edges(&self) -> ObjectList<'_, Edge<String, Message, EmptyFields>> {
        self.0.edges()
    }

    /// A list of nodes.
    async fn nodes(&self) -> ObjectList<'_, Message> {
        self.0.nodes()
    }
}

impl ListObject for Message {
    fn plan(field: &str) -> Plan<Self> {
        Plan::Row(match field {
            "id" => |m, _| Ok(of(&m.id)),
            "content" => |m, _| Ok(string(&m.content)),
            "authorType" => |m, _| Ok(m.author_type.graphql_value()),
            "isPrivate" => |m, _| Ok(of(&m.is_private)),
            "createdAt" => |m, _| Ok(of(&m.created_at)),
            "createdBy" => return Plan::Batch(authors),
            "ticket" => return Plan::Batch(tickets),
            _ => return Plan::Each,
        })
    }
}

/// The agents who wrote a page of messages, with one loader call.
fn authors<'a>(
    messages: &'a [&'a Message],
    fields: &'a [Context<'a>],
) -> BoxFuture<'a, Vec<Option<Value>>> {
    Box::pin(async move {
        let keys = messages.iter().filter_map(|m| m.created_by.map(UserById));
        match load_all(&fields[0], keys).await {
            Ok(found) => {
                let users: Vec<Option<&User>> = messages
                    .iter()
                    .map(|m| m.created_by.and_then(|id| found.get(&UserById(id))))
                    .collect();
                nested(fields, &users).await
            }
            Err(error) => fail_all(fields, error),
        }
    })
}

/// The tickets of a page of messages, with one loader call (a message's ticket is never
/// null: one the viewer may not see is NOT_FOUND, as `Message.ticket`).
fn tickets<'a>(
    messages: &'a [&'a Message],
    fields: &'a [Context<'a>],
) -> BoxFuture<'a, Vec<Option<Value>>> {
    Box::pin(async move {
        // Every message's `ticket` has the same selection.
        let columns = projection::of_ticket(&fields[0].look_ahead());
        let keys = messages.iter().map(|m| TicketById(m.ticket_id, columns));
        let found = match load_all(&fields[0], keys).await {
            Ok(found) => found,
            Err(error) => return fail_all(fields, error),
        };
        let tickets: Vec<Option<&Ticket>> = messages
            .iter()
            .map(|m| found.get(&TicketById(m.ticket_id, columns)))
            .collect();
        let mut values = nested(fields, &tickets).await;
        for ((ticket, value), field) in tickets.iter().zip(&mut values).zip(fields) {
            if ticket.is_none() {
                report(field, AppError::NotFound("ticket").extend());
                *value = None;
            }
        }
        values
    })
}

/// The page a ticket's `messages` field will ask for, known from the selection alone:
/// what `tickets::read_ahead` reads with the ticket. None when the field carries a cursor
/// (a cursor names its ticket, not known before the ticket is read), appears more than
/// once, or has arguments its resolver will refuse (it reports them itself).
pub fn page_ahead(
    ctx: &Context<'_>,
    messages: &async_graphql::Lookahead<'_>,
) -> Option<MessagePageSpec> {
    let [field] = messages.selection_fields()[..] else {
        return None;
    };
    let (mut first, mut last, mut include_private) = (None, None, false);
    for (name, value) in field.arguments().ok()? {
        match (name.as_str(), value) {
            (_, Value::Null) => {}
            ("first", Value::Number(n)) => first = Some(i32::try_from(n.as_i64()?).ok()?),
            ("last", Value::Number(n)) => last = Some(i32::try_from(n.as_i64()?).ok()?),
            ("includePrivate", Value::Boolean(asked)) => include_private = asked,
            _ => return None,
        }
    }
    let rc = RequestContext::of(ctx).ok()?;
    let request = pagination::page_request(rc.page_limits, "", first, None, last, None).ok()?;
    Some(MessagePageSpec {
        size: request.size,
        direction: request.direction,
        from: None,
        include_private: private_notes_for(rc.viewer.is_customer(), include_private),
        max_bytes: max_bytes(ctx),
    })
}

/// Private notes are the team's: never for customer tokens, whatever they ask.
fn private_notes_for(customer: bool, asked: bool) -> bool {
    asked && !customer
}

/// The most bytes of text a message statement may read now: half of what is left of the
/// request's budget, since the rows' text is held once as read and once as sent (`hold`).
fn max_bytes(ctx: &Context<'_>) -> Option<i64> {
    let budget = ctx.data_opt::<ResponseBudget>()?;
    Some((budget.room() / 2) as i64)
}

fn position(message: &Message) -> Position {
    Position {
        key: serde_json::json!(message.created_at.timestamp_micros()),
        id: message.id,
    }
}

/// Resolves `Ticket.messages`: validates the page, then asks the loader, which reads the
/// same page for every ticket of the response in one statement.
pub async fn ticket_messages(
    ctx: &Context<'_>,
    ticket_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
    last: Option<i32>,
    before: Option<String>,
    include_private: Option<bool>,
) -> Result<MessageConnection> {
    let rc = RequestContext::of(ctx)?;
    let include_private =
        private_notes_for(rc.viewer.is_customer(), include_private.unwrap_or(false));
    let query_id = pagination::fingerprint(&("messages", ticket_id, include_private));
    let request = pagination::page_request(
        rc.page_limits,
        &query_id,
        first,
        after.as_deref(),
        last,
        before.as_deref(),
    )
    .gql()?;
    let from = match &request.from {
        None => None,
        Some(position) => Some((
            position
                .key
                .as_i64()
                .and_then(DateTime::from_timestamp_micros)
                .filter(|t| (1..=9999).contains(&chrono::Datelike::year(t)))
                .ok_or_else(|| {
                    let argument = match request.direction {
                        Direction::Forward => "after",
                        Direction::Backward => "before",
                    };
                    AppError::bad_input(argument, "invalid cursor")
                })
                .gql()?,
            position.id,
        )),
    };
    let budget = ctx.data_opt::<ResponseBudget>();
    let spec = MessagePageSpec {
        size: request.size,
        direction: request.direction,
        from,
        include_private,
        // The aliases of a request ask in the same turn, before any of them holds
        // anything: they get the same cap, so they still share one statement.
        max_bytes: max_bytes(ctx),
    };
    let (rows, more) = rc
        .loaders
        .load_one(MessagePageOf { ticket_id, spec })
        .await
        .gql()?
        .unwrap_or_default();
    if let Some(budget) = budget {
        budget.hold(rows.iter().map(|message| message.content.len()).sum())?;
    }
    let (has_previous, has_next) = match request.direction {
        Direction::Forward => (request.from.is_some(), more),
        Direction::Backward => (more, request.from.is_some()),
    };
    let cursors = CursorsWanted::of(&ctx.look_ahead(), rows.len());
    let edges = rows
        .into_iter()
        .enumerate()
        .map(|(index, message)| {
            let cursor = match cursors.at(index) {
                true => pagination::encode_cursor(&query_id, &position(&message)),
                false => String::new(),
            };
            Edge::new(cursor, message)
        })
        .collect();
    Ok(MessageConnection(Page {
        edges,
        has_previous_page: has_previous,
        has_next_page: has_next,
    }))
}

/// Which side of the conversation read the ticket.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq)]
pub enum ReadSide {
    /// The support team: `unreadTeamCount` goes to 0.
    Team,
    /// The customer: `unreadCustomerCount` goes to 0.
    Customer,
}

#[derive(Default)]
pub struct MessageMutation;

#[Object]
impl MessageMutation {
    /// Adds a message to a ticket. Non-private messages count on the ticket (message
    /// count, last message, unread counters); private notes never reach the customer.
    /// With a customer token: the author is the customer (the default for customers),
    /// never private, and only on the customer's own tickets.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        ticket_id: Uuid,
        content: String,
        #[graphql(
            default_with = "Some(false)",
            desc = "An internal note, never shown to the customer."
        )]
        is_private: Option<bool>,
        #[graphql(
            desc = "Who writes it (default: SUPPORT for team keys, CUSTOMER for customer tokens)."
        )]
        author_type: Option<MessageAuthorType>,
    ) -> Result<Message> {
        use super::writes::{send, NewMessage};
        use crate::auth::viewer::Scope;
        let rc = RequestContext::of(ctx)?;
        let is_private = is_private.unwrap_or(false);
        let author_type = if rc.viewer.is_customer() {
            if is_private || author_type.is_some_and(|a| a != MessageAuthorType::Customer) {
                return Err(AppError::Forbidden(
                    "customers write their own, non-private messages".into(),
                ))
                .gql();
            }
            MessageAuthorType::Customer
        } else {
            rc.viewer.require(Scope::Write).gql()?;
            author_type.unwrap_or(MessageAuthorType::Support)
        };
        let scope = TicketScope::of(rc.viewer);
        let new = NewMessage {
            content,
            is_private,
            author_type,
            created_by: rc.viewer.user_id,
        };
        rc.db
            .transaction(move |conn| send(conn, &scope, ticket_id, &new))
            .await
            .gql()
    }

    /// Deletes a message (softly): the ticket's counters and last message follow.
    async fn delete_message(&self, ctx: &Context<'_>, id: Uuid) -> Result<Message> {
        use crate::auth::viewer::Scope;
        let rc = RequestContext::of(ctx)?;
        rc.viewer.require(Scope::Write).gql()?;
        let team_id = rc.viewer.team_id;
        rc.db
            .transaction(move |conn| super::writes::delete(conn, team_id, id))
            .await
            .gql()
    }

    /// Marks a ticket read by the team or by the customer (customer tokens: their own
    /// side of their own tickets).
    async fn mark_ticket_read(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        #[graphql(
            desc = "Whose unread counter goes to 0 (default: TEAM for team keys, CUSTOMER for customer tokens)."
        )]
        side: Option<ReadSide>,
    ) -> Result<Ticket> {
        use super::writes::{mark_read, ReadSide as Side};
        use crate::auth::viewer::Scope;
        let rc = RequestContext::of(ctx)?;
        let side = if rc.viewer.is_customer() {
            if side == Some(ReadSide::Team) {
                return Err(AppError::Forbidden(
                    "customers mark their own side read".into(),
                ))
                .gql();
            }
            Side::Customer
        } else {
            rc.viewer.require(Scope::Write).gql()?;
            match side.unwrap_or(ReadSide::Team) {
                ReadSide::Team => Side::Team,
                ReadSide::Customer => Side::Customer,
            }
        };
        let scope = TicketScope::of(rc.viewer);
        rc.db
            .transaction(move |conn| mark_read(conn, &scope, id, side))
            .await
            .gql()
    }
}
