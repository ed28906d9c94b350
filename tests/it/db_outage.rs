//! PostgreSQL crashes under load and comes back: a private cluster (the shared test cluster
//! must stay up for the other tests), its postmaster sent SIGQUIT — what
//! `pg_ctl stop -m immediate` sends — while eight clients write through two replicas (real
//! `ticketgate serve` processes), then started again on the same port three seconds later.
//!
//! Asserted: every failure meanwhile is a clean, prompt `DB_UNAVAILABLE`; `/readyz` says
//! 503 while the database is away and 200 once it is back, on both replicas; every writer
//! succeeds again after the restart; every acknowledged message is stored; a live
//! `messageAdded` subscriber on each replica rides the outage out (the event listener
//! loses its connection and comes back) and receives every stored message once, in order;
//! a client that dropped its subscription during the outage resumes from its last
//! position on the other replica and gets exactly what it missed. How fast it recovers is
//! a figure for the log and for `bench/recovery.py`, not an assertion. Also: a replica
//! started while the database is down waits, says so, and serves once it is up.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::json;
use ticketgate::auth::viewer::Scope;
use ticketgate::db::local_pg::{self, LocalCluster};

use crate::helpers::replica::Replica;
use crate::helpers::ws::{self, message_added, next_payload, send, subscribe};
use crate::helpers::{self, fixtures, Client};

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
async fn a_database_crash_under_load_is_clean_and_recovers_on_both_replicas() {
    let mut pg = PrivateCluster::start();
    let mut conn = PgConnection::establish(&pg.url).expect("connect");
    let team = fixtures::team(&mut conn, "acme");
    let ticket = fixtures::tickets(&mut conn, team, 1)[0];
    let key = helpers::create_key(&pg.url, team, &[Scope::Read, Scope::Write]);
    let env = [("TICKETGATE_POOL_SIZE", "8")];
    let replicas = [Replica::spawn(&pg.url, &env), Replica::spawn(&pg.url, &env)];
    let clients: Vec<Client> = replicas
        .iter()
        .map(|replica| Client::new(replica.graphql(), &key))
        .collect();
    // Keys are cached from here on: the outage is the database's, not the key check's.
    for client in &clients {
        client
            .data("{ tickets(first: 1) { totalCount } }", json!({}))
            .await;
    }
    let hearing = listen(&replicas, &key, ticket, &clients[0]).await;
    let resumer = Resumer::start(&replicas[0], &key, ticket).await;

    let restarted: Arc<Mutex<Option<Instant>>> = Arc::default();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let client = clients[writer % 2].clone();
            tokio::spawn(write_until_done(
                client,
                ticket,
                writer,
                restarted.clone(),
                done.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(800)).await;
    tokio::task::block_in_place(|| pg.crash());
    // The resuming client loses its subscription while the database is away.
    let last_seen = resumer.stop().await;
    let away = readyz_all(&replicas).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let away_later = readyz_all(&replicas).await;
    tokio::task::block_in_place(|| pg.restart());
    *restarted.lock().expect("lock") = Some(Instant::now());
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut back = readyz_all(&replicas).await;
    while back != [200, 200] && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        back = readyz_all(&replicas).await;
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
    assert_eq!(away, [503, 503], "/readyz while the database is away");
    assert_eq!(away_later, [503, 503], "/readyz while it is still away");
    assert_eq!(back, [200, 200], "/readyz once the database is back");

    let stored = stored_messages(&pg.url, ticket);
    let stored_set: BTreeSet<String> = stored.iter().cloned().collect();
    let lost: Vec<&String> = acknowledged.difference(&stored_set).collect();
    assert!(lost.is_empty(), "acknowledged but not stored: {lost:?}");

    // Each live subscriber: every stored message once, in commit order (it may lag).
    // (From the warm-up message it heard first: earlier warm-ups came before it listened.)
    for (replica, heard) in hearing.iter().enumerate() {
        let first = heard.lock().expect("lock").messages[0].clone();
        let from = stored
            .iter()
            .position(|message| *message == first)
            .expect("the first message heard is stored");
        let expected = &stored[from..];
        let deadline = Instant::now() + Duration::from_secs(20);
        while heard.lock().expect("lock").messages.len() < expected.len()
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let heard = heard.lock().expect("lock");
        assert_eq!(heard.ended, None, "replica {replica}'s subscription ended");
        assert_eq!(
            heard.messages, expected,
            "replica {replica}'s subscriber against the stored messages"
        );
    }

    // The resuming client, on the other replica: exactly what came after its position.
    let (content, position) = last_seen;
    let seen_up_to = stored
        .iter()
        .position(|stored| *stored == content)
        .expect("the resumer's last message is stored");
    let missed = &stored[seen_up_to + 1..];
    let resumed = resume(&replicas[1], &key, ticket, &position, missed.len()).await;
    assert_eq!(resumed, missed, "a resume gets exactly what it missed");
}

/// Starts serving only once the database answers: a replica started while it is down
/// waits (and says so in its log), then serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_started_while_the_database_is_down_waits_then_serves() {
    let mut pg = PrivateCluster::start();
    let team = fixtures::team(&mut PgConnection::establish(&pg.url).expect("c"), "acme");
    let key = helpers::create_key(&pg.url, team, &[Scope::Read, Scope::Write]);
    tokio::task::block_in_place(|| pg.crash());
    let mut starting = Replica::launch(&pg.url, &[]);
    let said = starting.line_with("waiting for it before serving", Duration::from_secs(20));
    assert!(said.is_some(), "the replica says it waits for the database");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(starting.running(), "it waits rather than exits");
    tokio::task::block_in_place(|| pg.restart());
    let replica = tokio::task::block_in_place(|| starting.ready(Duration::from_secs(30)));
    assert_eq!(readyz(&replica.base).await, 200);
    let client = Client::new(replica.graphql(), &key);
    let created = client
        .data(
            "mutation { createTicket(input: { distinctId: \"v\", message: \"hi\" }) { ticketNumber } }",
            json!({}),
        )
        .await;
    assert_eq!(created["createTicket"]["ticketNumber"], 1);
}

/// Sends messages until `done`, through one replica; what it saw.
async fn write_until_done(
    client: Client,
    ticket: uuid::Uuid,
    writer: usize,
    restarted: Arc<Mutex<Option<Instant>>>,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> Outcomes {
    let stop = Instant::now() + Duration::from_secs(60);
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
}

/// The ticket's messages in commit order: one ticket's messages are written one at a
/// time (the ticket is locked), each after the last.
fn stored_messages(url: &str, ticket: uuid::Uuid) -> Vec<String> {
    use ticketgate::db::schema::messages;
    let mut conn = PgConnection::establish(url).expect("connect");
    messages::table
        .filter(messages::ticket_id.eq(ticket))
        .order((messages::created_at, messages::id))
        .select(messages::content)
        .load::<String>(&mut conn)
        .expect("messages")
}

async fn readyz_all(replicas: &[Replica; 2]) -> [u16; 2] {
    [
        readyz(&replicas[0].base).await,
        readyz(&replicas[1].base).await,
    ]
}

async fn readyz(base: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/readyz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map(|response| response.status().as_u16())
        .unwrap_or(0)
}

/// What a live subscriber heard.
#[derive(Default)]
struct Heard {
    messages: Vec<String>,
    /// Why the subscription ended, if it did.
    ended: Option<String>,
}

/// A `messageAdded` subscriber on `ticket` on each replica, live once a first message
/// came through on both.
async fn listen(
    replicas: &[Replica; 2],
    key: &str,
    ticket: uuid::Uuid,
    client: &Client,
) -> Vec<Arc<Mutex<Heard>>> {
    let mut sockets = Vec::new();
    for replica in replicas {
        let mut socket = ws::ready(&replica.ws(), key).await;
        send(&mut socket, subscribe("m", &message_added(ticket, None))).await;
        sockets.push(socket);
    }
    // A subscription gives no sign that it listens: warm-up messages until each socket has
    // received one (on a loaded machine the first may come before a subscription is in).
    let mut firsts: Vec<Option<String>> = vec![None; sockets.len()];
    for attempt in 0..50 {
        client
            .data(
                SEND,
                json!({ "t": ticket, "c": format!("warm-up {attempt}") }),
            )
            .await;
        for (socket, first) in sockets.iter_mut().zip(firsts.iter_mut()) {
            if first.is_some() {
                continue;
            }
            let waited =
                tokio::time::timeout(Duration::from_millis(300), next_payload(socket, "m"));
            if let Ok(payload) = waited.await {
                let content = payload["data"]["messageAdded"]["content"].as_str();
                *first = Some(content.unwrap_or_default().to_string());
            }
        }
        if firsts.iter().all(Option::is_some) {
            break;
        }
    }
    let mut hearing = Vec::new();
    for (socket, first) in sockets.into_iter().zip(firsts) {
        let first = first.expect("every subscriber heard a warm-up message");
        let heard = Arc::new(Mutex::new(Heard {
            messages: vec![first],
            ended: None,
        }));
        tokio::spawn(hear(socket, heard.clone()));
        hearing.push(heard);
    }
    hearing
}

async fn hear(mut socket: ws::Ws, heard: Arc<Mutex<Heard>>) {
    use futures_util::StreamExt;
    while let Some(Ok(message)) = socket.next().await {
        let tokio_tungstenite::tungstenite::Message::Text(text) = message else {
            continue;
        };
        let message: serde_json::Value = serde_json::from_str(&text).expect("json");
        let mut heard = heard.lock().expect("lock");
        match message["type"].as_str() {
            Some("next") => match message["payload"]["data"]["messageAdded"]["content"].as_str() {
                Some(content) => heard.messages.push(content.to_string()),
                None => heard.ended = Some(message.to_string()),
            },
            Some("ping" | "pong") => {}
            _ => heard.ended = Some(message.to_string()),
        }
    }
    let mut heard = heard.lock().expect("lock");
    heard
        .ended
        .get_or_insert_with(|| "the socket closed".into());
}

/// A subscriber that keeps the last message it saw and its position, until stopped.
struct Resumer {
    last: Arc<Mutex<Option<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Resumer {
    async fn start(replica: &Replica, key: &str, ticket: uuid::Uuid) -> Resumer {
        let mut socket = ws::ready(&replica.ws(), key).await;
        send(&mut socket, subscribe("r", &message_added(ticket, None))).await;
        let last: Arc<Mutex<Option<(String, String)>>> = Arc::default();
        let keeping = last.clone();
        let task = tokio::spawn(async move {
            loop {
                let payload = next_payload(&mut socket, "r").await;
                let message = &payload["data"]["messageAdded"];
                let (Some(content), Some(position)) = (
                    message["content"].as_str(),
                    message["eventPosition"].as_str(),
                ) else {
                    panic!("unexpected {payload}");
                };
                *keeping.lock().expect("lock") = Some((content.into(), position.into()));
            }
        });
        Resumer { last, task }
    }

    /// Drops the subscription (and its socket); the last message seen and its position.
    async fn stop(self) -> (String, String) {
        self.task.abort();
        let _ = self.task.await;
        let last = self.last.lock().expect("lock").clone();
        last.expect("the resumer saw a message before the outage")
    }
}

/// Subscribes on `replica` from `position` and reads `count` messages, then checks that
/// nothing more comes.
async fn resume(
    replica: &Replica,
    key: &str,
    ticket: uuid::Uuid,
    position: &str,
    count: usize,
) -> Vec<String> {
    let mut socket = ws::ready(&replica.ws(), key).await;
    send(
        &mut socket,
        subscribe("r", &message_added(ticket, Some(position))),
    )
    .await;
    let mut contents = Vec::new();
    for _ in 0..count {
        let payload = next_payload(&mut socket, "r").await;
        let content = payload["data"]["messageAdded"]["content"].as_str();
        contents.push(content.unwrap_or_else(|| panic!("{payload}")).to_string());
    }
    assert!(
        ws::silent_for(&mut socket, Duration::from_millis(500)).await,
        "nothing more after what was missed"
    );
    contents
}
