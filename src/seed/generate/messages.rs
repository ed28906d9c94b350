//! The conversation of one ticket: who writes each message, when, and what.

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::json;
use uuid::Uuid;

use super::channels::channel_metadata;
use super::customers::Customer;
use super::Generator;
use crate::seed::catalog::{self, Topic};
use crate::seed::counters::{AI, CUSTOMER, SUPPORT};
use crate::seed::ids::IdKind;
use crate::seed::rows::{Chunk, NewMessage};

/// How a ticket's team replies are written.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum AiMode {
    /// Agents only.
    None,
    /// The AI answered first, then agents took over.
    FirstReply,
    /// Only the AI answered.
    Only,
}

/// The shape of one message before it gets times and text.
#[derive(Clone, Copy)]
pub(super) struct Planned {
    pub(super) author: &'static str,
    pub(super) private: bool,
}

/// What all messages of one ticket share.
pub(super) struct Thread<'c> {
    pub(super) source: &'static str,
    pub(super) topic: &'static Topic,
    pub(super) customer: &'c Customer,
    pub(super) owner: usize,
    pub(super) created_at: DateTime<Utc>,
}

impl Generator<'_> {
    /// Authors alternate customer / team, starting with the customer; new tickets have
    /// only the opening message. Some tickets get an internal note somewhere after it.
    pub(super) fn plan_messages(&mut self, status: &str, ai_mode: AiMode) -> Vec<Planned> {
        let count = match status {
            "new" => 1,
            "resolved" => self.weighted(&[(2, 40), (3, 30), (4, 18), (5, 12)]),
            _ => self.weighted(&[(1, 20), (2, 30), (3, 25), (4, 15), (5, 10)]),
        };
        let mut plan: Vec<Planned> = (0..count)
            .map(|i| {
                let author = match (i % 2, ai_mode, i) {
                    (0, _, _) => CUSTOMER,
                    (_, AiMode::Only, _) | (_, AiMode::FirstReply, 1) => AI,
                    _ => SUPPORT,
                };
                Planned {
                    author,
                    private: false,
                }
            })
            .collect();
        // At most five messages in all, the note included.
        if (2..5).contains(&count) && self.rng.random_bool(0.12) {
            let at = self.rng.random_range(1..=plan.len());
            plan.insert(
                at,
                Planned {
                    author: SUPPORT,
                    private: true,
                },
            );
        }
        plan
    }

    pub(super) fn messages(
        &mut self,
        chunk: &mut Chunk,
        ticket_id: Uuid,
        plan: &[Planned],
        thread: Thread<'_>,
    ) {
        let mut at = thread.created_at;
        for (i, planned) in plan.iter().enumerate() {
            if i > 0 {
                at = self.after(at, 2 * 60, 30 * 3600);
            }
            let message = self.message(ticket_id, i, *planned, at, &thread);
            chunk.messages.push(message);
        }
    }

    fn message(
        &mut self,
        ticket_id: Uuid,
        index: usize,
        planned: Planned,
        created_at: DateTime<Utc>,
        thread: &Thread<'_>,
    ) -> NewMessage {
        let id = self.ids.next(IdKind::Message);
        let agent = match planned.author {
            SUPPORT if self.rng.random_bool(0.8) => thread.owner,
            SUPPORT => self.rng.random_range(0..self.ctx.fixtures.agents.len()),
            _ => usize::MAX,
        };
        let content = self.content(index, planned, agent, thread);
        // Only what came through the channel carries its metadata.
        let item_context = if planned.private {
            json!({})
        } else {
            channel_metadata(thread.source, id, created_at)
        };
        let deleted = !planned.private && self.rng.random_bool(0.03);
        NewMessage {
            id,
            team_id: self.ctx.team_id,
            ticket_id,
            content,
            author_type: planned.author,
            is_private: planned.private,
            created_by: self.ctx.fixtures.agents.get(agent).map(|a| a.id),
            item_context,
            deleted,
            deleted_at: deleted.then(|| self.after(created_at, 60, 2 * 86_400)),
            created_at,
        }
    }

    fn content(
        &mut self,
        index: usize,
        planned: Planned,
        agent: usize,
        thread: &Thread<'_>,
    ) -> String {
        if planned.private {
            return (*self.pick(&catalog::PRIVATE_NOTES)).to_owned();
        }
        let first_name = thread.customer.identity.as_ref().map(|who| who.first_name);
        let is_email = thread.source == "email";
        match planned.author {
            CUSTOMER if index == 0 => self.opening(thread.topic, first_name, is_email),
            CUSTOMER => {
                let pool: &[&str] = if self.rng.random_bool(0.5) {
                    thread.topic.follow_ups
                } else {
                    &catalog::GENERIC_CUSTOMER
                };
                (*self.pick(pool)).to_owned()
            }
            AI => (*self.pick(thread.topic.ai_replies)).to_owned(),
            _ => {
                let reply = *self.pick(thread.topic.support_replies);
                let greeting = first_name.unwrap_or("there");
                match self.ctx.fixtures.agents.get(agent) {
                    Some(agent) if is_email => {
                        format!("Hi {greeting},\n\n{reply}\n\nBest,\n{}", agent.first_name)
                    }
                    _ => format!("Hi {greeting}, {reply}"),
                }
            }
        }
    }

    /// The customer's first message; emails get a greeting and signature, and a few
    /// openings carry a long log excerpt (longer than `last_message_text` keeps).
    fn opening(&mut self, topic: &Topic, first_name: Option<&str>, is_email: bool) -> String {
        let mut text = (*self.pick(topic.openings)).to_owned();
        if self.rng.random_bool(0.03) {
            text.push_str(catalog::LONG_TAIL);
        }
        if is_email {
            let signature = first_name.unwrap_or("");
            text = format!(
                "Hi {} team,\n\n{text}\n\nThanks,\n{signature}",
                self.ctx.team_name
            );
        }
        text
    }
}
