//! The world: two teams, each with users, a role, persons, an email channel, tickets of two
//! customers with messages (private notes included), tags and assignments; who asks; and a
//! snapshot of every row of a team.

use std::sync::Mutex;

use diesel::prelude::*;
use serde_json::json;
use ticketgate::auth::viewer::Scope;
use uuid::Uuid;

use crate::helpers::fixtures::{self, MessageSpec, TicketSpec};
use crate::helpers::server::customer_token;
use crate::helpers::{self, test_db, Client, TestDb, TestServer};

pub(super) struct World {
    _db: TestDb,
    pub(super) server: TestServer,
    conn: Mutex<PgConnection>,
    pub(super) a: Uuid,
    pub(super) b: Uuid,
    pub(super) a_user: Uuid,
    pub(super) a_role: Uuid,
    pub(super) b_user: Uuid,
    pub(super) b_role: Uuid,
    /// Customer x (`alpha-x`) of team A: a widget ticket (assigned to A's user, with a
    /// private note and an escalation reason) and an email ticket.
    pub(super) ax1: Uuid,
    pub(super) ax2: Uuid,
    pub(super) ax1_public: Uuid,
    pub(super) ax1_private: Uuid,
    /// Customer y (`alpha-y`) of team A: one ticket, assigned to A's role.
    pub(super) ay1: Uuid,
    pub(super) ay1_public: Uuid,
    pub(super) ay1_private: Uuid,
    /// Team B: `bravo-x-cust` (email), `bravo-y-cust` (two tickets, the second one number
    /// 4, a number team A does not have) and `bsx`, a ticket of B's own `alpha-x`.
    pub(super) bx1: Uuid,
    pub(super) by1: Uuid,
    pub(super) bsx: Uuid,
    pub(super) by2: Uuid,
    pub(super) bx1_public: Uuid,
    pub(super) bx1_private: Uuid,
    pub(super) a_rw: String,
    pub(super) a_ro: String,
    pub(super) b_rw: String,
    /// Customer token of team A's `alpha-x`.
    pub(super) x: String,
    /// What nobody outside team B may ever see.
    pub(super) b_secrets: Vec<String>,
    /// What customer x may never see besides B's secrets: customer y's data and the
    /// team's internal data (private notes, escalation reasons, agents' emails, keys).
    pub(super) x_secrets: Vec<String>,
}

fn at(minutes: i64) -> chrono::DateTime<chrono::Utc> {
    fixtures::base_time() + chrono::Duration::minutes(minutes)
}

fn note(content: &str, author: &'static str, by: Option<Uuid>, private: bool) -> MessageSpec {
    MessageSpec {
        content: content.into(),
        author_type: author,
        is_private: private,
        created_by: by,
        ..MessageSpec::default()
    }
}

pub(super) fn world() -> World {
    let db = test_db();
    let mut conn = db.conn();
    let c = &mut conn;

    // Team A.
    let a = fixtures::team(c, "alpha");
    let a_user = fixtures::user(c, a, "agent.alpha@alpha.example", "Alpha Agent");
    let a_role = fixtures::role(c, a, "Alpha Tier One");
    let a_channel = fixtures::email_channel(c, a, "support@alpha.example");
    fixtures::person(
        c,
        a,
        &["alpha-x"],
        json!({ "name": "Alex Alpha", "email": "alex@alpha-customer.example" }),
        true,
    );
    let ay_person = fixtures::person(
        c,
        a,
        &["alpha-y"],
        json!({ "name": "Yolanda Ysecret", "email": "yolanda@ysecret.example" }),
        true,
    );
    let ax1 = fixtures::insert_ticket(
        c,
        a,
        &TicketSpec {
            distinct_id: "alpha-x".into(),
            escalation_reason: Some("AX-ESCALATION-walrus".into()),
            anonymous_traits: json!({ "name": "Alex Alpha" }),
            unread_team_count: 1,
            message_count: 2,
            updated_at: at(1),
            ..TicketSpec::default()
        },
    );
    fixtures::assign_user(c, ax1, a_user);
    fixtures::tag(c, a, ax1, &["alpha-shared"]);
    let ax1_public = fixtures::message(
        c,
        a,
        ax1,
        &note("ax hello pelican", "customer", None, false),
    );
    let ax1_private = fixtures::message(
        c,
        a,
        ax1,
        &note("AX-PRIVATE-kiwi", "support", Some(a_user), true),
    );
    fixtures::message(
        c,
        a,
        ax1,
        &note("ax reply heron", "support", Some(a_user), false),
    );
    let ax2 = fixtures::insert_ticket(
        c,
        a,
        &TicketSpec {
            channel_source: "email",
            channel_detail: None,
            distinct_id: "alpha-x".into(),
            email_subject: Some("Alpha invoice question".into()),
            email_from: Some("alex@alpha-customer.example".into()),
            email_channel_id: Some(a_channel),
            unread_team_count: 1,
            message_count: 1,
            updated_at: at(2),
            ..TicketSpec::default()
        },
    );
    fixtures::message(c, a, ax2, &note("ax2 email body", "customer", None, false));
    let ay1 = fixtures::insert_ticket(
        c,
        a,
        &TicketSpec {
            distinct_id: "alpha-y".into(),
            escalation_reason: Some("AY-ESCALATION-bison".into()),
            anonymous_traits: json!({ "name": "Yolanda Ysecret" }),
            unread_team_count: 2,
            message_count: 2,
            updated_at: at(3),
            ..TicketSpec::default()
        },
    );
    fixtures::assign_role(c, ay1, a_role);
    fixtures::tag(c, a, ay1, &["alpha-y-only"]);
    let ay1_public = fixtures::message(
        c,
        a,
        ay1,
        &note("AY-CONTENT-mango", "customer", None, false),
    );
    let ay1_private = fixtures::message(
        c,
        a,
        ay1,
        &note("AY-PRIVATE-limequat", "support", Some(a_user), true),
    );
    let ay1_reply = fixtures::message(
        c,
        a,
        ay1,
        &note("AY-REPLY-papaya", "support", Some(a_user), false),
    );

    // Team B.
    let b = fixtures::team(c, "bravo-zq");
    let b_user = fixtures::user(c, b, "bertha@bravo-secret.example", "Bertha Bravosecret");
    let b_role = fixtures::role(c, b, "Bravo Role Okapi");
    let b_channel = fixtures::email_channel(c, b, "inbox@bravo-secret.example");
    let bx_person = fixtures::person(
        c,
        b,
        &["bravo-x-cust"],
        json!({ "name": "Bruno Bxsecret", "email": "bruno@bravo-secret.example" }),
        true,
    );
    let by_person = fixtures::person(
        c,
        b,
        &["bravo-y-cust"],
        json!({ "name": "Bianca Bysecret" }),
        false,
    );
    // B's own customer with A's customer's distinct id (and A's customer's email).
    let shadow = fixtures::person(
        c,
        b,
        &["alpha-x"],
        json!({ "name": "Bravo Shadow Alphax", "email": "alex@alpha-customer.example" }),
        true,
    );
    let bx1 = fixtures::insert_ticket(
        c,
        b,
        &TicketSpec {
            channel_source: "email",
            channel_detail: None,
            distinct_id: "bravo-x-cust".into(),
            email_subject: Some("BRAVO-SUBJECT-quokka".into()),
            email_from: Some("bruno@bravo-secret.example".into()),
            email_channel_id: Some(b_channel),
            escalation_reason: Some("BRAVO-ESC-tapir".into()),
            anonymous_traits: json!({ "name": "Bruno Bxsecret", "email": "bruno@bravo-secret.example" }),
            unread_team_count: 3,
            message_count: 2,
            updated_at: at(10),
            ..TicketSpec::default()
        },
    );
    fixtures::assign_user(c, bx1, b_user);
    fixtures::tag(c, b, bx1, &["bravo-tag-narwhal"]);
    let bx1_public = fixtures::message(
        c,
        b,
        bx1,
        &note("BRAVO-MSG-wombat", "customer", None, false),
    );
    let bx1_private = fixtures::message(
        c,
        b,
        bx1,
        &note("BRAVO-PRIVATE-numbat", "support", Some(b_user), true),
    );
    let bx1_reply = fixtures::message(
        c,
        b,
        bx1,
        &note("BRAVO-REPLY-dingo", "support", Some(b_user), false),
    );
    let by1 = fixtures::insert_ticket(
        c,
        b,
        &TicketSpec {
            distinct_id: "bravo-y-cust".into(),
            unread_team_count: 1,
            message_count: 1,
            updated_at: at(11),
            ..TicketSpec::default()
        },
    );
    fixtures::assign_role(c, by1, b_role);
    let by1_msg = fixtures::message(
        c,
        b,
        by1,
        &note("BRAVO-MSG-platypus", "customer", None, false),
    );
    let bsx = fixtures::insert_ticket(
        c,
        b,
        &TicketSpec {
            distinct_id: "alpha-x".into(),
            escalation_reason: Some("BRAVO-SAMEX-ESC-ibex".into()),
            unread_team_count: 5,
            message_count: 1,
            updated_at: at(12),
            ..TicketSpec::default()
        },
    );
    fixtures::tag(c, b, bsx, &["bravo-tag-narwhal", "alpha-shared"]);
    let bsx_msg = fixtures::message(
        c,
        b,
        bsx,
        &note("BRAVO-SAMEX-echidna", "customer", None, false),
    );
    let by2 = fixtures::insert_ticket(
        c,
        b,
        &TicketSpec {
            distinct_id: "bravo-y-cust".into(),
            status: "resolved",
            message_count: 1,
            updated_at: at(13),
            ..TicketSpec::default()
        },
    );
    let by2_msg = fixtures::message(c, b, by2, &note("BRAVO-MSG-koala", "customer", None, false));

    // Unread counters of the customers' side (x: 2 over its open tickets).
    for (ticket, unread) in [(ax1, 2), (ay1, 7), (bsx, 11)] {
        diesel::sql_query("UPDATE tickets SET unread_customer_count = $2 WHERE id = $1")
            .bind::<diesel::sql_types::Uuid, _>(ticket)
            .bind::<diesel::sql_types::Integer, _>(unread)
            .execute(c)
            .expect("unread counters");
    }

    let a_rw = helpers::create_key(&db.url, a, &[Scope::Read, Scope::Write]);
    let a_ro = helpers::create_key(&db.url, a, &[Scope::Read]);
    let b_rw = helpers::create_key(&db.url, b, &[Scope::Read, Scope::Write]);
    let x = customer_token(a, "alpha-x", 3600);

    let mut b_secrets: Vec<String> = [
        b,
        b_user,
        b_role,
        b_channel,
        bx_person,
        by_person,
        shadow,
        bx1,
        by1,
        bsx,
        by2,
        bx1_public,
        bx1_private,
        bx1_reply,
        by1_msg,
        bsx_msg,
        by2_msg,
    ]
    .iter()
    .map(Uuid::to_string)
    .collect();
    b_secrets.extend(
        [
            "bravo", // slug, org, domain, distinct ids, contents, subjects, tags…
            "bertha", "Okapi", "Bruno", "Bianca", "Shadow", "quokka", "wombat", "numbat", "dingo",
            "platypus", "echidna", "koala", "tapir", "ibex", "narwhal",
        ]
        .map(String::from),
    );
    b_secrets.push(b_rw.clone());

    let mut x_secrets: Vec<String> = [
        ay1,
        ay1_public,
        ay1_private,
        ay1_reply,
        ay_person,
        ax1_private,
        a_role,
    ]
    .iter()
    .map(Uuid::to_string)
    .collect();
    x_secrets.extend(
        [
            "alpha-y",
            "Yolanda",
            "ysecret",
            "mango",
            "papaya",
            "limequat",
            "bison",
            "AY-LIVE",
            "AX-PRIVATE",
            "AY-PRIVATE",
            "AX-ESCALATION",
            "AY-ESCALATION",
            "agent.alpha@",
            "Alpha Tier One",
        ]
        .map(String::from),
    );
    x_secrets.push(a_rw.clone());
    x_secrets.push(a_ro.clone());
    x_secrets.extend(b_secrets.iter().cloned());

    let server = TestServer::start(&db.url);
    World {
        conn: Mutex::new(db.conn()),
        _db: db,
        server,
        a,
        b,
        a_user,
        a_role,
        b_user,
        b_role,
        ax1,
        ax2,
        ax1_public,
        ax1_private,
        ay1,
        ay1_public,
        ay1_private,
        bx1,
        by1,
        bsx,
        by2,
        bx1_public,
        bx1_private,
        a_rw,
        a_ro,
        b_rw,
        x,
        b_secrets,
        x_secrets,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Who {
    /// Team A's read+write key.
    TeamA,
    /// Team A's read-only key.
    ReadOnlyA,
    /// Customer x's token (team A).
    CustomerX,
}

impl Who {
    pub(super) fn label(self) -> &'static str {
        match self {
            Who::TeamA => "A rw key",
            Who::ReadOnlyA => "A read key",
            Who::CustomerX => "customer A/x",
        }
    }
}

impl World {
    pub(super) fn client(&self, who: Who) -> Client {
        self.server.client(match who {
            Who::TeamA => &self.a_rw,
            Who::ReadOnlyA => &self.a_ro,
            Who::CustomerX => &self.x,
        })
    }

    pub(super) fn secrets(&self, who: Who) -> &[String] {
        match who {
            Who::TeamA | Who::ReadOnlyA => &self.b_secrets,
            Who::CustomerX => &self.x_secrets,
        }
    }

    /// Every row of both teams, as counts and md5 checksums.
    pub(super) fn snapshot(&self) -> (String, String) {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        (snapshot(&mut conn, self.a), snapshot(&mut conn, self.b))
    }
}

#[derive(QueryableByName)]
struct Snapshot {
    #[diesel(sql_type = diesel::sql_types::Text)]
    s: String,
}

/// Row counts and md5 of every row of a team: tickets, messages, tags, ticket tags,
/// assignments, activities, events, persons, distinct ids, email channels, the team row
/// (its ticket counter).
fn snapshot(conn: &mut PgConnection, team: Uuid) -> String {
    let part = |from: &str| {
        format!(
            "(SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '-') {from})"
        )
    };
    let parts = [
        part("FROM tickets x WHERE x.team_id = $1"),
        part("FROM messages x WHERE x.team_id = $1"),
        part("FROM tags x WHERE x.team_id = $1"),
        part("FROM ticket_tags x JOIN tickets t ON t.id = x.ticket_id WHERE t.team_id = $1"),
        part("FROM ticket_assignments x JOIN tickets t ON t.id = x.ticket_id WHERE t.team_id = $1"),
        part("FROM ticket_activities x WHERE x.team_id = $1"),
        part("FROM events x WHERE x.team_id = $1"),
        part("FROM persons x WHERE x.team_id = $1"),
        part("FROM person_distinct_ids x WHERE x.team_id = $1"),
        part("FROM email_channels x WHERE x.team_id = $1"),
        part("FROM teams x WHERE x.id = $1"),
    ];
    diesel::sql_query(format!("SELECT concat_ws(' ', {}) AS s", parts.join(", ")))
        .bind::<diesel::sql_types::Uuid, _>(team)
        .get_result::<Snapshot>(conn)
        .expect("snapshot")
        .s
}
