//! A ticket's denormalised message counters, derived from its messages exactly as
//! DATA-MODEL.md "Messages" maintains them incrementally: private notes and soft-deleted
//! messages never count.

use chrono::{DateTime, Utc};

use super::rows::NewMessage;

/// `last_message_text` keeps this many characters of the newest visible message.
pub const LAST_MESSAGE_CHARS: usize = 500;

pub const CUSTOMER: &str = "customer";
pub const SUPPORT: &str = "support";
pub const AI: &str = "AI";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub message_count: i32,
    pub last_message_at: Option<DateTime<Utc>>,
    pub last_message_text: Option<String>,
    /// Customer messages after the team's (support or AI) last visible reply.
    pub unread_team_count: i32,
    /// Team (support or AI) messages after the customer's last visible message.
    pub unread_customer_count: i32,
}

/// `messages` must be in creation order.
pub fn compute(messages: &[NewMessage]) -> Counters {
    let visible: Vec<&NewMessage> = messages
        .iter()
        .filter(|m| !m.is_private && !m.deleted)
        .collect();
    let last = visible.last();
    Counters {
        message_count: count(visible.len()),
        last_message_at: last.map(|m| m.created_at),
        last_message_text: last.map(|m| truncate_chars(&m.content, LAST_MESSAGE_CHARS)),
        unread_team_count: trailing(&visible, |m| m.author_type == CUSTOMER),
        unread_customer_count: trailing(&visible, |m| m.author_type != CUSTOMER),
    }
}

/// How many of the newest messages in a row satisfy `pred`.
fn trailing(visible: &[&NewMessage], pred: impl Fn(&NewMessage) -> bool) -> i32 {
    count(visible.iter().rev().take_while(|m| pred(m)).count())
}

/// A ticket holds at most a handful of messages, so this never saturates in practice.
fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// The first `max` characters of `text`, cut on a char boundary (never inside UTF-8).
pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_owned(),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use uuid::Uuid;

    fn msg(author: &'static str, minute: u32, private: bool, deleted: bool) -> NewMessage {
        NewMessage {
            id: Uuid::nil(),
            team_id: Uuid::nil(),
            ticket_id: Uuid::nil(),
            content: format!("{author} at {minute}"),
            author_type: author,
            is_private: private,
            created_by: None,
            item_context: serde_json::json!({}),
            deleted,
            deleted_at: None,
            created_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, minute, 0).unwrap(),
        }
    }

    #[test]
    fn hidden_messages_do_not_count() {
        let messages = [
            msg(CUSTOMER, 0, false, false),
            msg(SUPPORT, 1, false, false),
            msg(CUSTOMER, 2, false, false),
            msg(SUPPORT, 3, true, false),
            msg(AI, 4, false, true),
        ];
        let c = compute(&messages);
        assert_eq!(c.message_count, 3);
        assert_eq!(c.last_message_text.as_deref(), Some("customer at 2"));
        assert_eq!(c.unread_team_count, 1);
        assert_eq!(c.unread_customer_count, 0);
    }

    #[test]
    fn trailing_team_replies_are_unread_by_the_customer() {
        let messages = [
            msg(CUSTOMER, 0, false, false),
            msg(AI, 1, false, false),
            msg(SUPPORT, 2, false, false),
        ];
        let c = compute(&messages);
        assert_eq!((c.unread_team_count, c.unread_customer_count), (0, 2));
    }

    #[test]
    fn no_visible_message_means_no_last_message() {
        let c = compute(&[msg(CUSTOMER, 0, false, true)]);
        assert_eq!(c, Counters::default());
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        let text = "é".repeat(600);
        let cut = truncate_chars(&text, LAST_MESSAGE_CHARS);
        assert_eq!(cut.chars().count(), 500);
        assert_eq!(truncate_chars("short", 500), "short");
    }
}
