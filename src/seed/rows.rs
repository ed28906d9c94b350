//! The rows the seeder COPYs, one `Insertable` per table.
//!
//! `treat_none_as_default_value = false` is required by `copy_from(..).from_insertable`:
//! binary COPY sends every listed column, so `None` must mean NULL, not DEFAULT.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use crate::db::schema::{
    messages, person_distinct_ids, persons, ticket_assignments, ticket_tags, tickets,
};

#[derive(Debug, Insertable)]
#[diesel(table_name = persons, treat_none_as_default_value = false)]
pub struct NewPerson {
    pub id: Uuid,
    pub team_id: Uuid,
    pub properties: Value,
    pub is_identified: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = person_distinct_ids, treat_none_as_default_value = false)]
pub struct NewDistinctId {
    pub team_id: Uuid,
    pub distinct_id: String,
    pub person_id: Uuid,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = tickets, treat_none_as_default_value = false)]
pub struct NewTicket {
    pub id: Uuid,
    pub team_id: Uuid,
    /// Filled in just before the COPY, from the numbers reserved in the same transaction.
    pub ticket_number: i32,
    pub channel_source: &'static str,
    pub channel_detail: Option<&'static str>,
    pub widget_session_id: Option<String>,
    pub distinct_id: String,
    pub status: &'static str,
    pub priority: Option<&'static str>,
    pub anonymous_traits: Value,
    pub ai_resolved: bool,
    pub escalation_reason: Option<&'static str>,
    pub unread_customer_count: i32,
    pub unread_team_count: i32,
    pub message_count: i32,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_message_text: Option<String>,
    pub slack_channel_id: Option<String>,
    pub slack_thread_ts: Option<String>,
    pub slack_team_id: Option<String>,
    pub teams_channel_id: Option<String>,
    pub teams_conversation_id: Option<String>,
    pub teams_service_url: Option<&'static str>,
    pub teams_tenant_id: Option<String>,
    pub email_channel_id: Option<Uuid>,
    pub email_subject: Option<String>,
    pub email_from: Option<String>,
    pub cc_participants: Value,
    pub session_id: Option<String>,
    pub session_context: Value,
    pub sla_due_at: Option<DateTime<Utc>>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = messages, treat_none_as_default_value = false)]
pub struct NewMessage {
    pub id: Uuid,
    pub team_id: Uuid,
    pub ticket_id: Uuid,
    pub content: String,
    pub author_type: &'static str,
    pub is_private: bool,
    pub created_by: Option<Uuid>,
    pub item_context: Value,
    pub deleted: bool,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = ticket_assignments, treat_none_as_default_value = false)]
pub struct NewAssignment {
    pub id: Uuid,
    pub ticket_id: Uuid,
    pub user_id: Option<Uuid>,
    pub role_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = ticket_tags, treat_none_as_default_value = false)]
pub struct NewTicketTag {
    pub ticket_id: Uuid,
    pub tag_id: Uuid,
}

/// Everything generated for one chunk of tickets; written in one transaction.
#[derive(Debug, Default)]
pub struct Chunk {
    pub persons: Vec<NewPerson>,
    pub distinct_ids: Vec<NewDistinctId>,
    pub tickets: Vec<NewTicket>,
    pub messages: Vec<NewMessage>,
    pub assignments: Vec<NewAssignment>,
    pub ticket_tags: Vec<NewTicketTag>,
}
