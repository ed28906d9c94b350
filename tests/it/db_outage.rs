//! PostgreSQL crashes under load and comes back: a private cluster (the shared test cluster
//! must stay up for the other tests), its postmaster sent SIGQUIT — what
//! `pg_ctl stop -m immediate` sends — while eight clients write through a server, then
//! started again on the same port three seconds later.
//!
//! Asserted: every failure meanwhile is a clean, prompt `DB_UNAVAILABLE`; `/readyz` says
//! 503 while the database is away and 200 once it is back; every writer succeeds again
//! after the restart; every acknowledged message is stored; a live `messageAdded`
//! subscriber rides the outage out and receives every stored message once, in order. How fast it recovers, per
//! load, is a figure for the log (printed), not an assertion.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::json;
use ticketgate::auth::viewer::Scope;
use ticketgate::db::local_pg::{self, LocalCluster};

use crate::helpers::ws::{self, next_payload, send, subscribe};
use crate::helpers::{self, fixtures, TestServer};

const WRITERS: usize = 8;
const SEND: &str =
    "mutation($t: UUID!, $c: String!) { sendMessage(ticketId: $t, content: $c) { id } }";

/// A cluster of this test's own, with one migrated database.
struct PrivateCluster {
    dir: PathBuf,
    cluster: Option<LocalCluster>,
    /// The handle of the restart: the cluster stops when the last handle goes.
    restarted: Option<LocalCluster>,
    url: String,
}

impl PrivateCluster {
    fn start() -> PrivateCluster {
        let dir = tempfile::Builder::new()
            .prefix("ticketgate-outage-")
            .tempdir_in("/tmp")
            .expect("temp dir")
            .keep();
        let cluster = start_cluster(&dir);
        let admin_url = cluster.url("postgres");
        let mut admin = PgConnection::establish(&admin_url).expect("connect");
        diesel::sql_query("CREATE DATABASE outage")
            .execute(&mut admin)
            .expect("create database");
        let url = cluster.url("outage");
        let mut conn = PgConnection::establish(&url).expect("connect");
        ticketgate::db::migrations::run_pending(&mut conn).expect("migrate");
        PrivateCluster {
            dir,
            cluster: Some(cluster),
            restarted: None,
            url,
        }
    }

    /// What `pg_ctl stop -m immediate` does: SIGQUIT to the postmaster, no checkpoint, every
    /// backend gone at once. Returns once the port refuses connections.
    fn crash(&self) {
        let pid = postmaster_pid(self.cluster().pgdata());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT).expect("SIGQUIT");
        let port = self.cluster().port();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            assert!(Instant::now() < deadline, "PostgreSQL did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the crashed cluster again (crash recovery), on the port it had.
    fn restart(&mut self) {
        let port = self.cluster().port();
        let again = start_cluster(&self.dir);
        assert_eq!(again.port(), port, "the cluster came back on another port");
        self.restarted = Some(again);
    }

    fn cluster(&self) -> &LocalCluster {
        self.cluster.as_ref().expect("cluster")
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        drop(self.cluster.take());
        drop(self.restarted.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A durable cluster (the test clusters' `fsync = off` and `synchronous_commit = off` would
/// rightly lose acknowledged commits in a crash).
fn start_cluster(dir: &Path) -> LocalCluster {
    LocalCluster::start_or_attach(dir, &local_pg::cluster_options(false))
        .expect("start a private PostgreSQL")
}

fn postmaster_pid(pgdata: &Path) -> nix::unistd::Pid {
    let text = std::fs::read_to_string(pgdata.join("postmaster.pid")).expect("postmaster.pid");
    let pid: i32 = text
        .lines()
        .next()
        .and_then(|line| line.trim().parse().ok())
        .expect("a pid");
    nix::unistd::Pid::from_raw(pid)
}

/// What one writer saw.
#[derive(Default)]
struct Outcomes {
    acknowledged: Vec<String>,
    codes: BTreeSet<String>,
    slowest_failure: Duration,
    success_after_restart: bool,
    /// When this writer's first request sent after the restart succeeded.
    first_success_after_restart: Option<Instant>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_crash_under_load_is_clean_and_recovers() {
    let mut pg = PrivateCluster::start();
    let team = fixtures::team(
        &mut PgConnection::establish(&pg.url).expect("connect"),
        "acme",
    );
    let ticket = fixtures::tickets(&mut PgConnection::establish(&pg.url).expect("c"), team, 1)[0];
    let key = helpers::create_key(&pg.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::builder(&pg.url)
        .options(|options| options.pool_size = 8)
        .start();
    let client = server.client(&key);
    // The key is cached from here on: the outage is the database's, not the key check's.
    client
        .data("{ tickets(first: 1) { totalCount } }", json!({}))
        .await;
    let received = listen(&server, &key, ticket, &client).await;

    let restarted: Arc<Mutex<Option<Instant>>> = Arc::default();
    let stop = Instant::now() + Duration::from_secs(60);
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let client = server.client(&key);
        let (restarted, done) = (restarted.clone(), done.clone());
        writers.push(tokio::spawn(async move {
            let mut seen = Outcomes::default();
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::Acquire) && Instant::now() < stop {
                n += 1;
                let content = format!("w{writer}-{n}");
                let sent = Instant::now();
                let (status, body) = client
                    .post(SEND, json!({ "t": ticket, "c": content }))
                    .await;
                // A failed mutation that wrote nothing is a 503 (retry later), else a 200.
                let code = body["errors"][0]["extensions"]["code"].as_str();
                assert!(
                    status == 200 || (status == 503 && code == Some("DB_UNAVAILABLE")),
                    "{status} {body}"
                );
                match code {
                    None => {
                        assert!(body["data"]["sendMessage"]["id"].is_string(), "{body}");
                        seen.acknowledged.push(content);
                        let back = *restarted.lock().expect("lock");
                        if back.is_some_and(|back| sent >= back) {
                            seen.success_after_restart = true;
                            seen.first_success_after_restart
                                .get_or_insert_with(Instant::now);
                        }
                    }
                    Some(code) => {
                        seen.codes.insert(code.to_string());
                        seen.slowest_failure = seen.slowest_failure.max(sent.elapsed());
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            seen
        }));
    }

    tokio::time::sleep(Duration::from_millis(800)).await;
    tokio::task::block_in_place(|| pg.crash());
    let away = readyz(&server).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let away_later = readyz(&server).await;
    tokio::task::block_in_place(|| pg.restart());
    *restarted.lock().expect("lock") = Some(Instant::now());
    // Until every writer has succeeded again (or the minute is up), then a little more.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut back = 0;
    while Instant::now() < deadline {
        back = readyz(&server).await;
        if back == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    done.store(true, std::sync::atomic::Ordering::Release);

    let mut acknowledged = BTreeSet::new();
    let mut first_back: Option<Instant> = None;
    for writer in writers {
        let seen = writer.await.expect("writer");
        first_back = match (first_back, seen.first_success_after_restart) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        assert!(
            seen.codes.iter().all(|code| code == "DB_UNAVAILABLE"),
            "only DB_UNAVAILABLE while the database is away: {:?}",
            seen.codes
        );
        assert!(
            seen.slowest_failure < Duration::from_secs(6),
            "a failure took {:?}: requests must fail promptly",
            seen.slowest_failure
        );
        assert!(
            seen.success_after_restart,
            "a writer never succeeded after the restart"
        );
        acknowledged.extend(seen.acknowledged);
    }
    let restart = (*restarted.lock().expect("lock")).expect("restarted");
    // A figure for the log, not an assertion: timings belong in benchmarks.
    eprintln!(
        "first success {:?} after PostgreSQL was ready again",
        first_back.map(|at| at.duration_since(restart))
    );
    assert_eq!(away, 503, "/readyz while the database is away");
    assert_eq!(away_later, 503, "/readyz while the database is still away");
    assert_eq!(back, 200, "/readyz once the database is back");

    // In commit order: messages of one ticket are written one at a time (the ticket is
    // locked), each after the last.
    let stored: Vec<String> = {
        use ticketgate::db::schema::messages;
        let mut conn = PgConnection::establish(&pg.url).expect("connect");
        messages::table
            .filter(messages::ticket_id.eq(ticket))
            .order((messages::created_at, messages::id))
            .select(messages::content)
            .load::<String>(&mut conn)
            .expect("messages")
    };
    let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
    let lost: Vec<&String> = acknowledged.difference(&stored_set).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");

    // The subscriber: every stored message once, in commit order (it may lag a little).
    let deadline = Instant::now() + Duration::from_secs(20);
    while received.lock().expect("lock").messages.len() < stored.len() && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let heard = received.lock().expect("lock");
    assert_eq!(heard.ended, None, "the subscription ended");
    assert_eq!(
        heard.messages, stored,
        "the subscriber's messages against the stored ones"
    );
    drop(server);
}

async fn readyz(server: &TestServer) -> u16 {
    reqwest::Client::new()
        .get(server.url("/readyz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map(|response| response.status().as_u16())
        .unwrap_or(0)
}

/// What the live subscriber heard.
#[derive(Default)]
struct Heard {
    messages: Vec<String>,
    /// Why the subscription ended, if it did.
    ended: Option<String>,
}

/// A `messageAdded` subscriber on `ticket`, live once a first message came through.
async fn listen(
    server: &TestServer,
    key: &str,
    ticket: uuid::Uuid,
    client: &helpers::Client,
) -> Arc<Mutex<Heard>> {
    let mut socket = ws::ready(&server.ws_url(), key).await;
    let query = format!("subscription {{ messageAdded(ticketId: \"{ticket}\") {{ content }} }}");
    send(&mut socket, subscribe("m", &query)).await;
    client
        .data(SEND, json!({ "t": ticket, "c": "warm-up" }))
        .await;
    let first = next_payload(&mut socket, "m").await;
    let heard = Arc::new(Mutex::new(Heard {
        messages: vec![first["data"]["messageAdded"]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string()],
        ended: None,
    }));
    let hearing = heard.clone();
    tokio::spawn(async move {
        use futures_util::StreamExt;
        while let Some(Ok(message)) = socket.next().await {
            let tokio_tungstenite::tungstenite::Message::Text(text) = message else {
                continue;
            };
            let message: serde_json::Value = serde_json::from_str(&text).expect("json");
            let mut heard = hearing.lock().expect("lock");
            match message["type"].as_str() {
                Some("next") => {
                    match message["payload"]["data"]["messageAdded"]["content"].as_str() {
                        Some(content) => heard.messages.push(content.to_string()),
                        None => heard.ended = Some(message.to_string()),
                    }
                }
                Some("ping" | "pong") => {}
                _ => heard.ended = Some(message.to_string()),
            }
        }
        let mut heard = hearing.lock().expect("lock");
        heard
            .ended
            .get_or_insert_with(|| "the socket closed".into());
    });
    heard
}
