//! The inbox filters that came with the counts — `tagsAll`, `tagsNone`, `assignee.me`
//! and relative date ranges — return exactly the right tickets in `tickets`,
//! `ticketCounts` and `ticketChanged`.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use uuid::Uuid;

use super::exact::small_world;
use super::COUNTS_AND_TOTAL;
use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::ws::{self, next_payload, send, silent_for, subscribe};
use crate::helpers::{self, test_db, Client, TestServer};

/// The ids of every ticket matching `filter` (all pages), checked against the counts'
/// and `totalCount`'s totals for the same filter.
async fn matching(client: &Client, filter: Value) -> BTreeSet<Uuid> {
    let page = client
        .data(
            "query($filter: TicketFilter) { tickets(filter: $filter, first: 500) { nodes { id } } }",
            json!({ "filter": filter }),
        )
        .await;
    let ids: BTreeSet<Uuid> = page["tickets"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().parse().unwrap())
        .collect();
    let counts = client
        .data(COUNTS_AND_TOTAL, json!({ "filter": filter }))
        .await;
    assert_eq!(
        counts["ticketCounts"]["total"],
        ids.len(),
        "counts of {filter}"
    );
    assert_eq!(
        counts["tickets"]["totalCount"],
        ids.len(),
        "totalCount of {filter}"
    );
    ids
}

fn set(ids: &[Uuid]) -> BTreeSet<Uuid> {
    ids.iter().copied().collect()
}

#[tokio::test]
async fn tags_all_and_tags_none() {
    let db = test_db();
    let world = small_world(&mut db.conn());
    let t = &world.tickets;
    // t0: billing + bug, t1: billing, t2: none, t3: bug.
    let key = helpers::create_key(&db.url, world.team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let cases = [
        (json!({ "tagsAll": ["billing", "bug"] }), set(&[t[0]])),
        (json!({ "tagsAll": ["billing"] }), set(&[t[0], t[1]])),
        (
            json!({ "tagsAll": ["bug", "billing", "bug"] }),
            set(&[t[0]]),
        ),
        // A tag nobody has (or that does not exist): nothing has all of them.
        (json!({ "tagsAll": ["billing", "nope"] }), set(&[])),
        (json!({ "tagsNone": ["bug"] }), set(&[t[1], t[2]])),
        (json!({ "tagsNone": ["billing", "bug"] }), set(&[t[2]])),
        (json!({ "tagsNone": ["nope"] }), set(t)),
        (
            json!({ "tags": ["billing", "bug"], "tagsNone": ["billing"] }),
            set(&[t[3]]),
        ),
        (
            json!({ "tagsAll": ["bug"], "tagsNone": ["billing"] }),
            set(&[t[3]]),
        ),
        (
            json!({ "tagsAll": ["billing"], "tagsNone": ["billing"] }),
            set(&[]),
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(matching(&client, filter.clone()).await, want, "{filter}");
    }
}

#[tokio::test]
async fn me_is_the_keys_own_user() {
    let db = test_db();
    let world = small_world(&mut db.conn());
    let t = &world.tickets;
    let server = TestServer::start(&db.url);
    let ada = server.client(&helpers::create_user_key(
        &db.url,
        world.team,
        world.ada,
        &[Scope::Read],
    ));
    let alan = server.client(&helpers::create_user_key(
        &db.url,
        world.team,
        world.alan,
        &[Scope::Read],
    ));
    let me = json!({ "assignee": { "me": true } });
    assert_eq!(matching(&ada, me.clone()).await, set(&[t[0], t[3]]));
    assert_eq!(matching(&alan, me.clone()).await, set(&[]));
    let mine_new = json!({ "assignee": { "me": true }, "status": ["NEW"] });
    assert_eq!(matching(&ada, mine_new).await, set(&[t[3]]));
    // The same as naming the user.
    let named = json!({ "assignee": { "userId": world.ada } });
    assert_eq!(matching(&alan, named).await, set(&[t[0], t[3]]));
    // A page's cursor is the user's: "me" of another key is another query.
    let page = ada
        .data(
            "{ tickets(first: 1, filter: { assignee: { me: true } }) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await;
    let cursor = page["tickets"]["pageInfo"]["endCursor"].clone();
    let code = alan
        .error_code(
            "query($c: String) { tickets(first: 1, after: $c, filter: { assignee: { me: true } }) { totalCount } }",
            json!({ "c": cursor }),
        )
        .await;
    assert_eq!(code, "BAD_USER_INPUT");
}

#[tokio::test]
async fn relative_ranges_count_back_from_now() {
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let now = Utc::now();
    let ago = |hours: i64| now - chrono::Duration::hours(hours);
    // Updated an hour, three days and ten days ago; created the other way round.
    let t: Vec<Uuid> = [(1, 240), (72, 72), (240, 1)]
        .iter()
        .map(|&(updated, created)| {
            fixtures::insert_ticket(
                &mut conn,
                team,
                &TicketSpec {
                    updated_at: ago(updated),
                    created_at: ago(created),
                    ..Default::default()
                },
            )
        })
        .collect();
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let cases = [
        (
            json!({ "updatedAt": { "withinLastDays": 1 } }),
            set(&[t[0]]),
        ),
        (
            json!({ "updatedAt": { "withinLastDays": 7 } }),
            set(&[t[0], t[1]]),
        ),
        (json!({ "updatedAt": { "olderThanDays": 7 } }), set(&[t[2]])),
        (
            json!({ "updatedAt": { "olderThanDays": 2, "withinLastDays": 7 } }),
            set(&[t[1]]),
        ),
        (json!({ "updatedAt": { "withinLastDays": 36500 } }), set(&t)),
        (
            json!({ "createdAt": { "withinLastDays": 2 } }),
            set(&[t[2]]),
        ),
        (json!({ "createdAt": { "olderThanDays": 5 } }), set(&[t[0]])),
        // With absolute bounds, all must hold.
        (
            json!({ "updatedAt": { "withinLastDays": 7, "to": ago(24).to_rfc3339() } }),
            set(&[t[1]]),
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(matching(&client, filter.clone()).await, want, "{filter}");
    }
}

const UPDATE: &str = "mutation($id: UUID!, $input: UpdateTicketInput!) { updateTicket(id: $id, input: $input) { id } }";

#[tokio::test]
async fn ticket_changed_follows_the_new_filters() {
    let db = test_db();
    let world = small_world(&mut db.conn());
    let t = &world.tickets;
    let key =
        helpers::create_user_key(&db.url, world.team, world.ada, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let mut socket = ws::ready(&server.ws_url(), &key).await;
    let query =
        "subscription { ticketChanged(filter: { assignee: { me: true }, tagsNone: [\"spam\"], \
                 updatedAt: { withinLastDays: 1 } }) { ticket { id } } }";
    send(&mut socket, subscribe("c", query)).await;
    let changed = |payload: Value| payload["data"]["ticketChanged"]["ticket"]["id"].clone();
    // Live once a first change comes through: t0 is Ada's, untagged spam, and an update
    // makes it recent.
    let mut first = None;
    for _ in 0..50 {
        client
            .data(
                UPDATE,
                json!({ "id": t[0], "input": { "priority": "LOW" } }),
            )
            .await;
        if !silent_for(&mut socket, Duration::from_millis(200)).await {
            first = Some(());
            break;
        }
    }
    assert!(first.is_some(), "the subscription never went live");
    // Drain what the warm-up loop may have queued.
    while !silent_for(&mut socket, Duration::from_millis(300)).await {}
    // Not Ada's (the role's), then Ada's but tagged spam: neither is sent.
    client
        .data(
            UPDATE,
            json!({ "id": t[1], "input": { "priority": "HIGH" } }),
        )
        .await;
    client
        .data(
            UPDATE,
            json!({ "id": t[3], "input": { "tags": ["bug", "spam"] } }),
        )
        .await;
    client
        .data(
            UPDATE,
            json!({ "id": t[0], "input": { "priority": "MEDIUM" } }),
        )
        .await;
    let payload = next_payload(&mut socket, "c").await;
    assert_eq!(changed(payload), json!(t[0].to_string()));
    assert!(silent_for(&mut socket, Duration::from_millis(500)).await);
}
