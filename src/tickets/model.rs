use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::projection::Column;
use crate::db::json::RawJson;
use crate::db::schema::tickets;
use crate::persons::queries::PersonKey;
use crate::text_enum;

text_enum! {
    /// Ticket status: new, open, pending, on_hold, or resolved.
    pub enum TicketStatus {
        /// New
        New => "new",
        /// Open
        Open => "open",
        /// Pending
        Pending => "pending",
        /// On hold
        OnHold => "on_hold",
        /// Resolved
        Resolved => "resolved",
    }
}

text_enum! {
    /// Ticket priority: low, medium, or high.
    pub enum TicketPriority {
        /// Low
        Low => "low",
        /// Medium
        Medium => "medium",
        /// High
        High => "high",
    }
}

text_enum! {
    /// The channel a ticket came in through.
    pub enum ChannelSource {
        /// The support widget embedded in the customer's product
        Widget => "widget",
        /// Email
        Email => "email",
        /// Slack
        Slack => "slack",
        /// Microsoft Teams
        Teams => "teams",
    }
}

text_enum! {
    /// Where, within its channel, a ticket came from.
    pub enum ChannelDetail {
        /// A message in a Slack channel
        SlackChannelMessage => "slack_channel_message",
        /// A mention of the bot in Slack
        SlackBotMention => "slack_bot_mention",
        /// An emoji reaction in Slack
        SlackEmojiReaction => "slack_emoji_reaction",
        /// A message in a Teams channel
        TeamsChannelMessage => "teams_channel_message",
        /// A mention of the bot in Teams
        TeamsBotMention => "teams_bot_mention",
        /// The embedded widget
        WidgetEmbedded => "widget_embedded",
        /// The widget's API
        WidgetApi => "widget_api",
    }
}

/// A ticket row: its keys (`id`, `team_id`, and what finds its person) always, the other
/// columns as read (`Column`: see `projection`; a full read loads them all).
/// `widget_session_id` and the Teams routing ids are kept for the channels
/// but never exposed through the API.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = tickets, check_for_backend(diesel::pg::Pg))]
pub struct Ticket {
    pub id: Uuid,
    pub team_id: Uuid,
    #[diesel(deserialize_as = i32)]
    pub ticket_number: Column<i32>,
    pub channel_source: ChannelSource,
    #[diesel(deserialize_as = Option<ChannelDetail>)]
    pub channel_detail: Column<Option<ChannelDetail>>,
    pub distinct_id: String,
    #[diesel(deserialize_as = TicketStatus)]
    pub status: Column<TicketStatus>,
    #[diesel(deserialize_as = Option<TicketPriority>)]
    pub priority: Column<Option<TicketPriority>>,
    #[diesel(deserialize_as = RawJson)]
    pub anonymous_traits: Column<RawJson>,
    #[diesel(deserialize_as = bool)]
    pub ai_resolved: Column<bool>,
    #[diesel(deserialize_as = Option<String>)]
    pub escalation_reason: Column<Option<String>>,
    #[diesel(deserialize_as = i32)]
    pub unread_customer_count: Column<i32>,
    #[diesel(deserialize_as = i32)]
    pub unread_team_count: Column<i32>,
    #[diesel(deserialize_as = i32)]
    pub message_count: Column<i32>,
    #[diesel(deserialize_as = Option<DateTime<Utc>>)]
    pub last_message_at: Column<Option<DateTime<Utc>>>,
    #[diesel(deserialize_as = Option<String>)]
    pub last_message_text: Column<Option<String>>,
    #[diesel(deserialize_as = Option<String>)]
    pub slack_channel_id: Column<Option<String>>,
    #[diesel(deserialize_as = Option<String>)]
    pub slack_thread_ts: Column<Option<String>>,
    #[diesel(deserialize_as = Option<String>)]
    pub slack_team_id: Column<Option<String>>,
    #[diesel(deserialize_as = Option<Uuid>)]
    pub email_channel_id: Column<Option<Uuid>>,
    #[diesel(deserialize_as = Option<String>)]
    pub email_subject: Column<Option<String>>,
    pub email_from: Option<String>,
    #[diesel(deserialize_as = RawJson)]
    pub cc_participants: Column<RawJson>,
    #[diesel(deserialize_as = Option<String>)]
    pub session_id: Column<Option<String>>,
    #[diesel(deserialize_as = RawJson)]
    pub session_context: Column<RawJson>,
    #[diesel(deserialize_as = Option<DateTime<Utc>>)]
    pub sla_due_at: Column<Option<DateTime<Utc>>>,
    #[diesel(deserialize_as = Option<DateTime<Utc>>)]
    pub snoozed_until: Column<Option<DateTime<Utc>>>,
    #[diesel(deserialize_as = DateTime<Utc>)]
    pub created_at: Column<DateTime<Utc>>,
    #[diesel(deserialize_as = DateTime<Utc>)]
    pub updated_at: Column<DateTime<Utc>>,
}

impl Ticket {
    /// How the ticket finds its customer: by distinct id, and for email tickets by the
    /// sender's address too.
    pub fn person_key(&self) -> PersonKey {
        let email = match self.channel_source {
            ChannelSource::Email => self.email_from.clone(),
            _ => None,
        };
        PersonKey {
            distinct_id: self.distinct_id.clone(),
            email,
        }
    }
}
