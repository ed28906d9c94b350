//! The `ticketCounts` subscription: the value now, then the new value within a second of
//! a write made through another replica; a storm of writes is coalesced into a few
//! pushes, ending with the right value.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use super::{dimension, COUNTS_SUBSCRIPTION};
use crate::helpers::fixtures;
use crate::helpers::replica::Replica;
use crate::helpers::ws::{self, next_payload, send, silent_for};
use crate::helpers::{self, test_db, Client};

fn subscribe_counts(filter: Value) -> Value {
    json!({ "id": "c", "type": "subscribe",
            "payload": { "query": COUNTS_SUBSCRIPTION, "variables": { "filter": filter } } })
}

fn counts(payload: Value) -> Value {
    assert!(payload.get("errors").is_none(), "{payload}");
    payload["data"]["ticketCounts"].clone()
}

const UPDATE: &str = "mutation($id: UUID!, $s: TicketStatus!) { updateTicket(id: $id, input: { status: $s }) { id } }";
const BULK: &str = "mutation($ids: [UUID!]!, $s: TicketStatus!) { bulkUpdateStatus(ids: $ids, status: $s) { id } }";

#[tokio::test]
async fn counts_follow_a_write_on_another_replica() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let tickets = fixtures::tickets(&mut db.conn(), team, 5);
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let (a, b) = (Replica::spawn(&db.url, &[]), Replica::spawn(&db.url, &[]));
    let mut socket = ws::ready(&a.ws(), &key).await;
    send(
        &mut socket,
        subscribe_counts(json!({ "status": ["OPEN", "RESOLVED"] })),
    )
    .await;
    let now = counts(next_payload(&mut socket, "c").await);
    assert_eq!(
        (now["total"].clone(), dimension(&now, "byStatus")),
        (json!(5), vec!["OPEN=5".to_string()])
    );

    let writer = Client::new(b.graphql(), &key);
    for (round, ticket) in tickets.iter().take(3).enumerate() {
        writer
            .data(UPDATE, json!({ "id": ticket, "s": "RESOLVED" }))
            .await;
        let written = Instant::now();
        let next = counts(next_payload(&mut socket, "c").await);
        let took = written.elapsed();
        println!("round {round}: the new counts came {took:?} after the write");
        assert!(took < Duration::from_secs(1), "{took:?}");
        let resolved = round + 1;
        assert_eq!(
            dimension(&next, "byStatus"),
            [
                format!("OPEN={}", 5 - resolved),
                format!("RESOLVED={resolved}")
            ]
        );
    }
    // A change outside the filter leaves the counts as they are: nothing is sent.
    writer
        .data(UPDATE, json!({ "id": tickets[3], "s": "PENDING" }))
        .await;
    let after = Instant::now();
    let next = counts(next_payload(&mut socket, "c").await);
    assert!(after.elapsed() < Duration::from_secs(1));
    assert_eq!(next["total"], 4);
    writer
        .data(UPDATE, json!({ "id": tickets[4], "s": "RESOLVED" }))
        .await;
    writer
        .data(UPDATE, json!({ "id": tickets[4], "s": "RESOLVED" }))
        .await;
    let next = counts(next_payload(&mut socket, "c").await);
    assert_eq!(
        dimension(&next, "byStatus"),
        ["OPEN=0", "RESOLVED=4"]
            .iter()
            .filter(|p| !p.ends_with("=0"))
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
    );
    assert!(
        silent_for(&mut socket, Duration::from_millis(800)).await,
        "the same value is not sent twice"
    );
}

#[tokio::test]
async fn a_storm_of_writes_is_coalesced() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let tickets = fixtures::tickets(&mut db.conn(), team, 300);
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let (a, b) = (Replica::spawn(&db.url, &[]), Replica::spawn(&db.url, &[]));
    let mut socket = ws::ready(&a.ws(), &key).await;
    send(&mut socket, subscribe_counts(Value::Null)).await;
    assert_eq!(counts(next_payload(&mut socket, "c").await)["total"], 300);

    // Through the other replica: 300 tickets to PENDING in one bulk change, then 200
    // single updates to RESOLVED, eight at a time. 500 events in all.
    let writer = Client::new(b.graphql(), &key);
    let started = Instant::now();
    writer
        .data(BULK, json!({ "ids": tickets, "s": "PENDING" }))
        .await;
    for chunk in tickets[..200].chunks(8) {
        join_all(
            chunk
                .iter()
                .map(|id| writer.data(UPDATE, json!({ "id": id, "s": "RESOLVED" }))),
        )
        .await;
    }
    let storm = started.elapsed();
    let last_write = Instant::now();

    let want = vec!["PENDING=100".to_string(), "RESOLVED=200".to_string()];
    let mut pushes = 0;
    loop {
        let now = counts(next_payload(&mut socket, "c").await);
        pushes += 1;
        if dimension(&now, "byStatus") == want {
            break;
        }
    }
    let settled = last_write.elapsed();
    println!(
        "500 writes over {storm:?}: {pushes} pushes, the last {settled:?} after the last write"
    );
    assert!(settled < Duration::from_secs(1), "{settled:?}");
    // Bursts of 250 ms: about four a second, plus the first and the last.
    let bound = (started.elapsed().as_secs_f64() * 4.0).ceil() as usize + 2;
    assert!(
        pushes <= bound,
        "{pushes} pushes over {:?}",
        started.elapsed()
    );
    assert!(pushes < 50, "{pushes} pushes for 500 writes");
    assert!(
        silent_for(&mut socket, Duration::from_millis(1000)).await,
        "nothing after the final value"
    );
}
