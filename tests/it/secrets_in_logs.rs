//! No credential ever reaches a log line: a real `ticketgate serve` at `debug` level, fed
//! good, revoked, wrong, tampered and expired keys and customer tokens over HTTP and
//! websockets (including `connection_init`), failing mutations and a database error;
//! then its whole stderr (and stdout) is searched for every key and token used, the
//! customer-token secret and the database password. The CLI gets the same check.
//!
//! (`helpers::replica::Replica` would take `TICKETGATE_LOG=debug` — `Command::env` keeps
//! the last value given for a name, and Replica applies its `env` list after its own
//! `warn` — but it discards stderr, so the process is started here.)

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use serde_json::json;
use ticketgate::auth::viewer::Scope;

use crate::helpers::fixtures::{self, MessageSpec, TicketSpec};
use crate::helpers::replica::serve_command;
use crate::helpers::server::{customer_token, TEST_TOKEN_SECRET};
use crate::helpers::ws::{self, closed, init, next_payload, send, subscribe, LEGACY, MODERN};
use crate::helpers::{self, test_db, Client};

/// A `ticketgate serve` process whose every output line is kept.
struct LoggedServer {
    child: Child,
    base: String,
    lines: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
}

fn token_secret() -> &'static str {
    std::str::from_utf8(TEST_TOKEN_SECRET).expect("utf-8 secret")
}

impl LoggedServer {
    fn spawn(db_url: &str) -> LoggedServer {
        let mut child = serve_command(db_url)
            .env("TICKETGATE_LOG", "debug")
            .env("TICKETGATE_WORKERS", "2")
            .env("TICKETGATE_RATE_LIMIT_PER_SECOND", "0")
            .env("TICKETGATE_TOKEN_SECRET", token_secret())
            // Key usage is written (and could be logged) within the test.
            .env("TICKETGATE_KEY_USAGE_FLUSH_SECS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ticketgate");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().expect("stderr");
        let stdout = child.stdout.take().expect("stdout");
        let keep = |stream: Box<dyn Read + Send>, tx: mpsc::Sender<String>| {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(url) = line.split("GraphQL endpoint:").nth(1) {
                        let _ = tx.send(url.trim().trim_end_matches("/graphql").to_string());
                    }
                    lines.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            })
        };
        let readers = vec![
            keep(Box::new(stderr), tx.clone()),
            keep(Box::new(stdout), tx),
        ];
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("ticketgate did not start");
        LoggedServer {
            child,
            base,
            lines,
            readers,
        }
    }

    fn graphql(&self) -> String {
        format!("{}/graphql", self.base)
    }

    fn ws(&self) -> String {
        format!("{}/graphql", self.base.replacen("http", "ws", 1))
    }

    /// Stops the process (SIGINT, then SIGKILL after 15 s) and returns everything it wrote.
    fn stop(mut self) -> Vec<String> {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.wait();
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for LoggedServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The password of a `postgres://user:password@host/…` URL, if it has one.
fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    let password = userinfo.split_once(':')?.1;
    (!password.is_empty()).then(|| password.to_string())
}

/// What must never be logged about a credential: all of it, and its secret part alone
/// (a key's body after its public prefix, a token's signature).
fn fragments(credential: &str) -> Vec<String> {
    let mut found = vec![credential.to_string()];
    if let Some(body) = credential.strip_prefix("tg_") {
        if body.len() > 12 {
            found.push(body[6..].to_string());
        }
    }
    if let Some((_, signature)) = credential.rsplit_once('.') {
        if signature.len() >= 16 {
            found.push(signature.to_string());
        }
    }
    found
}

/// Every line holding any secret, with the secret's name.
fn offending(lines: &[String], secrets: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for line in lines {
        for (name, secret) in secrets {
            if line.contains(secret.as_str()) {
                found.push(format!("{name}: {line}"));
            }
        }
    }
    found
}

/// The close code of a connection refused at `connection_init` (the legacy protocol says
/// `connection_error` first).
async fn refused_at_init(url: &str, protocol: &str, credential: &str) -> u16 {
    use tokio_tungstenite::tungstenite::Message;
    let mut socket = ws::connect(url, protocol).await;
    send(&mut socket, init(credential)).await;
    loop {
        match ws::next(&mut socket).await {
            Some(Message::Text(text)) if protocol == LEGACY => {
                assert!(text.contains("connection_error"), "{text}");
            }
            Some(Message::Close(Some(frame))) => return u16::from(frame.code),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_key_token_or_password_reaches_the_server_log() {
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "logteam");
    let ticket = fixtures::insert_ticket(
        &mut conn,
        team,
        &TicketSpec {
            distinct_id: "alice".into(),
            ..TicketSpec::default()
        },
    );
    fixtures::message(&mut conn, team, ticket, &MessageSpec::default());
    let good = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let read_only = helpers::create_key(&db.url, team, &[Scope::Read]);
    let to_revoke = helpers::create_key(&db.url, team, &[Scope::Read]);
    let wrong = format!("tg_{}", "Zq3".repeat(15)); // well-formed, unknown
    let garbage = "sk_live_this-is-not-a-ticketgate-key-0123456789".to_string();
    let customer = customer_token(team, "alice", 600);
    let expired = customer_token(team, "alice", -30);
    let (payload, signature) = customer.rsplit_once('.').unwrap();
    let tampered = format!("{payload}x.{signature}");
    let foreign = ticketgate::auth::customer_tokens::TokenSecret::new(&[9u8; 40])
        .unwrap()
        .mint(
            team,
            "alice",
            chrono::Utc::now() + chrono::Duration::minutes(5),
        );

    let server = LoggedServer::spawn(&db.url);
    let query = "{ tickets { totalCount nodes { id } } }";
    let send_message =
        "mutation($t: UUID!, $c: String!) { sendMessage(ticketId: $t, content: $c) { id } }";

    // HTTP: what works.
    let team_client = Client::new(server.graphql(), &good);
    team_client.data(query, json!({})).await;
    team_client
        .data(
            send_message,
            json!({ "t": ticket, "c": "hello from the log test" }),
        )
        .await;
    Client::new(server.graphql(), &read_only)
        .data(query, json!({}))
        .await;
    Client::new(server.graphql(), &customer)
        .data(query, json!({}))
        .await;
    let minted = team_client
        .data(
            "mutation { createCustomerToken(distinctId: \"alice\", expiresInSeconds: 600) { token } }",
            json!({}),
        )
        .await["createCustomerToken"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    Client::new(server.graphql(), &minted)
        .data(query, json!({}))
        .await;
    // Failing mutations and refusals.
    for (client, mutation, variables) in [
        (&team_client, send_message, json!({ "t": uuid::Uuid::now_v7(), "c": "x" })),
        (&team_client, "mutation($t: UUID!) { updateTicket(id: $t, input: { slaDueInMinutes: -5 }) { id } }", json!({ "t": ticket })),
        (&team_client, "mutation { bulkUpdateStatus(ids: [], status: OPEN) { id } }", json!({})),
        (&team_client, "mutation { createCustomerToken(distinctId: \"alice\", expiresInSeconds: 0) { token } }", json!({})),
    ] {
        let (_, body) = client.post(mutation, variables).await;
        assert!(body["errors"].is_array(), "{body}");
    }
    let (_, body) = Client::new(server.graphql(), &read_only)
        .post(send_message, json!({ "t": ticket, "c": "x" }))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let (_, body) = Client::new(server.graphql(), &customer)
        .post("{ tags }", json!({}))
        .await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN");
    // A batch, a GET, and (a client's mistake) a key in the URL.
    let http = reqwest::Client::new();
    let batch = http
        .post(server.graphql())
        .bearer_auth(&good)
        .json(&json!([{ "query": query }, { "query": "{ me { scopes } }" }]))
        .send()
        .await
        .unwrap();
    assert_eq!(batch.status(), 200);
    let get = http
        .get(server.graphql())
        .query(&[("query", "{ unreadCount }")])
        .header("Authorization", format!("Bearer {good}"))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), 200);

    // Revoked, wrong, malformed and expired credentials, in every place they can go.
    let revoked_client = Client::new(server.graphql(), &to_revoke);
    revoked_client.data(query, json!({})).await;
    let mut revoked_socket = ws::ready(&server.ws(), &to_revoke).await;
    let prefix: String = to_revoke.chars().take(9).collect();
    let revoke = Command::new(helpers::binary())
        .args(["api-key", "revoke", "--team", "logteam", &prefix])
        .env("DATABASE_URL", &db.url)
        .env("TICKETGATE_LOG", "debug")
        .output()
        .unwrap();
    assert!(
        revoke.status.success(),
        "{}",
        String::from_utf8_lossy(&revoke.stderr)
    );
    assert_eq!(closed(&mut revoked_socket).await.0, 4403);
    for credential in [&to_revoke, &wrong, &garbage, &expired, &tampered, &foreign] {
        let (status, body) = Client::new(server.graphql(), credential)
            .post(query, json!({}))
            .await;
        assert_eq!(status, 401, "{credential}: {body}");
        let response = http
            .post(server.graphql())
            .header("Authorization", credential.as_str()) // no `Bearer`
            .json(&json!({ "query": query }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        for protocol in [MODERN, LEGACY] {
            let code = refused_at_init(&server.ws(), protocol, credential).await;
            assert_eq!(code, 4403, "{credential} over {protocol}");
        }
    }
    let in_url = http
        .get(server.graphql())
        .query(&[
            ("query", "{ unreadCount }"),
            ("access_token", good.as_str()),
        ])
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(in_url.status(), 401);

    // Websockets that work: a team key and a customer token, over both protocols.
    let mut socket = ws::ready(&server.ws(), &good).await;
    send(
        &mut socket,
        subscribe(
            "m",
            &format!("subscription {{ messageAdded(ticketId: \"{ticket}\") {{ content }} }}"),
        ),
    )
    .await;
    let mut customer_socket = ws::ready(&server.ws(), &customer).await;
    send(
        &mut customer_socket,
        subscribe("c", "subscription { ticketChanged { kind } }"),
    )
    .await;
    let mut legacy = ws::connect(&server.ws(), LEGACY).await;
    send(&mut legacy, init(&minted)).await;
    assert_eq!(ws::recv(&mut legacy).await["type"], "connection_ack");
    // The subscriptions are live once a message comes through.
    tokio::time::sleep(Duration::from_millis(300)).await;
    team_client
        .data(send_message, json!({ "t": ticket, "c": "live" }))
        .await;
    assert_eq!(
        next_payload(&mut socket, "m").await["data"]["messageAdded"]["content"],
        "live"
    );
    assert_eq!(
        next_payload(&mut customer_socket, "c").await["data"]["ticketChanged"]["kind"],
        "MESSAGE"
    );
    // A second `connection_init` on a live connection (4429).
    send(&mut socket, init(&good)).await;
    assert_eq!(closed(&mut socket).await.0, 4429);

    // A database error (logged as `internal error`) while a key is in use.
    let rename = |from: &str, to: &str| {
        diesel::sql_query(format!("ALTER TABLE {from} RENAME TO {to}"))
            .execute(&mut db.conn())
            .expect("rename");
    };
    rename("tags", "tags_away");
    let (_, body) = team_client.post("{ tags }", json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "INTERNAL",
        "{body}"
    );
    rename("tags_away", "tags");
    // Key usage is flushed every second: let it happen once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let used: Count =
        diesel::sql_query("SELECT count(*) AS n FROM api_keys WHERE last_used_at IS NOT NULL")
            .get_result(&mut db.conn())
            .unwrap();
    assert!(used.n > 0, "key usage was flushed");
    drop((customer_socket, legacy));

    // The database goes away: connection errors are logged too.
    db.drop_now();
    let (_, body) = team_client.post(query, json!({})).await;
    assert!(body["errors"].is_array(), "{body}");
    tokio::time::sleep(Duration::from_millis(500)).await;

    let lines = server.stop();
    let log = lines.join("\n");
    assert!(lines.len() > 20, "too little was logged:\n{log}");
    assert!(
        lines.iter().any(|l| l.contains("DEBUG")),
        "TICKETGATE_LOG=debug took no effect:\n{log}"
    );
    assert!(
        log.contains("internal error"),
        "the database error was not logged:\n{log}"
    );

    let mut secrets: Vec<(String, String)> = Vec::new();
    for (name, credential) in [
        ("read+write key", &good),
        ("read-only key", &read_only),
        ("revoked key", &to_revoke),
        ("unknown key", &wrong),
        ("foreign bearer", &garbage),
        ("customer token", &customer),
        ("minted customer token", &minted),
        ("expired token", &expired),
        ("tampered token", &tampered),
        ("foreign token", &foreign),
    ] {
        for fragment in fragments(credential) {
            secrets.push((name.to_string(), fragment));
        }
    }
    secrets.push(("token secret".into(), token_secret().to_string()));
    match password_of(&db.url) {
        Some(password) => secrets.push(("database password".into(), password)),
        None => eprintln!("note: the test database URL has no password to look for"),
    }
    let found = offending(&lines, &secrets);
    assert!(
        found.is_empty(),
        "{} log line(s) hold secrets:\n  {}",
        found.len(),
        found.join("\n  ")
    );
    // The CLI that revoked a key logged nothing secret either.
    let revoke_log = String::from_utf8_lossy(&revoke.stderr).to_string();
    let revoke_lines: Vec<String> = revoke_log.lines().map(String::from).collect();
    assert_eq!(offending(&revoke_lines, &secrets), Vec::<String>::new());
}

#[test]
fn the_cli_never_logs_the_key_it_prints() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "cliteam");
    let run = |args: &[&str]| {
        let output = Command::new(helpers::binary())
            .args(args)
            .env("DATABASE_URL", &db.url)
            .env("TICKETGATE_LOG", "debug")
            .env("TICKETGATE_TOKEN_SECRET", token_secret())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        (
            String::from_utf8(output.stdout).unwrap().trim().to_string(),
            String::from_utf8_lossy(&output.stderr).to_string(),
        )
    };
    let (key, key_log) = run(&["api-key", "create", "--team", "cliteam"]);
    assert!(key.starts_with("tg_"), "{key}");
    let (read_key, read_log) = run(&["api-key", "create", "--team", "cliteam", "--read-only"]);
    let (token, token_log) = run(&[
        "customer-token",
        "create",
        "--team",
        "cliteam",
        "--distinct-id",
        "alice",
    ]);
    assert!(token.starts_with("tgc_"), "{token}");
    let (listing, list_log) = run(&["api-key", "list", "--team", "cliteam"]);

    let mut secrets: Vec<(String, String)> = Vec::new();
    for (name, credential) in [
        ("key", &key),
        ("read-only key", &read_key),
        ("customer token", &token),
    ] {
        for fragment in fragments(credential) {
            secrets.push((name.to_string(), fragment));
        }
    }
    secrets.push(("token secret".into(), token_secret().to_string()));
    if let Some(password) = password_of(&db.url) {
        secrets.push(("database password".into(), password));
    }
    for (command, log) in [
        ("api-key create", &key_log),
        ("api-key create --read-only", &read_log),
        ("customer-token create", &token_log),
        ("api-key list", &list_log),
    ] {
        let lines: Vec<String> = log.lines().map(String::from).collect();
        assert_eq!(
            offending(&lines, &secrets),
            Vec::<String>::new(),
            "{command} logged a secret"
        );
    }
    let lines: Vec<String> = listing.lines().map(String::from).collect();
    assert_eq!(
        offending(&lines, &secrets),
        Vec::<String>::new(),
        "the listing shows keys"
    );
    let _ = team;
}
