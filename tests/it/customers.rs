//! Customer tokens: the support widget's view. A customer sees and writes only their own
//! tickets, never private notes or internal fields; bad tokens are refused; revoked keys
//! and expired tokens lose their websockets.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;

use crate::helpers::fixtures::{self, MessageSpec, TicketSpec};
use crate::helpers::server::customer_token;
use crate::helpers::ws::{self, closed, next_payload, send, subscribe};
use crate::helpers::{self, test_db, Client, TestServer};

struct World {
    db: helpers::TestDb,
    server: TestServer,
    team: uuid::Uuid,
    team_key: String,
    mine: uuid::Uuid,
    theirs: uuid::Uuid,
}

/// Customer `alice` has ticket 1 (with a private note and an escalation reason, assigned
/// to an agent); customer `bob` has ticket 2.
fn world() -> World {
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let agent = fixtures::user(&mut conn, team, "agent@acme.example", "Agent");
    let mine = fixtures::insert_ticket(
        &mut conn,
        team,
        &TicketSpec {
            distinct_id: "alice".into(),
            escalation_reason: Some("VIP".into()),
            ..Default::default()
        },
    );
    fixtures::assign_user(&mut conn, mine, agent);
    fixtures::message(
        &mut conn,
        team,
        mine,
        &MessageSpec {
            content: "hello".into(),
            ..Default::default()
        },
    );
    fixtures::message(
        &mut conn,
        team,
        mine,
        &MessageSpec {
            content: "internal note".into(),
            author_type: "support",
            is_private: true,
            created_by: Some(agent),
            ..Default::default()
        },
    );
    let theirs = fixtures::insert_ticket(
        &mut conn,
        team,
        &TicketSpec {
            distinct_id: "bob".into(),
            ..Default::default()
        },
    );
    let team_key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    World {
        db,
        server,
        team,
        team_key,
        mine,
        theirs,
    }
}

fn alice(world: &World) -> Client {
    world
        .server
        .client(&customer_token(world.team, "alice", 600))
}

#[tokio::test]
async fn customers_read_only_their_own_tickets_and_public_messages() {
    let w = world();
    let alice = alice(&w);
    let list = alice.data("{ tickets { totalCount nodes { ticketNumber distinctId } } unreadCount me { customerDistinctId scopes team { slug } } }", json!({})).await;
    assert_eq!(list["tickets"]["totalCount"], 1);
    assert_eq!(
        list["tickets"]["nodes"],
        json!([{ "ticketNumber": 1, "distinctId": "alice" }])
    );
    assert_eq!(
        list["me"],
        json!({ "customerDistinctId": "alice", "scopes": [], "team": { "slug": "acme" } })
    );

    let detail = alice
        .data(
            r#"query($id: UUID) { ticket(id: $id) { escalationReason assignee { type user { name } }
                 messages(includePrivate: true) { nodes { content isPrivate } } } }"#,
            json!({ "id": w.mine }),
        )
        .await;
    assert_eq!(
        detail["ticket"]["escalationReason"],
        Value::Null,
        "internal"
    );
    assert_eq!(
        detail["ticket"]["messages"]["nodes"],
        json!([{ "content": "hello", "isPrivate": false }])
    );
    assert_eq!(detail["ticket"]["assignee"]["user"]["name"], "Agent");

    // Another customer's ticket is exactly like a missing one.
    let other = alice
        .post(
            "query($id: UUID) { ticket(id: $id) { id } }",
            json!({ "id": w.theirs }),
        )
        .await
        .1;
    let missing = alice
        .post(
            "query($id: UUID) { ticket(id: $id) { id } }",
            json!({ "id": uuid::Uuid::now_v7() }),
        )
        .await
        .1;
    assert_eq!(other["errors"][0]["extensions"]["code"], "NOT_FOUND");
    assert_eq!(
        other["errors"][0]["message"],
        missing["errors"][0]["message"]
    );
    assert_eq!(
        alice
            .error_code("{ ticket(number: 2) { id } }", json!({}))
            .await,
        "NOT_FOUND"
    );

    // Team-only data.
    for query in [
        "{ persons(distinctIds: [\"bob\"]) { name } }",
        "{ tags }",
        "query($id: UUID) { ticket(id: $id) { assignee { user { email } } } }",
    ] {
        let (_, body) = alice.post(query, json!({ "id": w.mine })).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "FORBIDDEN",
            "{query}: {body}"
        );
        assert!(!body.to_string().contains("agent@acme.example"), "{body}");
        assert!(!body.to_string().contains("bob\""), "{body}");
    }
}

#[tokio::test]
async fn customers_write_only_as_themselves() {
    let w = world();
    let alice = alice(&w);
    let send_message = "mutation($t: UUID!, $c: String!, $p: Boolean, $a: MessageAuthorType) { sendMessage(ticketId: $t, content: $c, isPrivate: $p, authorType: $a) { authorType isPrivate } }";
    let sent = alice
        .data(send_message, json!({ "t": w.mine, "c": "any news?" }))
        .await;
    assert_eq!(
        sent["sendMessage"],
        json!({ "authorType": "CUSTOMER", "isPrivate": false })
    );
    assert_eq!(
        alice
            .error_code(
                send_message,
                json!({ "t": w.mine, "c": "x", "a": "SUPPORT" })
            )
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        alice
            .error_code(send_message, json!({ "t": w.mine, "c": "x", "p": true }))
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        alice
            .error_code(send_message, json!({ "t": w.theirs, "c": "x" }))
            .await,
        "NOT_FOUND"
    );

    let read = "mutation($t: UUID!, $s: ReadSide) { markTicketRead(id: $t, side: $s) { unreadCustomerCount } }";
    assert_eq!(
        alice.data(read, json!({ "t": w.mine })).await["markTicketRead"]["unreadCustomerCount"],
        0
    );
    assert_eq!(
        alice
            .error_code(read, json!({ "t": w.mine, "s": "TEAM" }))
            .await,
        "FORBIDDEN"
    );
    assert_eq!(
        alice.error_code(read, json!({ "t": w.theirs })).await,
        "NOT_FOUND"
    );

    let create = "mutation($d: String!) { createTicket(input: { distinctId: $d, message: \"new issue\" }) { ticketNumber distinctId } }";
    assert_eq!(
        alice.data(create, json!({ "d": "alice" })).await["createTicket"]["distinctId"],
        "alice"
    );
    assert_eq!(
        alice.error_code(create, json!({ "d": "bob" })).await,
        "FORBIDDEN"
    );

    for (query, variables) in [
        (
            "mutation($t: UUID!) { updateTicket(id: $t, input: { status: RESOLVED }) { id } }",
            json!({ "t": w.mine }),
        ),
        (
            "mutation($t: UUID!) { assignTicket(id: $t, assignee: null) { id } }",
            json!({ "t": w.mine }),
        ),
        (
            "mutation($t: UUID!) { bulkUpdateStatus(ids: [$t], status: OPEN) { id } }",
            json!({ "t": w.mine }),
        ),
        (
            "mutation { createCustomerToken(distinctId: \"bob\") { token } }",
            json!({}),
        ),
    ] {
        assert_eq!(
            alice.error_code(query, variables).await,
            "FORBIDDEN",
            "{query}"
        );
    }
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let w = world();
    let good = customer_token(w.team, "alice", 600);
    let expired = customer_token(w.team, "alice", -5);
    let (payload, signature) = good.rsplit_once('.').unwrap();
    let tampered = format!("{payload}x.{signature}");
    let resigned = format!("{payload}.{}", "A".repeat(signature.len()));
    let foreign = ticketgate::auth::customer_tokens::TokenSecret::new(&[9u8; 40])
        .unwrap()
        .mint(
            w.team,
            "alice",
            chrono::Utc::now() + chrono::Duration::minutes(5),
        );
    for token in [
        expired,
        tampered,
        resigned,
        foreign,
        "tgc_".into(),
        "tgc_.".into(),
        format!("{good}."),
    ] {
        let (status, body) = w
            .server
            .client(&token)
            .post("{ tickets { totalCount } }", json!({}))
            .await;
        assert_eq!(status, 401, "{token}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");
        assert!(
            !body.to_string().contains(&token) || token.len() < 6,
            "echoes the token"
        );
    }
}

/// Rows a customer could write: tickets, messages, distinct ids.
fn written_rows(db: &helpers::TestDb) -> i64 {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(
        "SELECT (SELECT count(*) FROM tickets) + (SELECT count(*) FROM messages) \
         + (SELECT count(*) FROM person_distinct_ids) AS n",
    )
    .get_result::<Count>(&mut db.conn())
    .unwrap()
    .n
}

#[tokio::test]
async fn a_genuine_token_whose_subject_has_a_nul_is_refused_before_the_database() {
    let w = world();
    // Signed with the server's own secret, as a team backend minting by itself could.
    let secret = ticketgate::auth::customer_tokens::TokenSecret::new(
        crate::helpers::server::TEST_TOKEN_SECRET,
    )
    .unwrap();
    let later = chrono::Utc::now() + chrono::Duration::minutes(5);
    let before = written_rows(&w.db);
    for sub in ["ali\0ce", "\0", "alice\0"] {
        let token = secret.mint(w.team, sub, later);
        for (query, variables) in [
            ("{ tickets { totalCount } }", json!({})),
            (
                "mutation($t: UUID!) { sendMessage(ticketId: $t, content: \"hi\") { id } }",
                json!({ "t": w.mine }),
            ),
            (
                "mutation($d: String!) { createTicket(input: { distinctId: $d, message: \"hi\" }) { id } }",
                json!({ "d": sub }),
            ),
        ] {
            let (status, body) = w.server.client(&token).post(query, variables).await;
            assert_eq!(status, 401, "{sub:?} {query}: {body}");
            assert_eq!(
                body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
                "{sub:?} {query}: {body}"
            );
        }
    }
    assert_eq!(written_rows(&w.db), before, "nothing is written");
}

#[tokio::test]
async fn minting_a_token_for_a_subject_the_database_cannot_store_is_refused() {
    let w = world();
    let team = w.server.client(&w.team_key);
    let mint = "mutation($d: String!) { createCustomerToken(distinctId: $d) { token } }";
    for sub in ["ali\0ce", "\0"] {
        assert_eq!(
            team.error_code(mint, json!({ "d": sub })).await,
            "BAD_USER_INPUT",
            "{sub:?}"
        );
    }
    // The library call every minting path goes through (a command line cannot carry NUL).
    let secret = ticketgate::auth::customer_tokens::TokenSecret::new(
        crate::helpers::server::TEST_TOKEN_SECRET,
    )
    .unwrap();
    let later = chrono::Utc::now() + chrono::Duration::minutes(5);
    assert!(secret.issue(w.team, "ali\0ce", later).is_err());
    assert!(secret.issue(w.team, "alice", later).is_ok());
}

#[tokio::test]
async fn the_team_backend_mints_tokens_through_the_api() {
    let w = world();
    let team = w.server.client(&w.team_key);
    let minted = team
        .data("mutation { createCustomerToken(distinctId: \"bob\", expiresInSeconds: 60) { token distinctId expiresAt } }", json!({}))
        .await;
    let token = minted["createCustomerToken"]["token"].as_str().unwrap();
    let bob = w.server.client(token);
    let list = bob
        .data("{ tickets { nodes { ticketNumber } } }", json!({}))
        .await;
    assert_eq!(list["tickets"]["nodes"], json!([{ "ticketNumber": 2 }]));
    let (_, body) = team
        .post(
            "mutation { createCustomerToken(distinctId: \"bob\", expiresInSeconds: 0) { token } }",
            json!({}),
        )
        .await;
    assert_eq!(body["errors"][0]["extensions"]["field"], "expiresInSeconds");
}

#[tokio::test]
async fn customer_subscriptions_see_their_public_messages_only() {
    let w = world();
    let token = customer_token(w.team, "alice", 600);
    let mut socket = ws::ready(&w.server.ws_url(), &token).await;
    let sub = format!(
        "subscription {{ messageAdded(ticketId: \"{}\") {{ content }} }}",
        w.mine
    );
    send(&mut socket, subscribe("m", &sub)).await;
    let team = w.server.client(&w.team_key);
    let send_message = "mutation($t: UUID!, $c: String!, $p: Boolean) { sendMessage(ticketId: $t, content: $c, isPrivate: $p) { id } }";
    team.data(
        send_message,
        json!({ "t": w.mine, "c": "a private note", "p": true }),
    )
    .await;
    team.data(send_message, json!({ "t": w.mine, "c": "a public reply" }))
        .await;
    assert_eq!(
        next_payload(&mut socket, "m").await["data"]["messageAdded"]["content"],
        "a public reply"
    );

    // Someone else's ticket cannot be followed.
    let other = format!(
        "subscription {{ messageAdded(ticketId: \"{}\") {{ content }} }}",
        w.theirs
    );
    send(&mut socket, subscribe("x", &other)).await;
    let refused = ws::recv(&mut socket).await;
    let errors = if refused["type"] == "error" {
        refused["payload"].clone()
    } else {
        refused["payload"]["errors"].clone()
    };
    assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{refused}");
}

#[tokio::test]
async fn an_expired_token_loses_its_websocket() {
    let w = world();
    let token = customer_token(w.team, "alice", 2);
    let mut socket = ws::ready(&w.server.ws_url(), &token).await;
    let started = std::time::Instant::now();
    let (code, reason) = closed(&mut socket).await;
    assert_eq!(code, 4403);
    assert!(reason.contains("expired"), "{reason}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn revoking_a_key_takes_effect_at_once_everywhere() {
    let w = world();
    let key = helpers::create_key(&w.db.url, w.team, &[Scope::Read]);
    let client = w.server.client(&key);
    client.data("{ tickets { totalCount } }", json!({})).await;
    let mut socket = ws::ready(&w.server.ws_url(), &key).await;

    let listed = Command::new(helpers::binary())
        .args(["api-key", "list", "--team", "acme"])
        .env("DATABASE_URL", &w.db.url)
        .output()
        .unwrap();
    let listing = String::from_utf8(listed.stdout).unwrap();
    assert!(!listing.contains(&key), "the list never shows keys");
    let prefix: String = key.chars().take(9).collect();
    assert!(listing.contains(&prefix), "{listing}");
    let revoked = Command::new(helpers::binary())
        .args(["api-key", "revoke", "--team", "acme", &prefix])
        .env("DATABASE_URL", &w.db.url)
        .output()
        .unwrap();
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );

    // The announcement that closes the socket also empties the replica's key cache.
    let (code, reason) = closed(&mut socket).await;
    assert_eq!(code, 4403);
    assert!(reason.contains("revoked"), "{reason}");
    let (status, _) = client.post("{ tickets { totalCount } }", json!({})).await;
    assert_eq!(status, 401, "the next request is refused");
}

#[test]
fn the_cli_mints_tokens_with_the_configured_secret() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let run = |secret: Option<&str>| {
        let mut cmd = Command::new(helpers::binary());
        cmd.args([
            "customer-token",
            "create",
            "--team",
            "acme",
            "--distinct-id",
            "alice",
        ])
        .env("DATABASE_URL", &db.url)
        .env_remove("TICKETGATE_TOKEN_SECRET");
        if let Some(secret) = secret {
            cmd.env("TICKETGATE_TOKEN_SECRET", secret);
        }
        cmd.output().unwrap()
    };
    let secret = std::str::from_utf8(crate::helpers::server::TEST_TOKEN_SECRET).unwrap();
    let ok = run(Some(secret));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let token = String::from_utf8(ok.stdout).unwrap().trim().to_string();
    let claims = ticketgate::auth::customer_tokens::TokenSecret::new(secret.as_bytes())
        .unwrap()
        .verify(&token, chrono::Utc::now())
        .unwrap();
    assert_eq!((claims.team, claims.sub.as_str()), (team, "alice"));
    let missing = run(None);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("TICKETGATE_TOKEN_SECRET"));
    let short = run(Some("short"));
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 32 bytes"));

    // A subject no token may carry is refused with a reason, not signed.
    for (sub, reason) in [
        ("", "must not be empty"),
        (&*"x".repeat(401), "at most 400"),
    ] {
        let refused = Command::new(helpers::binary())
            .args([
                "customer-token",
                "create",
                "--team",
                "acme",
                "--distinct-id",
                sub,
            ])
            .env("DATABASE_URL", &db.url)
            .env("TICKETGATE_TOKEN_SECRET", secret)
            .output()
            .unwrap();
        assert!(!refused.status.success());
        assert!(refused.stdout.is_empty(), "no token printed");
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            stderr.contains("--distinct-id") && stderr.contains(reason),
            "{stderr}"
        );
    }
}
