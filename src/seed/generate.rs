//! Generates chunks of realistic tickets with their persons, messages, assignments and
//! tags, purely in memory: no database access here, so it can run on its own thread
//! while the previous chunk is being copied.
//!
//! Content is a function of the rng seed (and of `now`); ids come from [`IdGen`], unique
//! per run.

use std::ops::Range;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};
use uuid::Uuid;

use super::catalog::{self, Topic};
use super::counters::{self, AI, CUSTOMER, SUPPORT};
use super::ids::{IdGen, IdKind};
use super::rows::{
    Chunk, NewAssignment, NewDistinctId, NewMessage, NewPerson, NewTicket, NewTicketTag,
};
use super::setup::TeamFixtures;

/// Tickets are spread over this many days before `now`.
const HISTORY_DAYS: i64 = 180;
/// Persons per ticket: "roughly one per 2–3 tickets".
const PERSONS_PER_TICKET: f64 = 0.4;

/// What every chunk of one run shares: the team and its fixtures.
pub struct Context {
    pub team_id: Uuid,
    pub slug: String,
    pub team_name: String,
    pub fixtures: TeamFixtures,
    pub now: DateTime<Utc>,
    /// Tickets in the whole run: `created_at` is spread by position in the run.
    pub total: u64,
    pub slack_team_id: String,
    pub slack_channels: Vec<String>,
    pub teams_tenant_id: String,
    pub teams_channels: Vec<String>,
}

impl Context {
    /// The team's chat workspaces come from the seed too, so reruns with the same seed
    /// put new tickets in the same Slack and Teams channels.
    pub fn new(
        team: &crate::teams::Team,
        fixtures: TeamFixtures,
        total: u64,
        now: DateTime<Utc>,
        rng: &mut StdRng,
    ) -> Self {
        Context {
            team_id: team.id,
            slug: team.slug.clone(),
            team_name: team.name.clone(),
            fixtures,
            now,
            total,
            slack_team_id: format!("T0{}", upper_alnum(rng, 9)),
            slack_channels: (0..4)
                .map(|_| format!("C0{}", upper_alnum(rng, 9)))
                .collect(),
            teams_tenant_id: uuid::Builder::from_random_bytes(rng.random())
                .into_uuid()
                .hyphenated()
                .to_string(),
            teams_channels: (0..3)
                .map(|_| format!("19:{}@thread.tacv2", Uuid::from_u128(rng.random()).simple()))
                .collect(),
        }
    }
}

/// A generated customer: who the ticket's `distinct_id` points at, if anyone.
struct PersonInfo {
    distinct_ids: Range<usize>,
    identity: Option<Identity>,
}

#[derive(Clone)]
struct Identity {
    first_name: &'static str,
    name: String,
    email: String,
}

/// The customer side of one ticket.
struct Customer {
    distinct_id: String,
    identity: Option<Identity>,
    /// The ticket's `email_from`, for email tickets.
    email_from: Option<String>,
}

/// How a ticket's team replies are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AiMode {
    /// Agents only.
    None,
    /// The AI answered first, then agents took over.
    FirstReply,
    /// Only the AI answered.
    Only,
}

/// The shape of one message before it gets times and text.
#[derive(Clone, Copy)]
struct Planned {
    author: &'static str,
    private: bool,
}

/// The channel columns of one ticket.
#[derive(Default)]
struct ChannelFields {
    detail: Option<&'static str>,
    widget_session_id: Option<String>,
    session_id: Option<String>,
    session_context: Option<Value>,
    slack_channel_id: Option<String>,
    slack_thread_ts: Option<String>,
    slack_team_id: Option<String>,
    teams_channel_id: Option<String>,
    teams_conversation_id: Option<String>,
    teams_service_url: Option<&'static str>,
    teams_tenant_id: Option<String>,
    email_channel_id: Option<Uuid>,
    email_subject: Option<String>,
    cc_participants: Option<Value>,
}

pub struct Generator<'a> {
    ctx: &'a Context,
    rng: StdRng,
    ids: IdGen,
}

impl<'a> Generator<'a> {
    pub fn new(ctx: &'a Context, rng: StdRng) -> Self {
        Generator {
            ctx,
            rng,
            ids: IdGen::for_new_run(),
        }
    }

    /// `count` tickets at positions `first..first + count` of the run.
    pub fn chunk(&mut self, first: u64, count: usize) -> Chunk {
        let mut chunk = Chunk::default();
        let chunk_start = self.created_at(first);
        let persons = self.persons(&mut chunk, count, chunk_start);
        for position in first..first + count as u64 {
            self.ticket(&mut chunk, &persons, position);
        }
        chunk
    }

    // ---- persons -------------------------------------------------------------------

    fn persons(
        &mut self,
        chunk: &mut Chunk,
        tickets: usize,
        before: DateTime<Utc>,
    ) -> Vec<PersonInfo> {
        let count = ((tickets as f64 * PERSONS_PER_TICKET).ceil() as usize).max(1);
        (0..count).map(|_| self.person(chunk, before)).collect()
    }

    fn person(&mut self, chunk: &mut Chunk, before: DateTime<Utc>) -> PersonInfo {
        let id = self.ids.next(IdKind::Person);
        let identity = self.rng.random_bool(0.65).then(|| self.identity());
        let mut properties = json!({
            "$browser": self.pick(&catalog::BROWSERS),
            "$os": self.pick(&catalog::OPERATING_SYSTEMS),
            "$geoip_country_code": self.pick(&catalog::COUNTRIES),
        });
        if let (Some(who), Value::Object(map)) = (&identity, &mut properties) {
            map.insert("name".into(), who.name.clone().into());
            map.insert("email".into(), who.email.clone().into());
            map.insert("plan".into(), (*self.pick(&catalog::PLANS)).into());
            map.insert("company".into(), company_of(&who.email).into());
        }
        let start = chunk.distinct_ids.len();
        let n_ids = self.weighted(&[(1, 55), (2, 30), (3, 15)]);
        for k in 0..n_ids {
            // Identified persons carry the product's user id; the others only the
            // anonymous ids the SDK minted per device.
            let distinct_id = match (k, &identity) {
                (0, Some(_)) => format!("user-{}", self.ids.next(IdKind::DistinctId).simple()),
                _ => self.anonymous_id(),
            };
            chunk.distinct_ids.push(NewDistinctId {
                team_id: self.ctx.team_id,
                distinct_id,
                person_id: id,
            });
        }
        chunk.persons.push(NewPerson {
            id,
            team_id: self.ctx.team_id,
            properties,
            is_identified: identity.is_some(),
            created_at: before - self.seconds(0, 90 * 86_400),
        });
        PersonInfo {
            distinct_ids: start..chunk.distinct_ids.len(),
            identity,
        }
    }

    /// A made-up customer: name and an email at their company or a free-mail domain.
    fn identity(&mut self) -> Identity {
        let first_name = *self.pick(&catalog::FIRST_NAMES);
        let last = *self.pick(&catalog::LAST_NAMES);
        let domain = if self.rng.random_bool(0.75) {
            self.pick(&catalog::COMPANIES).1
        } else {
            *self.pick(&catalog::FREEMAIL)
        };
        let number: u16 = self.rng.random_range(1..1000);
        Identity {
            first_name,
            name: format!("{first_name} {last}"),
            email: format!(
                "{}.{}{number}@{domain}",
                ascii_fold(first_name),
                ascii_fold(last)
            ),
        }
    }

    /// Like posthog-js: anonymous ids are UUIDv7 strings.
    fn anonymous_id(&mut self) -> String {
        self.ids.next(IdKind::DistinctId).hyphenated().to_string()
    }

    // ---- tickets -------------------------------------------------------------------

    fn ticket(&mut self, chunk: &mut Chunk, persons: &[PersonInfo], position: u64) {
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
    fn created_at(&mut self, position: u64) -> DateTime<Utc> {
        let span_ms = (HISTORY_DAYS * 86_400 - 3600) * 1000;
        let slot = (position as f64 + self.rng.random::<f64>()) / self.ctx.total.max(1) as f64;
        let offset = (span_ms as f64 * slot.min(1.0)) as i64;
        self.ctx.now - TimeDelta::days(HISTORY_DAYS) + TimeDelta::milliseconds(offset)
    }

    /// Who wrote in. Most tickets point at a known person; some at an unknown distinct
    /// id; some email tickets at an unknown id but from a known person's address in
    /// other letter case, which the email fallback must still resolve.
    fn customer(&mut self, chunk: &Chunk, persons: &[PersonInfo], source: &str) -> Customer {
        let roll: f64 = self.rng.random();
        let is_email = source == "email";
        if roll < 0.07 {
            let identity = self.identity();
            return Customer {
                distinct_id: self.anonymous_id(),
                email_from: is_email.then(|| identity.email.clone()),
                identity: Some(identity),
            };
        }
        // Email needs an address: only identified persons have one.
        let person = if is_email {
            self.pick_identified(persons)
        } else {
            Some(self.pick(persons))
        };
        let Some(person) = person else {
            return self.stranger(is_email);
        };
        if is_email && roll < 0.15 {
            let identity = person.identity.clone();
            return Customer {
                distinct_id: self.anonymous_id(),
                email_from: identity.as_ref().map(|who| shout_case(&who.email)),
                identity,
            };
        }
        let index = self.rng.random_range(person.distinct_ids.clone());
        Customer {
            distinct_id: chunk.distinct_ids[index].distinct_id.clone(),
            email_from: person
                .identity
                .as_ref()
                .filter(|_| is_email)
                .map(|who| who.email.clone()),
            identity: person.identity.clone(),
        }
    }

    /// An anonymous visitor nobody knows.
    fn stranger(&mut self, is_email: bool) -> Customer {
        let identity = self.identity();
        Customer {
            distinct_id: self.anonymous_id(),
            email_from: is_email.then(|| identity.email.clone()),
            identity: is_email.then_some(identity),
        }
    }

    /// A few tries at an identified person (65% are), rather than scanning the chunk.
    fn pick_identified<'p>(&mut self, persons: &'p [PersonInfo]) -> Option<&'p PersonInfo> {
        (0..8)
            .map(|_| self.pick(persons))
            .find(|person| person.identity.is_some())
    }

    /// Name and email the customer typed into the widget or sent from, for some tickets.
    fn anonymous_traits(&mut self, source: &str, customer: &Customer) -> Value {
        let chance = match (source, &customer.identity) {
            ("email", _) => 0.5,
            ("widget", None) => 0.4,
            ("widget", Some(_)) => 0.2,
            _ => 0.0,
        };
        if !self.rng.random_bool(chance) {
            return json!({});
        }
        let who = match &customer.identity {
            Some(identity) => identity.clone(),
            None => self.identity(),
        };
        let email = customer.email_from.clone().unwrap_or(who.email);
        json!({ "name": who.name, "email": email })
    }

    fn channel(&mut self, source: &str, topic: &Topic, created_at: DateTime<Utc>) -> ChannelFields {
        // A copy of the shared reference, so picking from it does not borrow `self`.
        let ctx = self.ctx;
        match source {
            "widget" => self.widget_channel(),
            "email" => self.email_channel(topic),
            "slack" => ChannelFields {
                detail: Some(self.weighted(&[
                    ("slack_channel_message", 60),
                    ("slack_bot_mention", 30),
                    ("slack_emoji_reaction", 10),
                ])),
                slack_channel_id: Some(self.pick(&ctx.slack_channels).clone()),
                slack_thread_ts: Some(slack_ts(created_at)),
                slack_team_id: Some(ctx.slack_team_id.clone()),
                ..ChannelFields::default()
            },
            _ => {
                let channel = self.pick(&ctx.teams_channels).clone();
                ChannelFields {
                    detail: Some(
                        self.weighted(&[("teams_channel_message", 60), ("teams_bot_mention", 40)]),
                    ),
                    teams_conversation_id: Some(format!(
                        "{channel};messageid={}",
                        created_at.timestamp_millis()
                    )),
                    teams_channel_id: Some(channel),
                    teams_service_url: Some(catalog::TEAMS_SERVICE_URL),
                    teams_tenant_id: Some(ctx.teams_tenant_id.clone()),
                    ..ChannelFields::default()
                }
            }
        }
    }

    /// Embedded widgets know the visitor's session and page; API-created ones mostly not.
    fn widget_channel(&mut self) -> ChannelFields {
        let embedded = self.rng.random_bool(0.8);
        let mut fields = ChannelFields {
            detail: Some(if embedded {
                "widget_embedded"
            } else {
                "widget_api"
            }),
            widget_session_id: Some(self.ids.next(IdKind::Session).simple().to_string()),
            ..ChannelFields::default()
        };
        if embedded && self.rng.random_bool(0.9) {
            let path = *self.pick(&catalog::APP_PATHS);
            fields.session_id = Some(self.ids.next(IdKind::Session).hyphenated().to_string());
            fields.session_context = Some(json!({
                "current_url": format!("https://app.{}.example.com{path}", self.ctx.slug),
                "$browser": self.pick(&catalog::BROWSERS),
                "$os": self.pick(&catalog::OPERATING_SYSTEMS),
                "locale": self.pick(&["en-US", "en-GB", "de-DE", "fr-FR", "ja-JP"]),
            }));
        }
        fields
    }

    fn email_channel(&mut self, topic: &Topic) -> ChannelFields {
        let cc = if self.rng.random_bool(0.1) {
            let colleague = self.identity();
            json!([colleague.email])
        } else {
            json!([])
        };
        ChannelFields {
            email_channel_id: Some(self.ctx.fixtures.email_channel_id),
            email_subject: Some((*self.pick(topic.subjects)).to_owned()),
            cc_participants: Some(cc),
            ..ChannelFields::default()
        }
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

    // ---- messages ------------------------------------------------------------------

    /// Authors alternate customer / team, starting with the customer; new tickets have
    /// only the opening message. Some tickets get an internal note somewhere after it.
    fn plan_messages(&mut self, status: &str, ai_mode: AiMode) -> Vec<Planned> {
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

    fn messages(
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

    // ---- assignment and tags -------------------------------------------------------

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

    // ---- random helpers ------------------------------------------------------------

    /// A uniformly chosen element; callers only pass non-empty slices (catalogs, and
    /// fixtures `setup` guarantees).
    fn pick<'s, T>(&mut self, items: &'s [T]) -> &'s T {
        &items[self.rng.random_range(0..items.len())]
    }

    fn weighted<T: Copy>(&mut self, table: &[(T, u32)]) -> T {
        let total: u32 = table.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.random_range(0..total.max(1));
        for (value, weight) in table {
            if roll < *weight {
                return *value;
            }
            roll -= weight;
        }
        table[table.len() - 1].0
    }

    fn seconds(&mut self, low: i64, high: i64) -> TimeDelta {
        TimeDelta::seconds(self.rng.random_range(low..high))
    }

    /// A moment `low..high` seconds after `t`, but never past `now`: it takes at most
    /// half of the time left, so successive messages stay ordered and in the past.
    fn after(&mut self, t: DateTime<Utc>, low: i64, high: i64) -> DateTime<Utc> {
        let gap = self.seconds(low, high);
        let room = (self.ctx.now - t) / 2;
        t + gap.min(room).max(TimeDelta::zero())
    }

    fn clamp(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        t.min(self.ctx.now)
    }
}

/// What all messages of one ticket share.
struct Thread<'c> {
    source: &'static str,
    topic: &'static Topic,
    customer: &'c Customer,
    owner: usize,
    created_at: DateTime<Utc>,
}

/// Channel metadata the way each channel delivers it.
fn channel_metadata(source: &str, id: Uuid, at: DateTime<Utc>) -> Value {
    match source {
        "email" => json!({ "email_message_id": format!("<{}@mail.example.com>", id.simple()) }),
        "slack" => json!({ "slack_ts": slack_ts(at) }),
        "teams" => json!({ "teams_activity_id": at.timestamp_millis().to_string() }),
        _ => json!({}),
    }
}

/// Slack's message timestamp format: seconds, a dot, six digits.
fn slack_ts(at: DateTime<Utc>) -> String {
    format!("{}.{:06}", at.timestamp(), at.timestamp_subsec_micros())
}

/// The company part of a customer email, for `properties.company`.
fn company_of(email: &str) -> &'static str {
    let domain = email.rsplit('@').next().unwrap_or_default();
    catalog::COMPANIES
        .iter()
        .find(|(_, d)| *d == domain)
        .map(|(name, _)| *name)
        .unwrap_or("")
}

/// The same address in other letter case (`Olivia.Smith7@ACME.IO`): equal only when
/// compared case-insensitively, as the email fallback compares.
pub fn shout_case(email: &str) -> String {
    let (local, domain) = email.split_once('@').unwrap_or((email, ""));
    let local: Vec<String> = local.split('.').map(capitalize).collect();
    format!("{}@{}", local.join("."), domain.to_uppercase())
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Lowercase ASCII for email local parts: accents dropped, other symbols removed.
fn ascii_fold(name: &str) -> String {
    name.chars()
        .filter_map(|c| {
            let base = match c {
                'á' | 'à' | 'â' | 'ä' | 'Á' => 'a',
                'é' | 'è' | 'ê' | 'ë' | 'É' => 'e',
                'í' | 'ï' => 'i',
                'ó' | 'ö' | 'ô' => 'o',
                'ú' | 'ü' | 'Ü' => 'u',
                'ñ' => 'n',
                c if c.is_ascii_alphanumeric() => c,
                _ => return None,
            };
            Some(base.to_ascii_lowercase())
        })
        .collect()
}

fn upper_alnum(rng: &mut StdRng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shout_case_differs_only_in_case() {
        let email = "olivia.smith7@acme.io";
        let loud = shout_case(email);
        assert_eq!(loud, "Olivia.Smith7@ACME.IO");
        assert_ne!(loud, email);
        assert_eq!(loud.to_lowercase(), email);
    }

    #[test]
    fn names_fold_to_ascii() {
        assert_eq!(ascii_fold("Müller"), "muller");
        assert_eq!(ascii_fold("O'Brien"), "obrien");
        assert_eq!(ascii_fold("Chloé"), "chloe");
    }
}
