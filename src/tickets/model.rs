use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

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

/// A ticket row. `widget_session_id` and the Teams routing ids are kept for the channels
/// but never exposed through the API.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = tickets, check_for_backend(diesel::pg::Pg))]
pub struct Ticket {
    pub id: Uuid,
    pub team_id: Uuid,
    pub ticket_number: i32,
    pub channel_source: ChannelSource,
    pub channel_detail: Option<ChannelDetail>,
    pub distinct_id: String,
    pub status: TicketStatus,
    pub priority: Option<TicketPriority>,
    pub anonymous_traits: RawJson,
    pub ai_resolved: bool,
    pub escalation_reason: Option<String>,
    pub unread_customer_count: i32,
    pub unread_team_count: i32,
    pub message_count: i32,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_message_text: Option<String>,
    pub slack_channel_id: Option<String>,
    pub slack_thread_ts: Option<String>,
    pub slack_team_id: Option<String>,
    pub email_channel_id: Option<Uuid>,
    pub email_subject: Option<String>,
    pub email_from: Option<String>,
    pub cc_participants: RawJson,
    pub session_id: Option<String>,
    pub session_context: RawJson,
    pub sla_due_at: Option<DateTime<Utc>>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
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
