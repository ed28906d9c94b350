//! Behind a real PgBouncer (Debian's, 1.18: no protocol-level prepared statements) in
//! transaction pooling mode: pages under concurrency, writes, and subscriptions across two
//! replicas, with LISTEN and the migrations on DATABASE_LISTEN_URL (direct). Without that
//! URL the server says at start-up that LISTEN would go through the pooler.

use std::time::Duration;

use futures_util::future::join_all;
use serde_json::json;
use ticketgate::auth::viewer::Scope;

use crate::helpers::fixtures;
use crate::helpers::pgbouncer::PgBouncer;
use crate::helpers::replica::Replica;
use crate::helpers::ws::{self, message_added, next_payload, send, subscribe};
use crate::helpers::{self, test_db, Client};

const SEND: &str =
    "mutation($t: UUID!, $c: String!) { sendMessage(ticketId: $t, content: $c) { id } }";

fn database_name(url: &str) -> String {
    let path = url
        .rsplit_once('/')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    path.split('?').next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_work_behind_pgbouncer_in_transaction_mode() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let tickets = fixtures::tickets(&mut db.conn(), team, 30);
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let bouncer = PgBouncer::start(&db.url);
    let name = database_name(&db.url);
    let pooled = bouncer.url(&name);
    // One replica says so in its URL, the other with the setting.
    let hinted = format!("{pooled}&pgbouncer=true");
    let a = Replica::spawn(&hinted, &[("DATABASE_LISTEN_URL", db.url.as_str())]);
    let b = Replica::spawn(
        &pooled,
        &[
            ("TICKETGATE_PGBOUNCER", "on"),
            ("DATABASE_LISTEN_URL", db.url.as_str()),
        ],
    );
    let before = bouncer.transactions(&name);
    let (client_a, client_b) = (
        Client::new(a.graphql(), &key),
        Client::new(b.graphql(), &key),
    );

    // Pages from both replicas at once: every pooled connection serves many sessions.
    let page = "{ tickets(first: 20) { nodes { ticketNumber person { name } tags \
                assignee { id } messages(first: 2) { nodes { content } } } } }";
    let pages = join_all((0..40).map(|i| {
        let client = if i % 2 == 0 { &client_a } else { &client_b };
        client.post(page, json!({}))
    }))
    .await;
    for (status, body) in pages {
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(
            body["data"]["tickets"]["nodes"].as_array().unwrap().len(),
            20
        );
    }

    // A subscriber on B sees a message written through A (LISTEN on the direct URL).
    let mut socket = ws::ready(&b.ws(), &key).await;
    send(
        &mut socket,
        subscribe("1", &message_added(tickets[0], None)),
    )
    .await;
    let mut delivered = None;
    for attempt in 0..50 {
        client_a
            .data(
                SEND,
                json!({ "t": tickets[0], "c": format!("through the pooler {attempt}") }),
            )
            .await;
        let waited =
            tokio::time::timeout(Duration::from_millis(300), next_payload(&mut socket, "1"));
        if let Ok(payload) = waited.await {
            delivered = Some(payload);
            break;
        }
    }
    let delivered = delivered.expect("a message written through A reached B's subscriber");
    assert!(delivered.get("errors").is_none(), "{delivered}");
    let content = delivered["data"]["messageAdded"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(content.starts_with("through the pooler"), "{delivered}");

    let after = bouncer.transactions(&name);
    assert!(
        after >= before + 40,
        "the replicas' statements went through PgBouncer: {before} → {after}"
    );
}

#[test]
fn without_a_direct_url_the_server_says_listen_would_go_through_the_pooler() {
    let db = test_db();
    let bouncer = PgBouncer::start(&db.url);
    let pooled = bouncer.url(&database_name(&db.url));
    let mut starting = Replica::launch(&pooled, &[("TICKETGATE_PGBOUNCER", "on")]);
    let said = starting.line_with(
        "LISTEN would go through a transaction pooler",
        Duration::from_secs(30),
    );
    assert!(said.is_some(), "no warning about LISTEN through the pooler");
}
