//! Agent presence: `setPresence` heartbeats carried over NOTIFY reach another replica's
//! `presence` subscriber within a second, end after the time to live of silence, on an
//! explicit LEFT, or when the websocket they came through closes; customers see only that
//! support is typing (never who), the team sees the customer typing; another team's
//! ticket is NOT_FOUND; a flood of heartbeats is RATE_LIMITED.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use uuid::Uuid;

use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::replica::Replica;
use crate::helpers::server::customer_token;
use crate::helpers::ws::{self, next_payload, send, silent_for, Ws};
use crate::helpers::{self, test_db, Client, TestServer};

const SET: &str =
    "mutation($t: UUID!, $s: PresenceState!) { setPresence(ticketId: $t, state: $s) }";
const WATCH: &str = "subscription($t: UUID!) { presence(ticketId: $t) { ticketId \
    agents { user { id name } state } supportTyping customer } }";

async fn watch(socket: &mut Ws, id: &str, ticket: Uuid) -> Value {
    send(
        socket,
        json!({ "id": id, "type": "subscribe",
                "payload": { "query": WATCH, "variables": { "t": ticket } } }),
    )
    .await;
    presence(next_payload(socket, id).await)
}

fn presence(payload: Value) -> Value {
    assert!(payload.get("errors").is_none(), "{payload}");
    payload["data"]["presence"].clone()
}

/// The agents of a presence value as `name:STATE`.
fn agents(value: &Value) -> Vec<String> {
    value["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{}:{}",
                a["user"]["name"].as_str().unwrap_or("-"),
                a["state"].as_str().unwrap()
            )
        })
        .collect()
}

struct World {
    team: Uuid,
    ticket: Uuid,
    ann: Uuid,
    ann_key: String,
    bob_key: String,
}

fn world(db: &helpers::TestDb) -> World {
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let ticket = fixtures::insert_ticket(
        &mut conn,
        team,
        &TicketSpec {
            distinct_id: "visitor-1".into(),
            ..TicketSpec::default()
        },
    );
    let ann = fixtures::user(&mut conn, team, "ann@example.com", "Ann");
    let bob = fixtures::user(&mut conn, team, "bob@example.com", "Bob");
    let both = [Scope::Read, Scope::Write];
    World {
        team,
        ticket,
        ann,
        ann_key: helpers::create_user_key(&db.url, team, ann, &both),
        bob_key: helpers::create_user_key(&db.url, team, bob, &both),
    }
}

#[tokio::test]
async fn presence_reaches_another_replica_within_a_second() {
    let db = test_db();
    let w = world(&db);
    let (a, b) = (Replica::spawn(&db.url, &[]), Replica::spawn(&db.url, &[]));
    let mut bob = ws::ready(&a.ws(), &w.bob_key).await;
    let now = watch(&mut bob, "p", w.ticket).await;
    assert_eq!(
        now,
        json!({ "ticketId": w.ticket, "agents": [], "supportTyping": false, "customer": null })
    );
    let ann = Client::new(b.graphql(), &w.ann_key);
    for (state, want, typing) in [
        ("VIEWING", vec!["Ann:VIEWING"], false),
        ("TYPING", vec!["Ann:TYPING"], true),
        ("VIEWING", vec!["Ann:VIEWING"], false),
        ("LEFT", vec![], false),
    ] {
        let sent = Instant::now();
        assert_eq!(
            ann.data(SET, json!({ "t": w.ticket, "s": state })).await["setPresence"],
            true
        );
        let next = presence(next_payload(&mut bob, "p").await);
        let took = sent.elapsed();
        println!("{state}: on the other replica {took:?} after the mutation");
        assert!(took < Duration::from_secs(1), "{took:?}");
        assert_eq!(agents(&next), want, "{next}");
        assert_eq!(next["supportTyping"], typing);
        assert_eq!(
            next["agents"].get(0).map(|a| a["user"]["id"].clone()),
            want.first().map(|_| json!(w.ann))
        );
    }
    // A heartbeat that changes nothing sends nothing.
    ann.data(SET, json!({ "t": w.ticket, "s": "VIEWING" }))
        .await;
    presence(next_payload(&mut bob, "p").await);
    ann.data(SET, json!({ "t": w.ticket, "s": "VIEWING" }))
        .await;
    assert!(silent_for(&mut bob, Duration::from_millis(500)).await);
}

#[tokio::test]
async fn presence_expires_after_silence_and_heartbeats_keep_it() {
    let db = test_db();
    let w = world(&db);
    let ttl = [("TICKETGATE_PRESENCE_TTL_SECS", "2")];
    let (a, b) = (Replica::spawn(&db.url, &ttl), Replica::spawn(&db.url, &ttl));
    let mut bob = ws::ready(&a.ws(), &w.bob_key).await;
    watch(&mut bob, "p", w.ticket).await;
    let ann = Client::new(b.graphql(), &w.ann_key);
    ann.data(SET, json!({ "t": w.ticket, "s": "VIEWING" }))
        .await;
    assert_eq!(
        agents(&presence(next_payload(&mut bob, "p").await)),
        ["Ann:VIEWING"]
    );
    // Heartbeats every 0.7 s for 3 s (past the 2 s time to live): still there, no push.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        assert!(
            silent_for(&mut bob, Duration::from_millis(700)).await,
            "no change while beating"
        );
        ann.data(SET, json!({ "t": w.ticket, "s": "VIEWING" }))
            .await;
    }
    // Silence: gone after about 2 s.
    let last_beat = Instant::now();
    let gone = presence(next_payload(&mut bob, "p").await);
    let after = last_beat.elapsed();
    println!("presence ended {after:?} after the last heartbeat (time to live 2 s)");
    assert_eq!(agents(&gone), Vec::<String>::new());
    assert!(
        after >= Duration::from_millis(1800) && after < Duration::from_millis(3000),
        "{after:?}"
    );
}

#[tokio::test]
async fn presence_ends_when_the_agents_websocket_closes() {
    let db = test_db();
    let w = world(&db);
    let (a, b) = (Replica::spawn(&db.url, &[]), Replica::spawn(&db.url, &[]));
    let mut bob = ws::ready(&a.ws(), &w.bob_key).await;
    watch(&mut bob, "p", w.ticket).await;

    // Ann's heartbeat goes over her websocket (a mutation operation on it).
    let mut ann = ws::ready(&b.ws(), &w.ann_key).await;
    send(
        &mut ann,
        json!({ "id": "h", "type": "subscribe",
                "payload": { "query": SET, "variables": { "t": w.ticket, "s": "TYPING" } } }),
    )
    .await;
    assert_eq!(
        next_payload(&mut ann, "h").await["data"]["setPresence"],
        true
    );
    assert_eq!(
        agents(&presence(next_payload(&mut bob, "p").await)),
        ["Ann:TYPING"]
    );
    // Closing it ends her presence at once (the time to live is 30 s here).
    let closed = Instant::now();
    drop(ann);
    let gone = presence(next_payload(&mut bob, "p").await);
    println!(
        "presence ended {:?} after the websocket closed",
        closed.elapsed()
    );
    assert_eq!(agents(&gone), Vec::<String>::new());
    assert!(closed.elapsed() < Duration::from_secs(2));

    // Watching through a websocket counts as being there: its close is a leave too.
    let mut ann = ws::ready(&b.ws(), &w.ann_key).await;
    watch(&mut ann, "w", w.ticket).await;
    Client::new(b.graphql(), &w.ann_key)
        .data(SET, json!({ "t": w.ticket, "s": "VIEWING" }))
        .await;
    assert_eq!(
        agents(&presence(next_payload(&mut bob, "p").await)),
        ["Ann:VIEWING"]
    );
    drop(ann);
    assert_eq!(
        agents(&presence(next_payload(&mut bob, "p").await)),
        Vec::<String>::new()
    );
    let _ = w.ann;
}

#[tokio::test]
async fn customers_see_only_that_support_is_typing_and_the_team_sees_the_customer() {
    let db = test_db();
    let w = world(&db);
    let other_ticket = fixtures::insert_ticket(
        &mut db.conn(),
        w.team,
        &TicketSpec {
            distinct_id: "visitor-2".into(),
            ..TicketSpec::default()
        },
    );
    let server = TestServer::start(&db.url);
    let token = customer_token(w.team, "visitor-1", 600);
    let mut customer = ws::ready(&server.ws_url(), &token).await;
    let mut bob = ws::ready(&server.ws_url(), &w.bob_key).await;
    watch(&mut bob, "p", w.ticket).await;
    let first = watch(&mut customer, "c", w.ticket).await;
    assert_eq!(first["agents"], json!([]));

    let ann = server.client(&w.ann_key);
    ann.data(SET, json!({ "t": w.ticket, "s": "VIEWING" }))
        .await;
    assert_eq!(
        agents(&presence(next_payload(&mut bob, "p").await)),
        ["Ann:VIEWING"]
    );
    // An agent only viewing changes nothing the customer sees.
    assert!(silent_for(&mut customer, Duration::from_millis(500)).await);
    ann.data(SET, json!({ "t": w.ticket, "s": "TYPING" })).await;
    presence(next_payload(&mut bob, "p").await);
    let seen = presence(next_payload(&mut customer, "c").await);
    assert_eq!(
        seen,
        json!({ "ticketId": w.ticket, "agents": [], "supportTyping": true, "customer": null })
    );
    let text = seen.to_string();
    assert!(
        !text.contains(&w.ann.to_string()) && !text.contains("Ann"),
        "{text}"
    );

    // The customer types in the widget: the team sees it.
    let widget = Client::new(server.url("/graphql"), &token);
    widget
        .data(SET, json!({ "t": w.ticket, "s": "TYPING" }))
        .await;
    let team_sees = presence(next_payload(&mut bob, "p").await);
    assert_eq!(team_sees["customer"], "TYPING");
    assert_eq!(agents(&team_sees), ["Ann:TYPING"]);
    assert_eq!(
        presence(next_payload(&mut customer, "c").await)["customer"],
        "TYPING"
    );
    // Not on another customer's ticket, for setting or watching.
    let (_, body) = widget
        .post(SET, json!({ "t": other_ticket, "s": "VIEWING" }))
        .await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{body}"
    );
    send(
        &mut customer,
        json!({ "id": "x", "type": "subscribe",
                "payload": { "query": WATCH, "variables": { "t": other_ticket } } }),
    )
    .await;
    let refused = ws::recv(&mut customer).await;
    let errors = match refused["type"].as_str() {
        Some("error") => refused["payload"].clone(),
        _ => refused["payload"]["errors"].clone(),
    };
    assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{refused}");
}

#[tokio::test]
async fn presence_on_another_teams_ticket_is_not_found() {
    let db = test_db();
    let w = world(&db);
    let other_team = fixtures::team(&mut db.conn(), "globex");
    let theirs = fixtures::insert_ticket(&mut db.conn(), other_team, &TicketSpec::default());
    let server = TestServer::start(&db.url);
    let ann = server.client(&w.ann_key);
    let mut messages = Vec::new();
    for ticket in [theirs, Uuid::now_v7()] {
        let (_, body) = ann.post(SET, json!({ "t": ticket, "s": "VIEWING" })).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{body}"
        );
        messages.push(body["errors"][0]["message"].clone());
        let mut socket = ws::ready(&server.ws_url(), &w.ann_key).await;
        send(
            &mut socket,
            json!({ "id": "p", "type": "subscribe",
                    "payload": { "query": WATCH, "variables": { "t": ticket } } }),
        )
        .await;
        let refused = ws::recv(&mut socket).await;
        let errors = match refused["type"].as_str() {
            Some("error") => refused["payload"].clone(),
            _ => refused["payload"]["errors"].clone(),
        };
        assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{refused}");
        messages.push(errors[0]["message"].clone());
    }
    assert!(messages.windows(2).all(|m| m[0] == m[1]), "{messages:?}");
    // A read-only key may watch but not announce itself.
    let reader = server.client(&helpers::create_user_key(
        &db.url,
        w.team,
        w.ann,
        &[Scope::Read],
    ));
    assert_eq!(
        reader
            .error_code(SET, json!({ "t": w.ticket, "s": "VIEWING" }))
            .await,
        "FORBIDDEN"
    );
}

#[tokio::test]
async fn a_flood_of_heartbeats_is_rate_limited() {
    let db = test_db();
    let w = world(&db);
    let server = TestServer::start(&db.url);
    let ann = server.client(&w.ann_key);
    // Thirty heartbeats, as fast as they go.
    let started = Instant::now();
    let mut codes = Vec::new();
    for _ in 0..30 {
        let (status, body) = ann
            .post(SET, json!({ "t": w.ticket, "s": "VIEWING" }))
            .await;
        assert_eq!(status, 200, "{body}");
        codes.push(match body["errors"][0]["extensions"]["code"].as_str() {
            Some(code) => code.to_string(),
            None => "ok".to_string(),
        });
    }
    let took = started.elapsed();
    let admitted = codes.iter().filter(|c| *c == "ok").count();
    println!("30 heartbeats in {took:?}: {admitted} admitted");
    assert!(
        codes.iter().all(|c| c == "ok" || c == "RATE_LIMITED"),
        "{codes:?}"
    );
    assert!(
        codes[..10].iter().all(|c| c == "ok"),
        "the burst passes: {codes:?}"
    );
    // The allowance refills at 2 a second.
    let refilled = (took.as_secs_f64() * 2.0).ceil() as usize;
    assert!(admitted <= 10 + refilled, "{admitted} admitted in {took:?}");
    assert!(codes.len() - admitted >= 30 - 10 - refilled, "{codes:?}");
    // Another ticket has its own allowance; after a second this one takes heartbeats again.
    let other = fixtures::insert_ticket(&mut db.conn(), w.team, &TicketSpec::default());
    assert_eq!(
        ann.data(SET, json!({ "t": other, "s": "VIEWING" })).await["setPresence"],
        true
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        ann.data(SET, json!({ "t": w.ticket, "s": "TYPING" })).await["setPresence"],
        true
    );
}
