//! Views on the live side: `ticketChanged(view:)` sends the changes of the view's tickets
//! only (narrowed by an explicit filter), from another replica; and a team's views are
//! bounded.

use std::time::Duration;

use diesel::prelude::*;
use serde_json::json;
use ticketgate::auth::viewer::Scope;
use ticketgate::db::schema::ticket_views;
use uuid::Uuid;

use super::{create_view, refusal, CREATE};
use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::replica::Replica;
use crate::helpers::ws::{self, next_payload, send, silent_for};
use crate::helpers::{self, test_db, Client};

const UPDATE: &str =
    "mutation($id: UUID!) { updateTicket(id: $id, input: { aiResolved: true }) { id } }";

#[tokio::test]
async fn ticket_changed_follows_a_view_narrowed_by_a_filter_across_replicas() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let spec = |i: usize, status: &'static str, priority: Option<&'static str>| TicketSpec {
        distinct_id: format!("visitor-{i}"),
        status,
        priority,
        ..TicketSpec::default()
    };
    let mut conn = db.conn();
    let open_high = fixtures::insert_ticket(&mut conn, team, &spec(0, "open", Some("high")));
    let open_low = fixtures::insert_ticket(&mut conn, team, &spec(1, "open", Some("low")));
    let pending_high = fixtures::insert_ticket(&mut conn, team, &spec(2, "pending", Some("high")));
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let (a, b) = (Replica::spawn(&db.url, &[]), Replica::spawn(&db.url, &[]));
    let writer = Client::new(b.graphql(), &key);
    let view = create_view(
        &writer,
        json!({ "name": "Open", "filter": { "status": ["OPEN"] } }),
    )
    .await;

    let mut socket = ws::ready(&a.ws(), &key).await;
    send(
        &mut socket,
        json!({ "id": "t", "type": "subscribe", "payload": {
            "query": "subscription($v: UUID, $f: TicketFilter) { ticketChanged(view: $v, filter: $f) { kind ticket { id } } }",
            "variables": { "v": view, "f": { "priority": ["HIGH"] } } } }),
    )
    .await;
    // Live once a first change of the view's ticket comes through.
    let mut live = false;
    for _ in 0..50 {
        writer.data(UPDATE, json!({ "id": open_high })).await;
        if !silent_for(&mut socket, Duration::from_millis(200)).await {
            live = true;
            break;
        }
    }
    assert!(live, "the subscription never went live");
    // Drain what the warm-up loop may have queued.
    while !silent_for(&mut socket, Duration::from_millis(300)).await {}
    // In the view but not the filter (low), in neither (pending): neither is sent.
    for outside in [open_low, pending_high] {
        writer.data(UPDATE, json!({ "id": outside })).await;
    }
    writer.data(UPDATE, json!({ "id": open_high })).await;
    let change = next_payload(&mut socket, "t").await;
    assert_eq!(
        change["data"]["ticketChanged"]["ticket"]["id"],
        open_high.to_string(),
        "{change}"
    );
    assert!(
        silent_for(&mut socket, Duration::from_millis(500)).await,
        "nothing else"
    );
}

#[tokio::test]
async fn a_team_holds_at_most_two_hundred_views() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let rows: Vec<_> = (0..199)
        .map(|i| {
            (
                ticket_views::id.eq(Uuid::now_v7()),
                ticket_views::team_id.eq(team),
                ticket_views::name.eq(format!("view {i}")),
            )
        })
        .collect();
    diesel::insert_into(ticket_views::table)
        .values(rows)
        .execute(&mut db.conn())
        .unwrap();
    let server = crate::helpers::TestServer::start(&db.url);
    let client = server.client(&helpers::create_key(
        &db.url,
        team,
        &[Scope::Read, Scope::Write],
    ));
    create_view(&client, json!({ "name": "the 200th" })).await;
    let (code, field, message) =
        refusal(&client, CREATE, json!({ "input": { "name": "one more" } })).await;
    assert_eq!(
        (code.as_str(), field),
        ("BAD_USER_INPUT", json!("input")),
        "{message}"
    );
    assert!(message.contains("200"), "{message}");
    // Another team is not affected.
    let other = fixtures::team(&mut db.conn(), "globex");
    let other_client = server.client(&helpers::create_key(
        &db.url,
        other,
        &[Scope::Read, Scope::Write],
    ));
    create_view(&other_client, json!({ "name": "one more" })).await;
}
