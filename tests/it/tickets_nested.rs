//! A ticket's nested fields: person (with the email fallback), assignee, tags, emailTo,
//! messages (pages, private notes, deleted ones), and the team-wide queries.

use chrono::Duration;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::fixtures::{self, MessageSpec, TicketSpec};
use crate::helpers::{self, test_db, TestServer};

const TICKET: &str = r#"query($n: Int) {
  ticket(number: $n) {
    ticketNumber emailTo tags
    person { id name distinctIds properties isIdentified createdAt }
    assignee { id type user { id email name } role { id name } }
  }
}"#;

#[tokio::test]
async fn nested_fields_resolve_from_their_own_tables() {
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let other = fixtures::team(&mut conn, "globex");
    let ada = fixtures::user(&mut conn, team, "ada@acme.example", "Ada");
    let billing = fixtures::role(&mut conn, team, "Billing");
    let inbox = fixtures::email_channel(&mut conn, team, "support@acme.example");
    let grace = fixtures::person(
        &mut conn,
        team,
        &["grace-1", "grace-2"],
        json!({ "name": "Grace", "email": "Grace@Example.com" }),
        true,
    );
    fixtures::person(
        &mut conn,
        team,
        &["anon-9"],
        json!({ "plan": "free" }),
        false,
    );
    // Another team's person with the same distinct id must never be found.
    fixtures::person(
        &mut conn,
        other,
        &["stranger"],
        json!({ "name": "Not yours" }),
        true,
    );

    // 1: widget ticket by distinct id, assigned to a user, tagged.
    let t1 = fixtures::insert_ticket(
        &mut conn,
        team,
        &TicketSpec {
            distinct_id: "grace-2".into(),
            ..Default::default()
        },
    );
    fixtures::assign_user(&mut conn, t1, ada);
    fixtures::tag(&mut conn, team, t1, &["vip", "billing"]);
    // 2: email ticket whose distinct id is unknown: the sender's address finds Grace.
    let t2 = fixtures::insert_ticket(
        &mut conn,
        team,
        &TicketSpec {
            channel_source: "email",
            channel_detail: None,
            distinct_id: "unknown@example.com".into(),
            email_from: Some("grace@EXAMPLE.com".into()),
            email_channel_id: Some(inbox),
            ..Default::default()
        },
    );
    fixtures::assign_role(&mut conn, t2, billing);
    // 3: anonymous person, named by a distinct id; 4: nobody; 5: another team's id.
    fixtures::insert_ticket(
        &mut conn,
        team,
        &TicketSpec {
            distinct_id: "anon-9".into(),
            ..Default::default()
        },
    );
    fixtures::insert_ticket(
        &mut conn,
        team,
        &TicketSpec {
            distinct_id: "ghost".into(),
            ..Default::default()
        },
    );
    fixtures::insert_ticket(
        &mut conn,
        team,
        &TicketSpec {
            distinct_id: "stranger".into(),
            ..Default::default()
        },
    );
    // A widget ticket is not matched by email even with a matching address.
    fixtures::insert_ticket(
        &mut conn,
        team,
        &TicketSpec {
            distinct_id: "ghost-2".into(),
            email_from: Some("grace@example.com".into()),
            ..Default::default()
        },
    );

    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let ticket = |n: i32| {
        let client = client.clone();
        async move { client.data(TICKET, json!({ "n": n })).await["ticket"].clone() }
    };

    let one = ticket(1).await;
    assert_eq!(one["person"]["id"], grace.to_string());
    assert_eq!(one["person"]["name"], "Grace");
    assert_eq!(one["person"]["distinctIds"], json!(["grace-1", "grace-2"]));
    assert_eq!(one["person"]["isIdentified"], true);
    assert_eq!(one["assignee"]["type"], "USER");
    assert_eq!(one["assignee"]["id"], ada.to_string());
    assert_eq!(one["assignee"]["user"]["email"], "ada@acme.example");
    assert_eq!(one["assignee"]["role"], Value::Null);
    assert_eq!(one["tags"], json!(["billing", "vip"]));
    assert_eq!(one["emailTo"], Value::Null);

    let two = ticket(2).await;
    assert_eq!(two["person"]["id"], grace.to_string(), "email fallback");
    assert_eq!(two["assignee"]["type"], "ROLE");
    assert_eq!(two["assignee"]["id"], billing.to_string());
    assert_eq!(two["assignee"]["role"]["name"], "Billing");
    assert_eq!(two["assignee"]["user"], Value::Null);
    assert_eq!(two["emailTo"], "support@acme.example");
    assert_eq!(two["tags"], json!([]));

    assert_eq!(ticket(3).await["person"]["name"], "anon-9");
    assert_eq!(ticket(4).await["person"], Value::Null);
    assert_eq!(ticket(4).await["assignee"], Value::Null);
    assert_eq!(
        ticket(5).await["person"],
        Value::Null,
        "another team's person"
    );
    assert_eq!(
        ticket(6).await["person"],
        Value::Null,
        "fallback is for email tickets"
    );

    let team_wide = client
        .data(
            r#"{ tags persons(distinctIds: ["grace-1", "stranger", "nope"]) { name }
                 me { team { slug } user { email } scopes } }"#,
            json!({}),
        )
        .await;
    assert_eq!(team_wide["tags"], json!(["billing", "vip"]));
    assert_eq!(team_wide["persons"], json!([{ "name": "Grace" }]));
    assert_eq!(team_wide["me"]["team"]["slug"], "acme");
    assert_eq!(team_wide["me"]["user"], Value::Null);
    assert_eq!(team_wide["me"]["scopes"], json!(["read"]));
}

const MESSAGES: &str = r#"query($first: Int, $after: String, $last: Int, $before: String, $private: Boolean) {
  ticket(number: 1) {
    messages(first: $first, after: $after, last: $last, before: $before, includePrivate: $private) {
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      nodes { content authorType isPrivate createdBy { email } ticket { ticketNumber } }
    }
  }
}"#;

fn contents(data: &Value) -> Vec<String> {
    data["ticket"]["messages"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn messages_page_in_both_directions_and_hide_what_they_must() {
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let ada = fixtures::user(&mut conn, team, "ada@acme.example", "Ada");
    let ticket = fixtures::insert_ticket(&mut conn, team, &TicketSpec::default());
    let at = |minutes: i64| fixtures::base_time() + Duration::minutes(minutes);
    let specs = [
        ("m0", "customer", false, None, false),
        ("m1", "support", false, Some(ada), false),
        ("note", "support", true, Some(ada), false),
        ("gone", "customer", false, None, true),
        ("m2", "AI", false, None, false),
        ("m3", "customer", false, None, false),
        ("m4", "support", false, Some(ada), false),
    ];
    for (i, (content, author, private, by, deleted)) in specs.into_iter().enumerate() {
        fixtures::message(
            &mut conn,
            team,
            ticket,
            &MessageSpec {
                content: content.into(),
                author_type: author,
                is_private: private,
                created_by: by,
                deleted,
                created_at: at(i as i64),
            },
        );
    }
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);

    let all = client.data(MESSAGES, json!({})).await;
    assert_eq!(contents(&all), ["m0", "m1", "m2", "m3", "m4"]);
    let nodes = &all["ticket"]["messages"]["nodes"];
    assert_eq!(nodes[1]["createdBy"]["email"], "ada@acme.example");
    assert_eq!(nodes[0]["createdBy"], Value::Null);
    assert_eq!(nodes[2]["authorType"], "AI");
    assert_eq!(nodes[0]["ticket"]["ticketNumber"], 1);

    let with_notes = client.data(MESSAGES, json!({ "private": true })).await;
    assert_eq!(
        contents(&with_notes),
        ["m0", "m1", "note", "m2", "m3", "m4"]
    );

    // Forward by twos.
    let first = client.data(MESSAGES, json!({ "first": 2 })).await;
    assert_eq!(contents(&first), ["m0", "m1"]);
    assert_eq!(first["ticket"]["messages"]["pageInfo"]["hasNextPage"], true);
    let cursor = first["ticket"]["messages"]["pageInfo"]["endCursor"].clone();
    let second = client
        .data(MESSAGES, json!({ "first": 2, "after": cursor }))
        .await;
    assert_eq!(contents(&second), ["m2", "m3"]);
    // The newest two, then the two before them.
    let last = client.data(MESSAGES, json!({ "last": 2 })).await;
    assert_eq!(contents(&last), ["m3", "m4"]);
    assert_eq!(
        last["ticket"]["messages"]["pageInfo"]["hasPreviousPage"],
        true
    );
    let cursor = last["ticket"]["messages"]["pageInfo"]["startCursor"].clone();
    let earlier = client
        .data(MESSAGES, json!({ "last": 2, "before": cursor }))
        .await;
    assert_eq!(contents(&earlier), ["m1", "m2"]);

    // A cursor of the private-notes listing does not fit the public one.
    let cursor = with_notes["ticket"]["messages"]["pageInfo"]["endCursor"].clone();
    let code = client
        .error_code(MESSAGES, json!({ "after": cursor }))
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
}

#[tokio::test]
async fn unread_count_sums_open_tickets() {
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let other = fixtures::team(&mut conn, "globex");
    for (status, unread) in [("new", 2), ("open", 3), ("pending", 1), ("resolved", 7)] {
        fixtures::insert_ticket(
            &mut conn,
            team,
            &TicketSpec {
                status,
                unread_team_count: unread,
                ..Default::default()
            },
        );
    }
    fixtures::insert_ticket(
        &mut conn,
        other,
        &TicketSpec {
            unread_team_count: 100,
            ..Default::default()
        },
    );
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let data = server.client(&key).data("{ unreadCount }", json!({})).await;
    assert_eq!(data["unreadCount"], 6);
}

/// The full shape of one ticket as a dashboard reads it, pinned as a snapshot (ids and
/// times that vary per run are redacted).
#[tokio::test]
async fn a_complete_ticket_response_keeps_its_shape() {
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let ada = fixtures::user(&mut conn, team, "ada@acme.example", "Ada Lovelace");
    let inbox = fixtures::email_channel(&mut conn, team, "support@acme.example");
    fixtures::person(
        &mut conn,
        team,
        &["cust-1"],
        json!({ "name": "Grace Hopper", "email": "grace@example.com", "plan": "pro" }),
        true,
    );
    let ticket = fixtures::insert_ticket(
        &mut conn,
        team,
        &TicketSpec {
            channel_source: "email",
            channel_detail: None,
            distinct_id: "cust-1".into(),
            status: "pending",
            priority: Some("high"),
            anonymous_traits: json!({ "name": "Grace", "email": "grace@example.com" }),
            escalation_reason: Some("asked for a human".into()),
            email_subject: Some("Invoice 42 is wrong".into()),
            email_from: Some("grace@example.com".into()),
            email_channel_id: Some(inbox),
            sla_due_at: Some(fixtures::base_time() + Duration::hours(4)),
            unread_team_count: 1,
            message_count: 2,
            ..Default::default()
        },
    );
    fixtures::assign_user(&mut conn, ticket, ada);
    fixtures::tag(&mut conn, team, ticket, &["billing", "vip"]);
    fixtures::message(
        &mut conn,
        team,
        ticket,
        &MessageSpec {
            content: "My invoice is wrong".into(),
            ..Default::default()
        },
    );
    fixtures::message(
        &mut conn,
        team,
        ticket,
        &MessageSpec {
            content: "Looking into it".into(),
            author_type: "support",
            created_by: Some(ada),
            created_at: fixtures::base_time() + Duration::minutes(5),
            ..Default::default()
        },
    );
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let data = server
        .client(&key)
        .data(
            r#"{ ticket(number: 1) {
                id ticketNumber channelSource channelDetail distinctId status priority
                anonymousTraits aiResolved escalationReason createdAt updatedAt messageCount
                lastMessageAt lastMessageText unreadTeamCount unreadCustomerCount sessionId
                sessionContext slaDueAt snoozedUntil slackChannelId slackThreadTs slackTeamId
                emailSubject emailFrom emailTo ccParticipants tags
                person { id name distinctIds properties isIdentified createdAt }
                assignee { id type user { id email name } role { id name } }
                messages { nodes { id content authorType isPrivate createdAt createdBy { id email name } } }
            } }"#,
            json!({}),
        )
        .await;
    // Keys sorted: async-graphql emits an object's fields in the order they resolve.
    insta::with_settings!({ sort_maps => true }, {
        insta::assert_json_snapshot!(data, {
            ".**.id" => "[id]",
            ".ticket.person.createdAt" => "[time]",
        });
    });
}
