//! Subscriptions end to end: delivery across replicas in commit order and exactly once,
//! private notes, the inbox filter, the unread count, and replay after the event listener
//! lost its connection.

use std::collections::HashSet;
use std::time::Duration;

use diesel::prelude::*;
use futures_util::future::join_all;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::replica::Replica;
use crate::helpers::ws::{self, next_payload, send, silent_for, subscribe};
use crate::helpers::{self, test_db, Client, TestServer};

const SEND: &str = "mutation($t: UUID!, $c: String!, $p: Boolean, $a: MessageAuthorType) { sendMessage(ticketId: $t, content: $c, isPrivate: $p, authorType: $a) { id } }";

fn message_added(ticket: uuid::Uuid) -> String {
    format!("subscription {{ messageAdded(ticketId: \"{ticket}\") {{ id content isPrivate createdAt }} }}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_another_replica_in_commit_order_once_each() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let (a, b) = (Replica::spawn(&db.url, &[]), Replica::spawn(&db.url, &[]));
    let mut socket = ws::ready(&a.ws(), &key).await;
    send(&mut socket, subscribe("m", &message_added(ticket))).await;
    // The subscription is live once a first message comes through.
    let writer = Client::new(b.graphql(), &key);
    writer
        .data(SEND, json!({ "t": ticket, "c": "warm-up" }))
        .await;
    assert_eq!(
        next_payload(&mut socket, "m").await["data"]["messageAdded"]["content"],
        "warm-up"
    );

    // 30 messages at once through the other replica, one of them a private note.
    let sent = join_all((0..30).map(|i| {
        let writer = writer.clone();
        async move {
            let private = i == 7;
            writer
                .data(
                    SEND,
                    json!({ "t": ticket, "c": format!("m{i}"), "p": private }),
                )
                .await["sendMessage"]["id"]
                .as_str()
                .unwrap()
                .to_string()
        }
    }))
    .await;
    let mut received = Vec::new();
    for _ in 0..30 {
        let payload = next_payload(&mut socket, "m").await;
        received.push(payload["data"]["messageAdded"].clone());
    }
    let ids: HashSet<&str> = received.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 30, "each message once");
    assert_eq!(ids, sent.iter().map(String::as_str).collect::<HashSet<_>>());
    assert!(
        received.iter().any(|m| m["isPrivate"] == true),
        "team keys get private notes"
    );
    // Commit order: the order of the conversation itself.
    let times: Vec<&str> = received
        .iter()
        .map(|m| m["createdAt"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by_key(|t| chrono::DateTime::parse_from_rfc3339(t).unwrap());
    assert_eq!(times, sorted);
    assert!(
        silent_for(&mut socket, Duration::from_millis(500)).await,
        "nothing more"
    );
}

#[tokio::test]
async fn ticket_changes_follow_the_filter() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let mut socket = ws::ready(&server.ws_url(), &key).await;
    send(
        &mut socket,
        subscribe("c", "subscription { ticketChanged(filter: { status: [NEW] }) { kind messageId ticket { ticketNumber status messageCount } } }"),
    )
    .await;
    // Another team's changes never show.
    let other = fixtures::team(&mut db.conn(), "globex");
    let other_key = helpers::create_key(&db.url, other, &[Scope::Read, Scope::Write]);
    let create = "mutation { createTicket(input: { distinctId: \"v\", message: \"hi\" }) { id } }";
    server.client(&other_key).data(create, json!({})).await;

    let created = client.data(create, json!({})).await["createTicket"]["id"].clone();
    let change = next_payload(&mut socket, "c").await["data"]["ticketChanged"].clone();
    assert_eq!(change["kind"], "CREATED");
    assert_eq!(change["ticket"]["ticketNumber"], 1);

    client
        .data(SEND, json!({ "t": created, "c": "more" }))
        .await;
    let change = next_payload(&mut socket, "c").await["data"]["ticketChanged"].clone();
    assert_eq!(change["kind"], "MESSAGE");
    assert!(change["messageId"].is_string());
    assert_eq!(change["ticket"]["messageCount"], 2);

    let update = "mutation($t: UUID!, $s: TicketStatus) { updateTicket(id: $t, input: { status: $s }) { id } }";
    client
        .data(update, json!({ "t": created, "s": "OPEN" }))
        .await;
    assert!(
        silent_for(&mut socket, Duration::from_millis(700)).await,
        "OPEN no longer matches"
    );
    client
        .data(update, json!({ "t": created, "s": "NEW" }))
        .await;
    let change = next_payload(&mut socket, "c").await["data"]["ticketChanged"].clone();
    assert_eq!(change["kind"], "UPDATED");
    assert_eq!(change["ticket"]["status"], "NEW");
}

#[tokio::test]
async fn the_unread_count_is_pushed_when_it_changes() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::insert_ticket(
        &mut db.conn(),
        team,
        &TicketSpec {
            unread_team_count: 2,
            ..Default::default()
        },
    );
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let mut socket = ws::ready(&server.ws_url(), &key).await;
    send(&mut socket, subscribe("u", "subscription { unreadCount }")).await;
    let count = |payload: Value| payload["data"]["unreadCount"].as_i64().unwrap();
    assert_eq!(
        count(next_payload(&mut socket, "u").await),
        2,
        "the value now, first"
    );
    client
        .data(SEND, json!({ "t": ticket, "c": "help", "a": "CUSTOMER" }))
        .await;
    assert_eq!(count(next_payload(&mut socket, "u").await), 3);
    // A support reply does not change the team's unread count: nothing is pushed.
    client
        .data(SEND, json!({ "t": ticket, "c": "on it" }))
        .await;
    assert!(silent_for(&mut socket, Duration::from_millis(700)).await);
    client
        .data(
            "mutation($t: UUID!) { markTicketRead(id: $t) { id } }",
            json!({ "t": ticket }),
        )
        .await;
    assert_eq!(count(next_payload(&mut socket, "u").await), 0);
}

#[tokio::test]
async fn events_missed_while_the_listener_reconnects_are_replayed() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let mut socket = ws::ready(&server.ws_url(), &key).await;
    send(&mut socket, subscribe("m", &message_added(ticket))).await;
    client
        .data(SEND, json!({ "t": ticket, "c": "before" }))
        .await;
    assert_eq!(
        next_payload(&mut socket, "m").await["data"]["messageAdded"]["content"],
        "before"
    );

    // Cut the listener's connection, and write while it is away.
    #[derive(QueryableByName)]
    struct Killed {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let killed: Killed = diesel::sql_query(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
           AND (query LIKE 'LISTEN%' OR query LIKE '%FROM events%')",
    )
    .get_result(&mut db.conn())
    .unwrap();
    assert_eq!(killed.n, 1, "one listener connection");
    for i in 0..5 {
        client
            .data(SEND, json!({ "t": ticket, "c": format!("during {i}") }))
            .await;
    }
    let mut contents = Vec::new();
    for _ in 0..5 {
        let payload = next_payload(&mut socket, "m").await;
        contents.push(
            payload["data"]["messageAdded"]["content"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(
        contents,
        (0..5).map(|i| format!("during {i}")).collect::<Vec<_>>()
    );
    assert!(
        silent_for(&mut socket, Duration::from_millis(500)).await,
        "no repeats"
    );
}
