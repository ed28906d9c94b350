//! Subscriptions: a team's never carry another team's events, a customer's never carry
//! other customers' events or private notes; refusals are those of missing tickets.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use uuid::Uuid;

use super::leaks::leaks;
use super::operations::{
    ASSIGN, BULK_STATUS, BULK_TAGS, CREATE, DELETE, READ, SEND, UPDATE_PRIORITY,
};
use super::world::{world, Who};
use super::KNOWN_LEAKS;
use crate::helpers::ws::{self, send, subscribe, Ws};

fn message_added(ticket: Uuid) -> String {
    format!("subscription {{ messageAdded(ticketId: \"{ticket}\") {{ id content isPrivate }} }}")
}

const CHANGES: &str = "subscription { ticketChanged { kind messageId ticket { id distinctId emailSubject escalationReason lastMessageText tags assignee { id } messages(includePrivate: true) { nodes { id content } } } } }";

/// The next text message that is not a keep-alive, within `wait`.
async fn next_message(socket: &mut Ws, wait: Duration) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(WsMessage::Text(text)))) => {
                let message: Value = serde_json::from_str(&text).expect("json");
                if matches!(message["type"].as_str(), Some("ping" | "pong")) {
                    continue;
                }
                return Some(message);
            }
            Ok(Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_)))) => continue,
            Ok(other) => panic!("the socket ended: {other:?}"),
        }
    }
}

/// Subscribes and returns the refusal's errors (an `error` message, or a `next` with
/// errors followed by `complete`).
async fn refusal(socket: &mut Ws, id: &str, query: &str) -> Value {
    send(socket, subscribe(id, query)).await;
    let message = next_message(socket, Duration::from_secs(10))
        .await
        .expect("a refusal");
    assert_eq!(message["id"], id, "{message}");
    match message["type"].as_str() {
        Some("error") => message["payload"].clone(),
        Some("next") => {
            let done = next_message(socket, Duration::from_secs(10)).await;
            assert_eq!(done.map(|d| d["type"].clone()), Some(json!("complete")));
            message["payload"]["errors"].clone()
        }
        _ => panic!("expected a refusal, got {message}"),
    }
}

type Wanted = (&'static str, Box<dyn Fn(&Value) -> bool>);

/// Reads until every wanted `next` came (each once, in any order); returns the problems:
/// anything else that came, any secret in anything that came, and anything arriving in
/// the 400 ms after.
async fn expect_exactly(
    socket: &mut Ws,
    mut wanted: Vec<Wanted>,
    secrets: &[String],
) -> Vec<String> {
    let mut problems = Vec::new();
    while !wanted.is_empty() {
        let Some(message) = next_message(socket, Duration::from_secs(10)).await else {
            let missing: Vec<&str> = wanted.iter().map(|(id, _)| *id).collect();
            problems.push(format!("nothing more came; still waiting for {missing:?}"));
            return problems;
        };
        let leaked = leaks(&message, secrets);
        if !leaked.is_empty() {
            problems.push(format!("LEAKS {leaked:?} in {message}"));
        }
        let position = wanted.iter().position(|(id, matches)| {
            message["type"] == "next" && message["id"] == *id && matches(&message["payload"])
        });
        match position {
            Some(i) => {
                let _matched = wanted.remove(i);
            }
            None => problems.push(format!("unexpected: {message}")),
        }
    }
    while let Some(message) = next_message(socket, Duration::from_millis(400)).await {
        problems.push(format!("unexpected after the marker: {message}"));
    }
    problems
}

fn change_of(ticket: Uuid, kind: &'static str) -> Box<dyn Fn(&Value) -> bool> {
    let ticket = ticket.to_string();
    Box::new(move |payload| {
        payload["data"]["ticketChanged"]["ticket"]["id"] == ticket.as_str()
            && payload["data"]["ticketChanged"]["kind"] == kind
    })
}

fn unread(value: i64) -> Box<dyn Fn(&Value) -> bool> {
    Box::new(move |payload| payload["data"]["unreadCount"] == value)
}

fn message_with(content: &'static str) -> Box<dyn Fn(&Value) -> bool> {
    Box::new(move |payload| payload["data"]["messageAdded"]["content"] == content)
}

/// Runs the named check, honouring `KNOWN_LEAKS`; returns the failure to report.
fn verdict(name: &str, problems: Vec<String>) -> Option<String> {
    let known = KNOWN_LEAKS.contains(&name);
    match (problems.is_empty(), known) {
        (true, false) => {
            eprintln!("| subscription | {name} | ok |");
            None
        }
        (true, true) => {
            eprintln!("warning: `{name}` is listed in KNOWN_LEAKS but passes now: remove it");
            None
        }
        (false, true) => {
            eprintln!(
                "WARNING: known leak, skipped: `{name}`: {}",
                problems.join("; ")
            );
            None
        }
        (false, false) => Some(format!("`{name}`: {}", problems.join("\n      "))),
    }
}

#[tokio::test]
async fn team_subscriptions_never_carry_another_teams_events() {
    let w = world();
    let a = w.client(Who::TeamA);
    let b = w.server.client(&w.b_rw);
    let mut failures = Vec::new();
    let mut socket = ws::ready(&w.server.ws_url(), &w.a_rw).await;

    // messageAdded on B's ticket: refused exactly like a ticket that does not exist.
    let on_b = refusal(&mut socket, "b", &message_added(w.bx1)).await;
    let on_missing = refusal(&mut socket, "m", &message_added(Uuid::now_v7())).await;
    let mut problems = Vec::new();
    if on_b[0]["extensions"]["code"] != "NOT_FOUND" {
        problems.push(format!("expected NOT_FOUND, got {on_b}"));
    }
    if on_b != on_missing {
        problems.push(format!("EXISTENCE ORACLE: {on_b} vs {on_missing}"));
    }
    problems.extend(
        leaks(&on_b, &w.b_secrets)
            .into_iter()
            .map(|l| format!("LEAKS {l}")),
    );
    failures.extend(verdict("messageAdded(B's ticket) by A", problems));

    // A's live subscriptions, some of them filtered on B's ids.
    for (id, query) in [
        ("all", CHANGES.to_string()),
        ("b-distinct", "subscription { ticketChanged(filter: { distinctIds: [\"bravo-x-cust\", \"bravo-y-cust\"] }) { kind ticket { id } } }".to_string()),
        ("b-user", format!("subscription {{ ticketChanged(filter: {{ assignee: {{ userId: \"{}\" }} }}) {{ kind ticket {{ id }} }} }}", w.b_user)),
        ("b-role", format!("subscription {{ ticketChanged(filter: {{ assignee: {{ roleId: \"{}\" }} }}) {{ kind ticket {{ id }} }} }}", w.b_role)),
        ("b-tag", "subscription { ticketChanged(filter: { tags: [\"bravo-tag-narwhal\", \"bravo-tag-live\"] }) { kind ticket { id } } }".to_string()),
        ("b-search", "subscription { ticketChanged(filter: { search: \"wombat\" }) { kind ticket { id } } }".to_string()),
        ("msgs", message_added(w.ax1)),
        ("unread", "subscription { unreadCount }".to_string()),
    ] {
        send(&mut socket, subscribe(id, &query)).await;
    }
    let first = expect_exactly(&mut socket, vec![("unread", unread(4))], &w.b_secrets).await;
    assert!(first.is_empty(), "{first:?}");
    // Every subscription is live once an event of A comes through.
    a.data(UPDATE_PRIORITY, json!({ "id": w.ax1, "p": "HIGH" }))
        .await;
    let warm = expect_exactly(
        &mut socket,
        vec![("all", change_of(w.ax1, "UPDATED"))],
        &w.b_secrets,
    )
    .await;
    assert!(warm.is_empty(), "{warm:?}");

    // Every kind of event in team B…
    let b_events = [
        (CREATE, json!({ "d": "bravo-x-cust" })),
        (CREATE, json!({ "d": "alpha-x" })),
        (
            SEND,
            json!({ "t": w.bx1, "c": "BRAVO-LIVE-wombat", "a": "CUSTOMER" }),
        ),
        (
            SEND,
            json!({ "t": w.bx1, "c": "BRAVO-LIVE-PRIVATE-wombat", "p": true }),
        ),
        (SEND, json!({ "t": w.bsx, "c": "BRAVO-LIVE-echidna" })),
        (UPDATE_PRIORITY, json!({ "id": w.bx1, "p": "LOW" })),
        (ASSIGN, json!({ "id": w.by1, "a": { "userId": w.b_user } })),
        (ASSIGN, json!({ "id": w.bx1, "a": { "roleId": w.b_role } })),
        (READ, json!({ "id": w.bx1 })),
        (
            BULK_TAGS,
            json!({ "ids": [w.bx1, w.bsx], "a": "ADD", "tags": ["bravo-tag-live"] }),
        ),
        (DELETE, json!({ "id": w.bx1_public })),
        (BULK_STATUS, json!({ "ids": [w.by1, w.bsx, w.by2] })),
    ];
    for (query, vars) in &b_events {
        b.data(query, vars.clone()).await;
    }
    // …then one of A's: it must be the first (and only) thing A hears.
    a.data(
        SEND,
        json!({ "t": w.ax1, "c": "a marker", "a": "CUSTOMER" }),
    )
    .await;
    let problems = expect_exactly(
        &mut socket,
        vec![
            ("all", change_of(w.ax1, "MESSAGE")),
            ("msgs", message_with("a marker")),
            ("unread", unread(5)),
        ],
        &w.b_secrets,
    )
    .await;
    failures.extend(verdict(
        "ticketChanged / messageAdded / unreadCount of A during B's events",
        problems,
    ));
    assert!(failures.is_empty(), "{}", failures.join("\n  "));
}

#[tokio::test]
async fn customer_subscriptions_never_carry_other_customers_or_private_events() {
    let w = world();
    let team_a = w.client(Who::TeamA);
    let team_b = w.server.client(&w.b_rw);
    let mut failures = Vec::new();
    let mut socket = ws::ready(&w.server.ws_url(), &w.x).await;

    // messageAdded on y's (and B's) tickets: refused like a missing ticket.
    let on_missing = refusal(&mut socket, "m", &message_added(Uuid::now_v7())).await;
    for (name, ticket) in [
        ("y's ticket", w.ay1),
        ("B's ticket", w.bx1),
        ("B's `alpha-x` ticket", w.bsx),
    ] {
        let refused = refusal(&mut socket, "r", &message_added(ticket)).await;
        let mut problems = Vec::new();
        if refused[0]["extensions"]["code"] != "NOT_FOUND" {
            problems.push(format!("expected NOT_FOUND, got {refused}"));
        }
        if refused != on_missing {
            problems.push(format!("EXISTENCE ORACLE: {refused} vs {on_missing}"));
        }
        problems.extend(
            leaks(&refused, &w.x_secrets)
                .into_iter()
                .map(|l| format!("LEAKS {l}")),
        );
        failures.extend(verdict(
            &format!("messageAdded({name}) by customer x"),
            problems,
        ));
    }

    for (id, query) in [
        ("all", CHANGES.to_string()),
        ("y", "subscription { ticketChanged(filter: { distinctIds: [\"alpha-y\"] }) { kind ticket { id } } }".to_string()),
        ("msgs", message_added(w.ax1)),
        ("unread", "subscription { unreadCount }".to_string()),
    ] {
        send(&mut socket, subscribe(id, &query)).await;
    }
    let first = expect_exactly(&mut socket, vec![("unread", unread(2))], &w.x_secrets).await;
    assert!(first.is_empty(), "{first:?}");
    team_a
        .data(SEND, json!({ "t": w.ax1, "c": "warm reply" }))
        .await;
    let warm = expect_exactly(
        &mut socket,
        vec![
            ("all", change_of(w.ax1, "MESSAGE")),
            ("msgs", message_with("warm reply")),
            ("unread", unread(3)),
        ],
        &w.x_secrets,
    )
    .await;
    assert!(warm.is_empty(), "{warm:?}");

    // Everything happening to y's tickets, and to B's `alpha-x`…
    let others = [
        (&team_a, SEND, json!({ "t": w.ay1, "c": "AY-LIVE-reply" })),
        (
            &team_a,
            SEND,
            json!({ "t": w.ay1, "c": "AY-LIVE-customer", "a": "CUSTOMER" }),
        ),
        (
            &team_a,
            SEND,
            json!({ "t": w.ay1, "c": "AY-LIVE-PRIVATE", "p": true }),
        ),
        (
            &team_a,
            UPDATE_PRIORITY,
            json!({ "id": w.ay1, "p": "HIGH" }),
        ),
        (
            &team_a,
            ASSIGN,
            json!({ "id": w.ay1, "a": { "userId": w.a_user } }),
        ),
        (&team_a, READ, json!({ "id": w.ay1, "s": "CUSTOMER" })),
        (&team_a, DELETE, json!({ "id": w.ay1_public })),
        (&team_a, CREATE, json!({ "d": "alpha-y" })),
        (
            &team_b,
            SEND,
            json!({ "t": w.bsx, "c": "BRAVO-LIVE-echidna" }),
        ),
        (&team_b, CREATE, json!({ "d": "alpha-x" })),
        (
            &team_b,
            UPDATE_PRIORITY,
            json!({ "id": w.bsx, "p": "HIGH" }),
        ),
    ];
    for (client, query, vars) in &others {
        client.data(query, vars.clone()).await;
    }
    // …then a change of x's own ticket: the only thing x may hear.
    team_a
        .data(UPDATE_PRIORITY, json!({ "id": w.ax1, "p": "LOW" }))
        .await;
    let problems = expect_exactly(
        &mut socket,
        vec![("all", change_of(w.ax1, "UPDATED"))],
        &w.x_secrets,
    )
    .await;
    failures.extend(verdict(
        "customer x's subscriptions during y's and B's events",
        problems,
    ));

    // A subscription filtered on the text of x's own private note never matches.
    let mut probe = ws::ready(&w.server.ws_url(), &w.x).await;
    for (id, query) in [
        ("search-private", "subscription { ticketChanged(filter: { search: \"AX-PRIVATE-kiwi\" }) { kind ticket { id } } }"),
        ("live", "subscription { ticketChanged { kind ticket { id } } }"),
        ("unread", "subscription { unreadCount }"),
    ] {
        send(&mut probe, subscribe(id, query)).await;
    }
    let first = expect_exactly(&mut probe, vec![("unread", unread(3))], &w.x_secrets).await;
    assert!(first.is_empty(), "{first:?}");
    team_a
        .data(UPDATE_PRIORITY, json!({ "id": w.ax1, "p": "HIGH" }))
        .await;
    let problems = expect_exactly(
        &mut probe,
        vec![("live", change_of(w.ax1, "UPDATED"))],
        &w.x_secrets,
    )
    .await;
    failures.extend(verdict(
        "customer x's ticketChanged(filter: search: own private note)",
        problems,
    ));
    // The main socket heard that change too.
    let heard = expect_exactly(
        &mut socket,
        vec![("all", change_of(w.ax1, "UPDATED"))],
        &w.x_secrets,
    )
    .await;
    assert!(heard.is_empty(), "{heard:?}");

    // Private notes on x's own ticket: x hears nothing of them.
    let private = team_a
        .data(
            SEND,
            json!({ "t": w.ax1, "c": "AX-PRIVATE-LIVE-fig", "p": true }),
        )
        .await["sendMessage"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    team_a.data(DELETE, json!({ "id": w.ax1_private })).await;
    team_a
        .data(UPDATE_PRIORITY, json!({ "id": w.ax1, "p": "MEDIUM" }))
        .await;
    let mut secrets = w.x_secrets.clone();
    secrets.push(private);
    let problems = expect_exactly(
        &mut socket,
        vec![("all", change_of(w.ax1, "UPDATED"))],
        &secrets,
    )
    .await;
    failures.extend(verdict(
        "customer x's ticketChanged on private notes of x's own ticket",
        problems,
    ));
    assert!(failures.is_empty(), "{}", failures.join("\n  "));
}
