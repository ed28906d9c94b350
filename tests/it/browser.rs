//! The pages the server serves, in a real browser: Debian's Chromium driven by
//! playwright-core from `tests/node/graphiql.mjs` and `tests/node/inbox.mjs` (see
//! `browser-lib.mjs`). Each script checks that no request leaves 127.0.0.1 and prints a
//! `NODE_JSON` summary; a script that stops early reports too few passed checks.

use std::process::Command;

use serde_json::Value;
use ticketgate::auth::viewer::Scope;

use crate::graphql_http::node_modules;
use crate::helpers::{self, browser, fixtures, test_db, TestServer};

/// Runs `script` in `tests/node` with `env`; asserts that every check passed and that at
/// least `min_passed` ran.
fn run_script(script: &str, env: &[(&str, &str)], min_passed: u64) {
    let dir = node_modules();
    let chromium = browser::chromium();
    let started = std::time::Instant::now();
    let output = Command::new("node")
        .arg(script)
        .current_dir(dir)
        .env("CHROMIUM", chromium)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|err| panic!("run node {script}: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{script} took {:?}\n{stdout}", started.elapsed());
    let summary: Value = stdout
        .lines()
        .find_map(|line| line.strip_prefix("NODE_JSON "))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_else(|| panic!("no summary from {script}:\n{stdout}\n{stderr}"));
    assert_eq!(summary["failed"], 0, "\n{stdout}\n{stderr}");
    assert!(output.status.success(), "\n{stdout}\n{stderr}");
    assert!(
        summary["passed"].as_u64() >= Some(min_passed),
        "{script} stopped early:\n{stdout}\n{stderr}"
    );
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
