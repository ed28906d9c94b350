//! Reads on a real hot standby (`pg_basebackup -R`, streaming): queries reach it (its
//! statistics show it), a caller reads its own write at once even while the standby's
//! replay is paused, another caller keeps reading the (stale) standby, a stopped standby
//! leaves rotation within 2 s with every read still answered, and it comes back by itself.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::fixtures;
use crate::helpers::replica::Replica;
use crate::helpers::standby::Replication;
use crate::helpers::{self, Client};

const DATABASE: &str = "tg_replicas";
const STATUS: &str = "query($id: UUID!) { ticket(id: $id) { status } }";
const SET_STATUS: &str = "mutation($id: UUID!, $s: TicketStatus!) { \
     updateTicket(id: $id, input: { status: $s }) { status } }";

async fn readyz(server: &Replica) -> (u16, String) {
    let response = reqwest::get(format!("http://{}/readyz", server.addr()))
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn until_ready_says(server: &Replica, text: &str, wait: Duration) -> String {
    let started = Instant::now();
    loop {
        let (status, body) = readyz(server).await;
        if status == 200 && body.contains(text) {
            return body;
        }
        assert!(
            started.elapsed() < wait,
            "/readyz never said `{text}`: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Index and sequential scans of `tickets` on the standby (what reads of tickets cost it).
fn standby_ticket_scans(url: &str) -> i64 {
    let mut conn = PgConnection::establish(url).expect("standby");
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT coalesce(idx_scan, 0) + coalesce(seq_scan, 0) \
          FROM pg_stat_user_tables WHERE relname = 'tickets')",
    ))
    .get_result(&mut conn)
    .expect("standby statistics")
}

async fn status(client: &Client, ticket: uuid::Uuid) -> Value {
    client.data(STATUS, json!({ "id": ticket })).await["ticket"]["status"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_use_the_standby_with_read_your_writes_and_survive_its_outage() {
    let mut replication = Replication::start(DATABASE);
    let primary_url = replication.primary.url(DATABASE);
    let standby_url = replication.standby().url(DATABASE);
    let server = Replica::spawn(
        &primary_url,
        &[
            ("DATABASE_READ_URL", standby_url.as_str()),
            ("TICKETGATE_MAX_REPLICA_LAG", "30"),
        ],
    );
    let mut conn = PgConnection::establish(&primary_url).unwrap();
    let team = fixtures::team(&mut conn, "acme");
    let tickets = fixtures::tickets(&mut conn, team, 3);
    let writer = Client::new(
        server.graphql(),
        &helpers::create_key(&primary_url, team, &[Scope::Read, Scope::Write]),
    );
    let reader = Client::new(
        server.graphql(),
        &helpers::create_key(&primary_url, team, &[Scope::Read]),
    );
    replication.caught_up(DATABASE);
    until_ready_says(&server, "in rotation", Duration::from_secs(10)).await;

    // Reads reach the standby: its statistics count them.
    let scans = standby_ticket_scans(&standby_url);
    for _ in 0..20 {
        reader
            .data(
                "{ tickets(first: 5) { nodes { ticketNumber } } }",
                json!({}),
            )
            .await;
    }
    let started = Instant::now();
    while standby_ticket_scans(&standby_url) < scans + 20 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the standby counted no reads"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Replay paused: the writer reads its write at once; another key reads the standby.
    let ticket = tickets[0];
    let before = status(&reader, ticket).await;
    let mut standby = PgConnection::establish(&standby_url).unwrap();
    diesel::sql_query("SELECT pg_wal_replay_pause()")
        .execute(&mut standby)
        .unwrap();
    let target = if before == "PENDING" {
        "OPEN"
    } else {
        "PENDING"
    };
    let written = writer
        .data(SET_STATUS, json!({ "id": ticket, "s": target }))
        .await;
    assert_eq!(written["updateTicket"]["status"], target);
    assert_eq!(
        status(&writer, ticket).await,
        target,
        "the writer reads its own write"
    );
    assert_eq!(
        status(&reader, ticket).await,
        before,
        "another key reads the paused standby"
    );
    diesel::sql_query("SELECT pg_wal_replay_resume()")
        .execute(&mut standby)
        .unwrap();
    drop(standby);
    replication.caught_up(DATABASE);
    let started = Instant::now();
    while status(&reader, ticket).await != target {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the standby never showed the write"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The standby stops: within 2 s every read is answered (by the primary), and /readyz
    // stays ready, saying so.
    replication.stop_standby();
    let stopped = Instant::now();
    let mut last_failure = None;
    while stopped.elapsed() < Duration::from_secs(4) {
        let (code, body) = reader.post(STATUS, json!({ "id": ticket })).await;
        if code != 200 || body.get("errors").is_some() {
            last_failure = Some((stopped.elapsed(), body));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some((at, body)) = &last_failure {
        assert!(
            *at < Duration::from_secs(2),
            "a read failed {at:?} after the stop: {body}"
        );
    }
    let body = until_ready_says(&server, "out of rotation", Duration::from_secs(2)).await;
    assert!(body.starts_with("ready"), "{body}");
    let metrics = reqwest::get(format!("http://{}/metrics", server.addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.lines().any(|line| line.starts_with("ticketgate_replica_in_rotation{")
            && line.ends_with(" 0")),
        "{metrics}"
    );

    // Started again, it is used again by itself.
    replication.start_standby();
    until_ready_says(&server, "in rotation", Duration::from_secs(15)).await;
    replication.caught_up(DATABASE);
    let scans = standby_ticket_scans(&standby_url);
    let started = Instant::now();
    loop {
        reader
            .data(
                "{ tickets(first: 5) { nodes { ticketNumber } } }",
                json!({}),
            )
            .await;
        if standby_ticket_scans(&standby_url) > scans {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the standby took no reads again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A standby whose replay stalls falls out of rotation once it is further behind than
/// `TICKETGATE_MAX_REPLICA_LAG`: then every caller reads the primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_too_far_behind_leaves_rotation_until_it_catches_up() {
    let replication = Replication::start(DATABASE);
    let primary_url = replication.primary.url(DATABASE);
    let standby_url = replication.standby().url(DATABASE);
    let server = Replica::spawn(
        &primary_url,
        &[
            ("DATABASE_READ_URL", standby_url.as_str()),
            ("TICKETGATE_MAX_REPLICA_LAG", "1"),
        ],
    );
    let mut conn = PgConnection::establish(&primary_url).unwrap();
    let team = fixtures::team(&mut conn, "acme");
    let ticket = fixtures::tickets(&mut conn, team, 1)[0];
    let writer = Client::new(
        server.graphql(),
        &helpers::create_key(&primary_url, team, &[Scope::Read, Scope::Write]),
    );
    let reader = Client::new(
        server.graphql(),
        &helpers::create_key(&primary_url, team, &[Scope::Read]),
    );
    replication.caught_up(DATABASE);
    until_ready_says(&server, "in rotation", Duration::from_secs(10)).await;

    let mut standby = PgConnection::establish(&standby_url).unwrap();
    diesel::sql_query("SELECT pg_wal_replay_pause()")
        .execute(&mut standby)
        .unwrap();
    let before = status(&reader, ticket).await;
    let target = if before == "PENDING" {
        "OPEN"
    } else {
        "PENDING"
    };
    writer
        .data(SET_STATUS, json!({ "id": ticket, "s": target }))
        .await;
    // At first the other key still reads the paused standby…
    assert_eq!(status(&reader, ticket).await, before);
    // …until it is more than a second behind: then it is out, and reads see the write.
    let body = until_ready_says(&server, "behind the primary", Duration::from_secs(5)).await;
    assert!(body.contains("out of rotation"), "{body}");
    assert_eq!(status(&reader, ticket).await, target);
    diesel::sql_query("SELECT pg_wal_replay_resume()")
        .execute(&mut standby)
        .unwrap();
    until_ready_says(&server, "in rotation", Duration::from_secs(10)).await;
}
