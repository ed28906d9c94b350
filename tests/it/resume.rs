//! Resuming a subscription from the position of the last event a client saw (`after:`):
//! exactly what it missed, in order, then live; on this replica or another; and clear
//! errors for positions that cannot be resumed from.

use std::time::Duration;

use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use ticketgate::events::position::{self, Position};
use ticketgate::events::StreamKey;
use uuid::Uuid;

use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::ws::{
    self, message_added, next_payload, recv_within, send, silent_for, subscribe, Ws,
};
use crate::helpers::{self, test_db, Client, TestServer};

const SEND: &str =
    "mutation($t: UUID!, $c: String!) { sendMessage(ticketId: $t, content: $c) { id } }";

/// The next `count` messages of subscription `id`: (content, eventPosition) each.
async fn messages(socket: &mut Ws, id: &str, count: usize) -> Vec<(String, String)> {
    let mut received = Vec::new();
    for _ in 0..count {
        let payload = next_payload(socket, id).await;
        let message = &payload["data"]["messageAdded"];
        assert!(payload.get("errors").is_none(), "{payload}");
        received.push((
            message["content"].as_str().unwrap().to_string(),
            message["eventPosition"].as_str().unwrap().to_string(),
        ));
    }
    received
}

async fn send_all(client: &Client, ticket: Uuid, contents: &[String]) {
    for content in contents {
        client
            .data(SEND, json!({ "t": ticket, "c": content }))
            .await;
    }
}

fn names(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}{i}")).collect()
}

/// The error a subscription is refused with: its one result, then `complete`.
async fn refusal(socket: &mut Ws, id: &str, query: &str) -> Value {
    send(socket, subscribe(id, query)).await;
    let payload = next_payload(socket, id).await;
    assert_eq!(payload["data"], Value::Null, "{payload}");
    let complete = recv_within(socket, Duration::from_secs(10)).await;
    assert_eq!(complete, json!({ "id": id, "type": "complete" }));
    payload["errors"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_subscription_gets_exactly_what_it_missed_on_any_replica() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let other_ticket = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let (a, b) = (TestServer::start(&db.url), TestServer::start(&db.url));
    let client = a.client(&key);

    let mut socket = ws::ready(&a.ws_url(), &key).await;
    send(&mut socket, subscribe("m", &message_added(ticket, None))).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    send_all(&client, ticket, &names("seen", 0..3)).await;
    let seen = messages(&mut socket, "m", 3).await;
    assert_eq!(
        seen.iter().map(|m| m.0.clone()).collect::<Vec<_>>(),
        names("seen", 0..3)
    );
    drop(socket);

    // While the client is away: its ticket's messages, another ticket's, and concurrent
    // writers (events commit out of seq order).
    send_all(&client, ticket, &names("away", 0..4)).await;
    send_all(&client, other_ticket, &names("elsewhere", 0..2)).await;
    let writers = (0..4).map(|w| {
        let client = b.client(&key);
        async move { send_all(&client, ticket, &names(&format!("w{w}-"), 0..5)).await }
    });
    futures_util::future::join_all(writers).await;

    // Resumed on the other replica from the last message seen.
    let mut socket = ws::ready(&b.ws_url(), &key).await;
    let query = message_added(ticket, Some(&seen[2].1));
    send(&mut socket, subscribe("r", &query)).await;
    let missed = messages(&mut socket, "r", 24).await;
    let contents: Vec<String> = missed.iter().map(|m| m.0.clone()).collect();
    assert_eq!(contents[..4], names("away", 0..4), "in order");
    for w in 0..4 {
        let mine: Vec<String> = contents
            .iter()
            .filter(|c| c.starts_with(&format!("w{w}-")))
            .cloned()
            .collect();
        assert_eq!(
            mine,
            names(&format!("w{w}-"), 0..5),
            "each writer's in order"
        );
    }
    assert!(
        silent_for(&mut socket, Duration::from_millis(500)).await,
        "nothing twice, nothing of another ticket"
    );
    // Then live.
    send_all(&client, ticket, &["live".to_string()]).await;
    let live = messages(&mut socket, "r", 1).await;
    assert_eq!(live[0].0, "live");

    // Resuming from the middle of what was replayed gets the rest of it, and the live one.
    let mut again = ws::ready(&a.ws_url(), &key).await;
    let query = message_added(ticket, Some(&missed[9].1));
    send(&mut again, subscribe("again", &query)).await;
    let rest = messages(&mut again, "again", 15).await;
    let expected: Vec<String> = contents[10..]
        .iter()
        .cloned()
        .chain(["live".to_string()])
        .collect();
    assert_eq!(rest.into_iter().map(|m| m.0).collect::<Vec<_>>(), expected);
    assert!(silent_for(&mut again, Duration::from_millis(500)).await);
}

#[tokio::test]
async fn ticket_changes_resume_after_their_position() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let create = "mutation($m: String!) { createTicket(input: { distinctId: \"v\", message: $m }) { ticketNumber } }";
    let changed = |after: &str| {
        format!(
            "subscription {{ ticketChanged(filter: {{ status: [NEW] }}{after}) \
             {{ kind eventPosition ticket {{ ticketNumber }} }} }}"
        )
    };
    let mut socket = ws::ready(&server.ws_url(), &key).await;
    send(&mut socket, subscribe("c", &changed(""))).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    client.data(create, json!({ "m": "first" })).await;
    let first = next_payload(&mut socket, "c").await["data"]["ticketChanged"].clone();
    assert_eq!(first["ticket"]["ticketNumber"], 1);
    drop(socket);

    for i in 0..3 {
        client.data(create, json!({ "m": format!("t{i}") })).await;
    }
    let mut socket = ws::ready(&server.ws_url(), &key).await;
    let position = first["eventPosition"].as_str().unwrap();
    let resumed = changed(&format!(", after: \"{position}\""));
    send(&mut socket, subscribe("r", &resumed)).await;
    let mut numbers = Vec::new();
    for _ in 0..3 {
        let change = next_payload(&mut socket, "r").await["data"]["ticketChanged"].clone();
        assert_eq!(change["kind"], "CREATED");
        numbers.push(change["ticket"]["ticketNumber"].as_i64().unwrap());
    }
    assert_eq!(numbers, [2, 3, 4]);
    assert!(silent_for(&mut socket, Duration::from_millis(500)).await);

    // The same position under another filter is another subscription's.
    let other_filter = format!(
        "subscription {{ ticketChanged(filter: {{ status: [OPEN] }}, after: \"{position}\") {{ kind }} }}"
    );
    let error = refusal(&mut socket, "x", &other_filter).await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("different ticket or filter"));
}

#[tokio::test]
async fn positions_that_cannot_be_resumed_from_are_refused_with_a_code() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let other_team = fixtures::team(&mut db.conn(), "globex");
    let ticket = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    send_all(&client, ticket, &names("m", 0..3)).await;
    let mut socket = ws::ready(&server.ws_url(), &key).await;
    let stream = |team: Uuid, field: &'static str, narrowed_by: String| StreamKey {
        team,
        field,
        narrowed_by,
    };
    let mine = stream(team, "messageAdded", ticket.to_string());
    let at = |high: i64| Position { high, gaps: vec![] };
    let last_taken = last_seq(&db.url);

    let cases = [
        (
            "not a position".to_string(),
            "BAD_USER_INPUT",
            "invalid event position",
        ),
        (
            position::encode(
                &stream(other_team, "messageAdded", ticket.to_string()),
                &at(1),
            ),
            "BAD_USER_INPUT",
            "another team",
        ),
        (
            position::encode(&stream(team, "ticketChanged", ticket.to_string()), &at(1)),
            "BAD_USER_INPUT",
            "another subscription (ticketChanged)",
        ),
        (
            position::encode(&mine, &at(last_taken + 1_000_000)),
            "BAD_USER_INPUT",
            "ahead of every event",
        ),
    ];
    for (i, (after, code, says)) in cases.iter().enumerate() {
        let started = std::time::Instant::now();
        let error = refusal(
            &mut socket,
            &format!("s{i}"),
            &message_added(ticket, Some(after)),
        )
        .await;
        assert_eq!(error["extensions"]["code"], *code, "{error}");
        assert_eq!(error["extensions"]["field"], "after", "{error}");
        assert!(error["message"].as_str().unwrap().contains(says), "{error}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "refused at once"
        );
    }

    // Pruned: a position older than the oldest event kept.
    let old = position::encode(&mine, &at(1));
    send(
        &mut socket,
        subscribe("ok", &message_added(ticket, Some(&old))),
    )
    .await;
    let replayed = messages(&mut socket, "ok", 2).await;
    assert_eq!(
        replayed.into_iter().map(|m| m.0).collect::<Vec<_>>(),
        names("m", 1..3),
        "kept: replayed"
    );
    let mut conn = db.conn();
    ticketgate::events::outbox::prune(&mut conn, Duration::ZERO).unwrap();
    let error = refusal(&mut socket, "gone", &message_added(ticket, Some(&old))).await;
    assert_eq!(error["extensions"]["code"], "POSITION_EXPIRED", "{error}");
}

fn last_seq(url: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Last {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
    }
    let mut conn = PgConnection::establish(url).unwrap();
    diesel::sql_query("SELECT max(seq) AS seq FROM events")
        .get_result::<Last>(&mut conn)
        .unwrap()
        .seq
}

/// Events commit out of seq order: an event taken before the one a client saw, committed
/// after it, is what a resume from that position must still deliver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_after_a_later_one_is_not_lost_on_resume() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let (slow, fast) = (
        fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default()),
        fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default()),
    );
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let changed = |after: &str| {
        format!("subscription {{ ticketChanged{after} {{ kind eventPosition ticket {{ id }} }} }}")
    };
    let mut socket = ws::ready(&server.ws_url(), &key).await;
    send(&mut socket, subscribe("c", &changed(""))).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // A transaction takes its event's seq, then waits before committing.
    let (commit, committed) = (std::sync::mpsc::channel::<()>(), std::sync::mpsc::channel());
    let (taken_tx, taken) = std::sync::mpsc::channel();
    let url = db.url.clone();
    let holder = std::thread::spawn(move || {
        use diesel::prelude::*;
        let mut conn = PgConnection::establish(&url).unwrap();
        conn.transaction::<_, diesel::result::Error, _>(|conn| {
            ticketgate::events::outbox::publish(
                conn,
                team,
                ticketgate::events::EventKind::TicketUpdated,
                slow,
                None,
            )?;
            taken_tx.send(()).unwrap();
            commit.1.recv().unwrap();
            Ok(())
        })
        .unwrap();
        committed.0.send(()).unwrap();
    });
    taken.recv().unwrap();
    // A later event commits first and is delivered.
    let update = "mutation($t: UUID!) { updateTicket(id: $t, input: { priority: HIGH }) { id } }";
    client.data(update, json!({ "t": fast })).await;
    let seen = next_payload(&mut socket, "c").await["data"]["ticketChanged"].clone();
    assert_eq!(seen["ticket"]["id"], json!(fast));
    drop(socket);
    // The earlier one commits while the client is away.
    commit.0.send(()).unwrap();
    committed.1.recv().unwrap();
    holder.join().unwrap();

    let mut socket = ws::ready(&server.ws_url(), &key).await;
    let position = seen["eventPosition"].as_str().unwrap();
    send(
        &mut socket,
        subscribe("r", &changed(&format!("(after: \"{position}\")"))),
    )
    .await;
    let missed = next_payload(&mut socket, "r").await["data"]["ticketChanged"].clone();
    assert_eq!(missed["kind"], "UPDATED");
    assert_eq!(
        missed["ticket"]["id"],
        json!(slow),
        "the late commit is replayed"
    );
    assert!(
        silent_for(&mut socket, Duration::from_millis(500)).await,
        "and the change already seen is not"
    );
}
