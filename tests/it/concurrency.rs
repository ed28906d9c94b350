//! Invariants under concurrency, with real parallel clients against two `ticketgate`
//! processes sharing one database.

use std::sync::Arc;

use diesel::prelude::*;
use futures_util::future::join_all;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use ticketgate::db::schema::{messages, tickets};

use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::replica::Replica;
use crate::helpers::{self, test_db, Client};

/// Two replicas with room for a burst: long pool waits, many connections.
fn replicas(db_url: &str) -> [Replica; 2] {
    let env = [
        ("TICKETGATE_POOL_TIMEOUT_MS", "60000"),
        ("TICKETGATE_POOL_SIZE", "8"),
        // 2,000 connections at once on a loaded 2-core machine: a head may wait longer
        // than the default 5 s for a busy worker. This test is about counters, not slow
        // clients (`http_surface` tests those deadlines).
        ("TICKETGATE_HEADER_TIMEOUT_MS", "60000"),
    ];
    [Replica::spawn(db_url, &env), Replica::spawn(db_url, &env)]
}

fn clients(replicas: &[Replica; 2], key: &str) -> [Client; 2] {
    [
        Client::new(replicas[0].graphql(), key),
        Client::new(replicas[1].graphql(), key),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creations_number_tickets_without_gaps_or_repeats() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let replicas = replicas(&db.url);
    let clients = Arc::new(clients(&replicas, &key));
    let create = "mutation($d: String!) { createTicket(input: { distinctId: $d, message: \"help\" }) { ticketNumber } }";
    let results = join_all((0..500).map(|i| {
        let clients = clients.clone();
        tokio::spawn(async move {
            clients[i % 2]
                .post(create, json!({ "d": format!("v{i}") }))
                .await
        })
    }))
    .await;
    let mut numbers: Vec<i64> = results
        .into_iter()
        .map(|r| {
            let (status, body) = r.unwrap();
            assert_eq!(status, 200, "{body}");
            assert!(body.get("errors").is_none(), "{body}");
            body["data"]["createTicket"]["ticketNumber"]
                .as_i64()
                .unwrap()
        })
        .collect();
    numbers.sort();
    assert_eq!(numbers, (1..=500).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_messages_keep_every_counter_exact() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let replicas = replicas(&db.url);
    let clients = Arc::new(clients(&replicas, &key));
    let send = "mutation($t: UUID!, $c: String!, $a: MessageAuthorType) { sendMessage(ticketId: $t, content: $c, authorType: $a) { id } }";
    // 2,000 at once: 1,200 from the customer, 800 from support.
    let results = join_all((0..2000).map(|i| {
        let clients = clients.clone();
        let author = if i % 5 < 3 { "CUSTOMER" } else { "SUPPORT" };
        tokio::spawn(async move {
            clients[i % 2]
                .post(
                    send,
                    json!({ "t": ticket, "c": format!("message {i}"), "a": author }),
                )
                .await
        })
    }))
    .await;
    for result in results {
        let (status, body) = result.unwrap();
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
    }
    let row: Value = clients[0]
        .data(
            "query($t: UUID) { ticket(id: $t) { messageCount unreadTeamCount unreadCustomerCount lastMessageText lastMessageAt } }",
            json!({ "t": ticket }),
        )
        .await["ticket"]
        .clone();
    assert_eq!(row["messageCount"], 2000);
    assert_eq!(row["unreadTeamCount"], 1200);
    assert_eq!(row["unreadCustomerCount"], 800);
    let newest: (String, chrono::DateTime<chrono::Utc>) = messages::table
        .filter(messages::ticket_id.eq(ticket))
        .order((messages::created_at.desc(), messages::id.desc()))
        .select((messages::content, messages::created_at))
        .first(&mut db.conn())
        .unwrap();
    assert_eq!(
        row["lastMessageText"], newest.0,
        "the newest message's text"
    );
    // Every message has its own instant: the conversation's order is total.
    let distinct_times: i64 = messages::table
        .filter(messages::ticket_id.eq(ticket))
        .select(diesel::dsl::count(messages::created_at).aggregate_distinct())
        .first(&mut db.conn())
        .unwrap();
    assert_eq!(distinct_times, 2000);
    let stored: i32 = tickets::table
        .find(ticket)
        .select(tickets::message_count)
        .first(&mut db.conn())
        .unwrap();
    assert_eq!(stored, 2000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_with_the_same_expected_version_have_one_winner() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let replicas = replicas(&db.url);
    let clients = Arc::new(clients(&replicas, &key));
    let read = clients[0]
        .data(
            "query($t: UUID) { ticket(id: $t) { updatedAt } }",
            json!({ "t": ticket }),
        )
        .await;
    let expected = read["ticket"]["updatedAt"].clone();
    let update = "mutation($t: UUID!, $e: DateTime, $r: String) { updateTicket(id: $t, expectedUpdatedAt: $e, input: { escalationReason: $r }) { escalationReason } }";
    let results = join_all((0..40).map(|i| {
        let (clients, expected) = (clients.clone(), expected.clone());
        tokio::spawn(async move {
            clients[i % 2]
                .post(
                    update,
                    json!({ "t": ticket, "e": expected, "r": format!("writer {i}") }),
                )
                .await
        })
    }))
    .await;
    let mut winners = Vec::new();
    let mut conflicts = 0;
    for result in results {
        let (_, body) = result.unwrap();
        match body["errors"][0]["extensions"]["code"].as_str() {
            None => winners.push(body["data"]["updateTicket"]["escalationReason"].clone()),
            Some("CONFLICT") => conflicts += 1,
            Some(other) => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one writer wins");
    assert_eq!(conflicts, 39);
    let stored: Option<String> = tickets::table
        .find(ticket)
        .select(tickets::escalation_reason)
        .first(&mut db.conn())
        .unwrap();
    assert_eq!(
        json!(stored),
        winners[0],
        "the winner's change is the one stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_waited_for_the_ticket_is_timed_after_the_wait() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = helpers::TestServer::start(&db.url);
    let client = server.client(&key);
    // Another writer holds the ticket and leaves its row as it is, as a private note does.
    let mut holder = db.conn();
    diesel::sql_query("BEGIN").execute(&mut holder).unwrap();
    diesel::sql_query("SELECT 1 FROM tickets WHERE id = $1 FOR UPDATE")
        .bind::<diesel::sql_types::Uuid, _>(ticket)
        .execute(&mut holder)
        .unwrap();
    let sent = tokio::spawn(async move {
        let send = "mutation($t: UUID!) { sendMessage(ticketId: $t, content: \"after the wait\") { createdAt } }";
        client.data(send, json!({ "t": ticket })).await["sendMessage"]["createdAt"].clone()
    });
    wait_until_a_backend_waits_for_a_lock(&mut db.conn()).await;
    let released: chrono::DateTime<chrono::Utc> = diesel::select(diesel::dsl::sql::<
        diesel::sql_types::Timestamptz,
    >("clock_timestamp()"))
    .get_result(&mut holder)
    .unwrap();
    diesel::sql_query("COMMIT").execute(&mut holder).unwrap();
    let created: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(sent.await.unwrap()).unwrap();
    assert!(
        created > released,
        "created {created} must follow the release at {released}: commit order"
    );
}

async fn wait_until_a_backend_waits_for_a_lock(conn: &mut PgConnection) {
    use diesel::sql_types::BigInt;
    #[derive(QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    for _ in 0..500 {
        let waiting: Waiting = diesel::sql_query(
            "SELECT count(*) AS count FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result(conn)
        .unwrap();
        if waiting.count > 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("sendMessage never waited for the ticket lock");
}
