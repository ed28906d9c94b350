//! One ticket's row: its status, priority, times, SLA, assignment and tags.

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use serde_json::json;
use uuid::Uuid;

use super::customers::PersonInfo;
use super::messages::{AiMode, Thread};
use super::Generator;
use crate::seed::catalog::{self, Topic};
use crate::seed::counters::{self, AI};
use crate::seed::ids::IdKind;
use crate::seed::rows::{Chunk, NewAssignment, NewTicket, NewTicketTag};

/// Tickets are spread over this many days before `now`.
const HISTORY_DAYS: i64 = 180;

impl Generator<'_> {
    pub(super) fn ticket(&mut self, chunk: &mut Chunk, persons: &[PersonInfo], position: u64) {
        let id = self.ids.next(IdKind::Ticket);
        let created_at = self.created_at(position);
        let source = self.weighted(&[("widget", 45), ("email", 30), ("slack", 15), ("teams", 10)]);
        let status = self.weighted(&[
            ("new", 15),
            ("open", 30),
            ("pending", 15),
            ("on_hold", 10),
            ("resolved", 30),
        ]);
        let priority = self.weighted(&[
            (None, 30),
            (Some("low"), 25),
            (Some("medium"), 28),
            (Some("high"), 17),
        ]);
        let topic = self.pick(&catalog::TOPICS);
        let customer = self.customer(chunk, persons, source);
        let channel = self.channel(source, topic, created_at);
        let anonymous_traits = self.anonymous_traits(source, &customer);
        let ai_mode = self.weighted(&[
            (AiMode::None, 60),
            (AiMode::FirstReply, 25),
            (AiMode::Only, 15),
        ]);
        let owner = self.rng.random_range(0..self.ctx.fixtures.agents.len());

        let first_message = chunk.messages.len();
        let plan = self.plan_messages(status, ai_mode);
        self.messages(
            chunk,
            id,
            &plan,
            Thread {
                source,
                topic,
                customer: &customer,
                owner,
                created_at,
            },
        );
        let messages = &chunk.messages[first_message..];
        let counts = counters::compute(messages);
        let last_activity = messages
            .iter()
            .map(|m| m.deleted_at.unwrap_or(m.created_at))
            .max()
            .unwrap_or(created_at);
        // Status changes and reads come a little after the last message.
        let settle = self.seconds(0, 3 * 3600);
        let updated_at = self.clamp(last_activity + settle);
        let has_ai = plan.iter().any(|m| m.author == AI);
        let ai_resolved = status == "resolved" && ai_mode == AiMode::Only && has_ai;
        let escalation_reason =
            (ai_mode == AiMode::FirstReply && has_ai && self.rng.random_bool(0.5))
                .then(|| *self.pick(&catalog::ESCALATION_REASONS));
        let (status, snoozed_until) = self.snooze(status);
        let sla_due_at = self.sla(status, created_at);

        self.assignment(chunk, id, status, owner, created_at, updated_at);
        self.tags(chunk, id, topic);
        chunk.tickets.push(NewTicket {
            id,
            team_id: self.ctx.team_id,
            ticket_number: 0,
            channel_source: source,
            channel_detail: channel.detail,
            widget_session_id: channel.widget_session_id,
            distinct_id: customer.distinct_id,
            status,
            priority,
            anonymous_traits,
            ai_resolved,
            escalation_reason,
            unread_customer_count: counts.unread_customer_count,
            unread_team_count: counts.unread_team_count,
            message_count: counts.message_count,
            last_message_at: counts.last_message_at,
            last_message_text: counts.last_message_text,
            slack_channel_id: channel.slack_channel_id,
            slack_thread_ts: channel.slack_thread_ts,
            slack_team_id: channel.slack_team_id,
            teams_channel_id: channel.teams_channel_id,
            teams_conversation_id: channel.teams_conversation_id,
            teams_service_url: channel.teams_service_url,
            teams_tenant_id: channel.teams_tenant_id,
            email_channel_id: channel.email_channel_id,
            email_subject: channel.email_subject,
            email_from: customer.email_from,
            cc_participants: channel.cc_participants.unwrap_or_else(|| json!([])),
            session_id: channel.session_id,
            session_context: channel.session_context.unwrap_or_else(|| json!({})),
            sla_due_at,
            snoozed_until,
            created_at,
            updated_at,
        });
    }

    /// Tickets are numbered in creation order, so `created_at` grows with the position in
    /// the run (with jitter inside each slot), over the last `HISTORY_DAYS` days and at
    /// least an hour before `now` so the conversation has room.
    pub(super) fn created_at(&mut self, position: u64) -> DateTime<Utc> {
        let span_ms = (HISTORY_DAYS * 86_400 - 3600) * 1000;
        let slot = (position as f64 + self.rng.random::<f64>()) / self.ctx.total.max(1) as f64;
        let offset = (span_ms as f64 * slot.min(1.0)) as i64;
        self.ctx.now - TimeDelta::days(HISTORY_DAYS) + TimeDelta::milliseconds(offset)
    }

    /// Snoozing puts a ticket on hold; some `on_hold` tickets are snoozed, a few others
    /// are snoozed from another open state.
    fn snooze(&mut self, status: &'static str) -> (&'static str, Option<DateTime<Utc>>) {
        let snoozed = match status {
            "on_hold" => self.rng.random_bool(0.6),
            "open" | "pending" => self.rng.random_bool(0.03),
            _ => false,
        };
        if !snoozed {
            return (status, None);
        }
        let until = self.ctx.now + self.seconds(3600, 14 * 86_400);
        ("on_hold", Some(until))
    }

    /// SLA deadlines: a fixed target after creation (breached for older tickets, on
    /// track for recent ones), or set relative to now (at risk, or well ahead).
    fn sla(&mut self, status: &str, created_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let chance = if status == "resolved" { 0.1 } else { 0.4 };
        if !self.rng.random_bool(chance) {
            return None;
        }
        let due = match self.weighted(&[(0, 50), (1, 15), (2, 35)]) {
            0 => created_at + TimeDelta::hours(*self.pick(&[4, 8, 24, 72])),
            1 => self.ctx.now + self.seconds(5 * 60, 55 * 60),
            _ => self.ctx.now + self.seconds(2 * 3600, 5 * 86_400),
        };
        Some(due)
    }

    /// Most tickets someone works on are assigned: mostly to the agent answering them,
    /// sometimes to a role (a queue).
    fn assignment(
        &mut self,
        chunk: &mut Chunk,
        ticket_id: Uuid,
        status: &str,
        owner: usize,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    ) {
        let chance = if status == "new" { 0.25 } else { 0.67 };
        if !self.rng.random_bool(chance) {
            return;
        }
        let (user_id, role_id) = if self.rng.random_bool(0.85) {
            (self.ctx.fixtures.agents.get(owner).map(|a| a.id), None)
        } else {
            let ctx = self.ctx;
            (None, Some(*self.pick(&ctx.fixtures.roles)))
        };
        if user_id.is_none() && role_id.is_none() {
            return;
        }
        let assigned_at = (created_at + self.seconds(60, 2 * 3600)).min(updated_at);
        chunk.assignments.push(NewAssignment {
            id: self.ids.next(IdKind::Assignment),
            ticket_id,
            user_id,
            role_id,
            created_at: assigned_at,
        });
    }

    /// 0–3 distinct tags: the topic's own first, then random others.
    fn tags(&mut self, chunk: &mut Chunk, ticket_id: Uuid, topic: &Topic) {
        let ctx = self.ctx;
        let all = &ctx.fixtures.tags;
        let count = self.weighted(&[(0usize, 25), (1, 40), (2, 25), (3, 10)]);
        let mut chosen: Vec<usize> = Vec::with_capacity(count);
        if count > 0 && topic.tag < all.len() {
            chosen.push(topic.tag);
        }
        while chosen.len() < count.min(all.len()) {
            let candidate = self.rng.random_range(0..all.len());
            if !chosen.contains(&candidate) {
                chosen.push(candidate);
            }
        }
        chunk
            .ticket_tags
            .extend(chosen.into_iter().map(|i| NewTicketTag {
                ticket_id,
                tag_id: all[i],
            }));
    }
}
