//! The pages the server serves, in a real browser: Debian's Chromium driven by
//! playwright-core from `tests/node/graphiql.mjs` and `tests/node/inbox.mjs` (see
//! `browser-lib.mjs`). Each script checks that no request leaves 127.0.0.1 and prints a
//! `NODE_JSON` summary; a script that stops early reports too few passed checks.

use ticketgate::auth::viewer::Scope;

use crate::helpers::node::run_checks;
use crate::helpers::{self, browser, fixtures, test_db, TestServer};

/// Runs `script` in `tests/node` with `env` and the browser; asserts that every check
/// passed and that at least `min_passed` ran.
fn run_script(script: &str, env: &[(&str, &str)], min_passed: u64) {
    let chromium = browser::chromium().display().to_string();
    let mut env = env.to_vec();
    env.push(("CHROMIUM", &chromium));
    run_checks(script, &env, min_passed);
}

#[test]
fn graphiql_runs_queries_and_subscriptions_in_a_browser() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 3);
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    // Default limits: GraphiQL's introspection query must pass them (issue 16's bug).
    let server = TestServer::start(&db.url);
    run_script(
        "graphiql.mjs",
        &[("BASE", &server.url("")), ("KEY", &key)],
        6,
    );
}

#[test]
fn the_inbox_is_live_in_two_browser_pages() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::tickets(&mut db.conn(), team, 3)[0];
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    run_script(
        "inbox.mjs",
        &[
            ("BASE", &server.url("")),
            ("KEY", &key),
            ("TICKET_ID", &ticket.to_string()),
        ],
        8,
    );
}
