//! Test harness: one throwaway PostgreSQL per test run (or TEST_DATABASE_URL), a migrated
//! template database, one database cloned from it per test, and servers on port 0.

#![allow(dead_code)]

pub mod browser;
pub mod client;
pub mod cluster;
pub mod fixtures;
pub mod node;
pub mod otlp;
pub mod pgbouncer;
pub mod replica;
pub mod server;
pub mod snapshots;
pub mod standby;
pub mod ws;

pub use client::Client;
pub use cluster::{test_db, TestDb};
pub use server::TestServer;

use diesel::prelude::*;
use ticketgate::auth::api_keys;
use ticketgate::auth::viewer::Scope;

/// Seeds `tickets` tickets for team `slug` (created when missing) and returns the team id.
pub fn seed(url: &str, slug: &str, tickets: u64) -> uuid::Uuid {
    ticketgate::seed::seed(
        url,
        &ticketgate::seed::SeedOptions {
            team_slug: slug.into(),
            tickets,
            progress: false,
            rng_seed: 7,
        },
    )
    .expect("seed")
    .team_id
}

/// A fresh key for an existing team.
pub fn create_key(url: &str, team_id: uuid::Uuid, scopes: &[Scope]) -> String {
    let mut conn = PgConnection::establish(url).expect("connect");
    api_keys::create(&mut conn, team_id, None, "test", scopes)
        .expect("create key")
        .1
}

/// A fresh key for an existing team, created for `user` (what `assignee: { me: true }`
/// means).
pub fn create_user_key(
    url: &str,
    team_id: uuid::Uuid,
    user: uuid::Uuid,
    scopes: &[Scope],
) -> String {
    let mut conn = PgConnection::establish(url).expect("connect");
    api_keys::create(&mut conn, team_id, Some(user), "test", scopes)
        .expect("create key")
        .1
}

/// The path of the built `ticketgate` binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_ticketgate")
}

/// The SDL as `ticketgate print-schema` prints it (what `schema.graphql` must hold).
pub fn printed_schema() -> String {
    let output = std::process::Command::new(binary())
        .arg("print-schema")
        .output()
        .expect("run `ticketgate print-schema`");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the SDL is UTF-8")
}
