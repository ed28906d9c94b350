//! Small, exact data for tests that must know every row (the seeder is for volume).

use chrono::{DateTime, Duration, TimeZone, Utc};
use diesel::prelude::*;
use serde_json::{json, Value};
use uuid::Uuid;

use ticketgate::db::schema::{
    email_channels, messages, organization_memberships, person_distinct_ids, persons, roles, tags,
    teams, ticket_assignments, ticket_tags, tickets, users,
};
use ticketgate::teams::queries as team_queries;

pub fn team(conn: &mut PgConnection, slug: &str) -> Uuid {
    team_queries::find_or_create(conn, slug).expect("team").0.id
}

pub fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .expect("time")
}

/// `count` widget tickets numbered from the team's counter; every third ticket shares its
/// `updated_at` with the previous one, so orderings need the id tie-break.
pub fn tickets(conn: &mut PgConnection, team_id: Uuid, count: i32) -> Vec<Uuid> {
    (0..count)
        .map(|i| {
            let updated = base_time() + Duration::minutes(i64::from(i - i % 3 / 2));
            insert_ticket(
                conn,
                team_id,
                &TicketSpec {
                    distinct_id: format!("visitor-{i}"),
                    updated_at: updated,
                    ..TicketSpec::default()
                },
            )
        })
        .collect()
}

/// Every column a test may want to set; the rest take their defaults.
#[derive(Clone, Debug)]
pub struct TicketSpec {
    pub channel_source: &'static str,
    pub channel_detail: Option<&'static str>,
    pub distinct_id: String,
    pub status: &'static str,
    pub priority: Option<&'static str>,
    pub anonymous_traits: Value,
    pub ai_resolved: bool,
    pub escalation_reason: Option<String>,
    pub email_subject: Option<String>,
    pub email_from: Option<String>,
    pub email_channel_id: Option<Uuid>,
    pub sla_due_at: Option<DateTime<Utc>>,
    pub snoozed_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub unread_team_count: i32,
    pub message_count: i32,
}

impl Default for TicketSpec {
    fn default() -> Self {
        TicketSpec {
            channel_source: "widget",
            channel_detail: Some("widget_embedded"),
            distinct_id: "visitor".into(),
            status: "open",
            priority: None,
            anonymous_traits: json!({}),
            ai_resolved: false,
            escalation_reason: None,
            email_subject: None,
            email_from: None,
            email_channel_id: None,
            sla_due_at: None,
            snoozed_until: None,
            created_at: base_time(),
            updated_at: base_time(),
            unread_team_count: 0,
            message_count: 0,
        }
    }
}

pub fn insert_ticket(conn: &mut PgConnection, team_id: Uuid, spec: &TicketSpec) -> Uuid {
    let number = team_queries::next_ticket_number(conn, team_id).expect("number");
    let id = Uuid::now_v7();
    diesel::insert_into(tickets::table)
        .values((
            (
                tickets::id.eq(id),
                tickets::team_id.eq(team_id),
                tickets::ticket_number.eq(number),
                tickets::channel_source.eq(spec.channel_source),
                tickets::channel_detail.eq(spec.channel_detail),
                tickets::distinct_id.eq(&spec.distinct_id),
                tickets::status.eq(spec.status),
                tickets::priority.eq(spec.priority),
                tickets::anonymous_traits.eq(&spec.anonymous_traits),
                tickets::ai_resolved.eq(spec.ai_resolved),
                tickets::escalation_reason.eq(&spec.escalation_reason),
            ),
            (
                tickets::email_subject.eq(&spec.email_subject),
                tickets::email_from.eq(&spec.email_from),
                tickets::email_channel_id.eq(spec.email_channel_id),
                tickets::sla_due_at.eq(spec.sla_due_at),
                tickets::snoozed_until.eq(spec.snoozed_until),
                tickets::created_at.eq(spec.created_at),
                tickets::updated_at.eq(spec.updated_at),
                tickets::unread_team_count.eq(spec.unread_team_count),
                tickets::message_count.eq(spec.message_count),
            ),
        ))
        .execute(conn)
        .expect("insert ticket");
    id
}

fn organization_of(conn: &mut PgConnection, team_id: Uuid) -> Uuid {
    teams::table
        .find(team_id)
        .select(teams::organization_id)
        .first(conn)
        .expect("team")
}

/// A user in the team's organisation.
pub fn user(conn: &mut PgConnection, team_id: Uuid, email: &str, name: &str) -> Uuid {
    let id = Uuid::now_v7();
    diesel::insert_into(users::table)
        .values((
            users::id.eq(id),
            users::email.eq(email),
            users::name.eq(name),
        ))
        .execute(conn)
        .expect("user");
    let organization_id = organization_of(conn, team_id);
    diesel::insert_into(organization_memberships::table)
        .values((
            organization_memberships::organization_id.eq(organization_id),
            organization_memberships::user_id.eq(id),
        ))
        .execute(conn)
        .expect("membership");
    id
}

pub fn role(conn: &mut PgConnection, team_id: Uuid, name: &str) -> Uuid {
    let id = Uuid::now_v7();
    let organization_id = organization_of(conn, team_id);
    diesel::insert_into(roles::table)
        .values((
            roles::id.eq(id),
            roles::organization_id.eq(organization_id),
            roles::name.eq(name),
        ))
        .execute(conn)
        .expect("role");
    id
}

pub fn assign_user(conn: &mut PgConnection, ticket_id: Uuid, user_id: Uuid) {
    diesel::insert_into(ticket_assignments::table)
        .values((
            ticket_assignments::id.eq(Uuid::now_v7()),
            ticket_assignments::ticket_id.eq(ticket_id),
            ticket_assignments::user_id.eq(Some(user_id)),
        ))
        .execute(conn)
        .expect("assign user");
}

pub fn assign_role(conn: &mut PgConnection, ticket_id: Uuid, role_id: Uuid) {
    diesel::insert_into(ticket_assignments::table)
        .values((
            ticket_assignments::id.eq(Uuid::now_v7()),
            ticket_assignments::ticket_id.eq(ticket_id),
            ticket_assignments::role_id.eq(Some(role_id)),
        ))
        .execute(conn)
        .expect("assign role");
}

/// Tags a ticket, creating the team's tags as needed.
pub fn tag(conn: &mut PgConnection, team_id: Uuid, ticket_id: Uuid, names: &[&str]) {
    for name in names {
        let tag_id: Uuid = diesel::insert_into(tags::table)
            .values((
                tags::id.eq(Uuid::now_v7()),
                tags::team_id.eq(team_id),
                tags::name.eq(*name),
            ))
            .on_conflict((tags::team_id, tags::name))
            .do_update()
            .set(tags::name.eq(*name))
            .returning(tags::id)
            .get_result(conn)
            .expect("tag");
        diesel::insert_into(ticket_tags::table)
            .values((
                ticket_tags::ticket_id.eq(ticket_id),
                ticket_tags::tag_id.eq(tag_id),
            ))
            .execute(conn)
            .expect("ticket tag");
    }
}

pub fn person(
    conn: &mut PgConnection,
    team_id: Uuid,
    distinct_ids: &[&str],
    properties: Value,
    identified: bool,
) -> Uuid {
    let id = Uuid::now_v7();
    diesel::insert_into(persons::table)
        .values((
            persons::id.eq(id),
            persons::team_id.eq(team_id),
            persons::properties.eq(properties),
            persons::is_identified.eq(identified),
        ))
        .execute(conn)
        .expect("person");
    for distinct_id in distinct_ids {
        diesel::insert_into(person_distinct_ids::table)
            .values((
                person_distinct_ids::team_id.eq(team_id),
                person_distinct_ids::distinct_id.eq(*distinct_id),
                person_distinct_ids::person_id.eq(id),
            ))
            .execute(conn)
            .expect("distinct id");
    }
    id
}

pub fn email_channel(conn: &mut PgConnection, team_id: Uuid, address: &str) -> Uuid {
    let id = Uuid::now_v7();
    diesel::insert_into(email_channels::table)
        .values((
            email_channels::id.eq(id),
            email_channels::team_id.eq(team_id),
            email_channels::address.eq(address),
        ))
        .execute(conn)
        .expect("email channel");
    id
}

/// A message as stored (counters on the ticket are the caller's business).
#[derive(Clone, Debug)]
pub struct MessageSpec {
    pub content: String,
    pub author_type: &'static str,
    pub is_private: bool,
    pub created_by: Option<Uuid>,
    pub deleted: bool,
    pub created_at: DateTime<Utc>,
}

impl Default for MessageSpec {
    fn default() -> Self {
        MessageSpec {
            content: "hello".into(),
            author_type: "customer",
            is_private: false,
            created_by: None,
            deleted: false,
            created_at: base_time(),
        }
    }
}

pub fn message(
    conn: &mut PgConnection,
    team_id: Uuid,
    ticket_id: Uuid,
    spec: &MessageSpec,
) -> Uuid {
    let id = Uuid::now_v7();
    diesel::insert_into(messages::table)
        .values((
            messages::id.eq(id),
            messages::team_id.eq(team_id),
            messages::ticket_id.eq(ticket_id),
            messages::content.eq(&spec.content),
            messages::author_type.eq(spec.author_type),
            messages::is_private.eq(spec.is_private),
            messages::created_by.eq(spec.created_by),
            messages::deleted.eq(spec.deleted),
            messages::created_at.eq(spec.created_at),
        ))
        .execute(conn)
        .expect("message");
    id
}

/// `count` customer messages on a ticket in one statement ("chat line 1" … "chat line
/// <count>", a second apart from `from`), and the ticket's `message_count` and last message
/// moved on to match: conversations too long to insert one by one.
pub fn conversation(
    conn: &mut PgConnection,
    team_id: Uuid,
    ticket_id: Uuid,
    count: i32,
    from: DateTime<Utc>,
) {
    use diesel::sql_types::{Integer, Timestamptz, Uuid as SqlUuid};
    diesel::sql_query(
        "INSERT INTO messages (id, team_id, ticket_id, content, author_type, created_at) \
         SELECT gen_random_uuid(), $1, $2, 'chat line ' || n, 'customer', \
                $3 + n * interval '1 second' \
         FROM generate_series(1, $4) AS n",
    )
    .bind::<SqlUuid, _>(team_id)
    .bind::<SqlUuid, _>(ticket_id)
    .bind::<Timestamptz, _>(from)
    .bind::<Integer, _>(count)
    .execute(conn)
    .expect("conversation");
    diesel::update(tickets::table.find(ticket_id))
        .set((
            tickets::message_count.eq(tickets::message_count + count),
            tickets::last_message_at.eq(from + Duration::seconds(i64::from(count))),
            tickets::last_message_text.eq(format!("chat line {count}")),
        ))
        .execute(conn)
        .expect("conversation counters");
}
