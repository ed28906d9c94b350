use chrono::{DateTime, Utc};
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

#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = messages, check_for_backend(diesel::pg::Pg))]
pub struct Message {
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
