//! Subscriptions through the real JavaScript clients (graphql-ws, subscriptions-transport-ws)
//! against two `ticketgate` processes on one database: `tests/node/subscriptions.mjs`
//! subscribes on one replica and writes through the other. The protocol details are
//! tested from Rust in `websockets.rs`; this is about what applications actually run.

use std::process::Command;

use serde_json::Value;
use ticketgate::auth::viewer::Scope;

use crate::graphql_http::node_modules;
use crate::helpers::replica::Replica;
use crate::helpers::{self, fixtures, test_db};

#[test]
fn node_clients_receive_events_across_replicas() {
    let dir = node_modules();
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let [a, b] = [Replica::spawn(&db.url, &[]), Replica::spawn(&db.url, &[])];
    let output = Command::new("node")
        .arg("subscriptions.mjs")
        .current_dir(dir)
        .env("WS_A", a.ws())
        .env("WS_B", b.ws())
        .env("HTTP_A", a.graphql())
        .env("HTTP_B", b.graphql())
        .env("KEY", &key)
        .output()
        .expect("run node subscriptions.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: Value = stdout
        .lines()
        .find_map(|line| line.strip_prefix("NODE_JSON "))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_else(|| panic!("no summary from subscriptions.mjs:\n{stdout}\n{stderr}"));
    assert_eq!(summary["failed"], 0, "\n{stdout}\n{stderr}");
    assert!(output.status.success(), "\n{stdout}\n{stderr}");
    // Every check ran (a script that stopped early would report fewer).
    assert!(summary["passed"].as_u64() >= Some(11), "\n{stdout}");
}

/// urql as the README sets it up (`tests/node/urql.mjs`): fetch for queries and
/// mutations, graphql-ws for subscriptions.
#[test]
fn urql_works_as_the_readme_sets_it_up() {
    let dir = node_modules();
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::tickets(&mut db.conn(), team, 2)[0];
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = Replica::spawn(&db.url, &[]);
    let output = Command::new("node")
        .arg("urql.mjs")
        .current_dir(dir)
        .env("HTTP", server.graphql())
        .env("WS", server.ws())
        .env("KEY", &key)
        .env("TICKET", ticket.to_string())
        .output()
        .expect("run node urql.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains(r#"NODE_JSON {"passed":2,"failed":0"#),
        "\n{stdout}\n{stderr}"
    );
    assert!(output.status.success(), "\n{stdout}\n{stderr}");
}
