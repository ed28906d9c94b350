use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::messages;
use crate::text_enum;

text_enum! {
    /// Who wrote a message.
    pub enum MessageAuthorType {
        /// The customer.
        Customer => "customer",
        /// A support agent.
        Support => "support",
        /// The AI assistant.
        #[graphql(name = "AI")]
        Ai => "AI",
    }
}

/// A stored message, as Diesel reads it.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
pub struct MessageRow {
    pub id: Uuid,
    pub team_id: Uuid,
    pub ticket_id: Uuid,
    /// Shared, not copied: the same page of messages reaches every alias that asks for
    /// it (the loader hands each a clone), and a page can hold megabytes of text.
    #[diesel(deserialize_as = String)]
    pub content: std::sync::Arc<str>,
    pub author_type: MessageAuthorType,
    pub is_private: bool,
    pub created_by: Option<Uuid>,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
}

/// A message: its row, plus where the live stream stood when `messageAdded` delivered
/// it. Reads through to the row (`Deref`): the position is the one thing a message has
/// that is not a column, and Diesel's derives cannot skip a field.
#[derive(Debug, Clone)]
pub struct Message {
    row: MessageRow,
    /// The position to resume `messageAdded` from (`after:`), on delivered messages only.
    pub event_position: Option<std::sync::Arc<str>>,
}

impl std::ops::Deref for Message {
    type Target = MessageRow;

    fn deref(&self) -> &MessageRow {
        &self.row
    }
}

impl From<MessageRow> for Message {
    fn from(row: MessageRow) -> Message {
        Message {
            row,
            event_position: None,
        }
    }
}

impl Selectable<Pg> for Message {
    type SelectExpression = <MessageRow as Selectable<Pg>>::SelectExpression;

    fn construct_selection() -> Self::SelectExpression {
        <MessageRow as Selectable<Pg>>::construct_selection()
    }
}

impl<ST> Queryable<ST, Pg> for Message
where
    MessageRow: Queryable<ST, Pg>,
{
    type Row = <MessageRow as Queryable<ST, Pg>>::Row;

    fn build(row: Self::Row) -> diesel::deserialize::Result<Message> {
        <MessageRow as Queryable<ST, Pg>>::build(row).map(Message::from)
    }
}

impl QueryableByName<Pg> for Message {
    fn build<'a>(row: &impl diesel::row::NamedRow<'a, Pg>) -> diesel::deserialize::Result<Message> {
        <MessageRow as QueryableByName<Pg>>::build(row).map(Message::from)
    }
}
