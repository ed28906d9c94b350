//! Subscriptions through the real JavaScript clients (graphql-ws, subscriptions-transport-ws)
//! against two `ticketgate` processes on one database: `tests/node/subscriptions.mjs`
//! subscribes on one replica and writes through the other. The protocol details are
//! tested from Rust in `websockets.rs`; this is about what applications actually run.

use ticketgate::auth::viewer::Scope;

use crate::helpers::node::run_checks;
use crate::helpers::replica::Replica;
use crate::helpers::{self, fixtures, test_db};

#[test]
fn node_clients_receive_events_across_replicas() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let [a, b] = [Replica::spawn(&db.url, &[]), Replica::spawn(&db.url, &[])];
    let (ws_a, ws_b, http_a, http_b) = (a.ws(), b.ws(), a.graphql(), b.graphql());
    let env = [
        ("WS_A", ws_a.as_str()),
        ("WS_B", ws_b.as_str()),
        ("HTTP_A", http_a.as_str()),
        ("HTTP_B", http_b.as_str()),
        ("KEY", key.as_str()),
    ];
    // Every check must run (a script that stopped early would report fewer).
    run_checks("subscriptions.mjs", &env, 11);
}

/// urql as the README sets it up (`tests/node/urql.mjs`): fetch for queries and
/// mutations, graphql-ws for subscriptions.
#[test]
fn urql_works_as_the_readme_sets_it_up() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::tickets(&mut db.conn(), team, 2)[0].to_string();
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = Replica::spawn(&db.url, &[]);
    let (http, ws) = (server.graphql(), server.ws());
    let env = [
        ("HTTP", http.as_str()),
        ("WS", ws.as_str()),
        ("KEY", key.as_str()),
        ("TICKET", ticket.as_str()),
    ];
    run_checks("urql.mjs", &env, 2);
}
