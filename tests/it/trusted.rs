//! Trusted documents: `ticketgate documents push` loads the manifests clients produce
//! (graphql-codegen, Relay, Apollo), whole or not at all; the documents run by their id;
//! and with `TICKETGATE_TRUSTED_DOCUMENTS=only` nothing else runs, over HTTP or websockets,
//! unless an operator lets team keys run anything.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use ticketgate::graphql::persisted::sha256_hex;
use ticketgate::graphql::trusted::TrustedMode;

use crate::helpers::server::customer_token;
use crate::helpers::ws::{next_payload, ready, recv, send, subscribe};
use crate::helpers::{self, fixtures, test_db, TestDb, TestServer};

const INBOX: &str = "query Inbox { tickets(first: 2) { nodes { ticketNumber } } }";
const UNREAD: &str = "subscription Unread { unreadCount }";
const RELAY_MD5_ID: &str = "9b6f4a07c4f3b5a3e0d1c2b1a0f9e8d7";

fn push(db: &TestDb, manifest: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    std::fs::write(&path, manifest).unwrap();
    push_file(db, &path)
}

fn push_file(db: &TestDb, path: &Path) -> Output {
    Command::new(helpers::binary())
        .args(["documents", "push", "--client-name", "dashboard"])
        .arg(path)
        .env("DATABASE_URL", &db.url)
        .env("TICKETGATE_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stored(db: &TestDb) -> i64 {
    use diesel::prelude::*;
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM trusted_documents)",
    ))
    .get_result(&mut db.conn())
    .unwrap()
}

/// The three manifest formats, one document each; the codegen one names INBOX.
fn push_all_formats(db: &TestDb) {
    let codegen = json!({ sha256_hex(INBOX): INBOX });
    let relay = json!({ RELAY_MD5_ID: UNREAD });
    let apollo = json!({
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{ "id": "me-v1", "name": "Me", "type": "query",
                         "body": "query Me { me { scopes } }" }],
    });
    for manifest in [codegen, relay, apollo] {
        let output = push(db, &manifest.to_string());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{manifest}: {stderr}");
        assert!(stderr.contains("1 new"), "{stderr}");
    }
    assert_eq!(stored(db), 3);
}

#[test]
fn manifests_are_pushed_whole_or_not_at_all() {
    let db = test_db();
    push_all_formats(&db);
    // The same manifest again changes nothing.
    let again = push(&db, &json!({ sha256_hex(INBOX): INBOX }).to_string());
    assert!(String::from_utf8_lossy(&again.stderr).contains("0 new, 1 already there"));

    let good = "query Fine { __typename }";
    let refused = [
        (
            format!(r#"{{"a": "{good}", "a": "query B {{ __typename }}"}}"#),
            "twice",
        ),
        (
            format!(r#"{{"a": "{good}", "b": "query B {{"}}"#),
            "does not parse",
        ),
        (
            format!(r#"{{"a": "{good}", "#),
            "not a JSON object manifest",
        ),
        (
            format!(r#"{{"a": "{good}", "{}": "{good}"}}"#, sha256_hex(INBOX)),
            "not the SHA-256",
        ),
        // An id already stored with another text: ids never change meaning.
        (
            format!(r#"{{"a": "{good}", "{RELAY_MD5_ID}": "query Other {{ __typename }}"}}"#),
            "another text",
        ),
    ];
    for (manifest, why) in refused {
        let output = push(&db, &manifest);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{manifest} was accepted");
        assert!(stderr.contains(why), "{manifest}: {stderr}");
        assert!(stderr.contains("nothing pushed"), "{stderr}");
        assert_eq!(stored(&db), 3, "{manifest} left documents behind");
    }
    let missing = push_file(&db, Path::new("/nonexistent/manifest.json"));
    assert!(!missing.status.success());
}

struct Only {
    db: TestDb,
    server: TestServer,
    team_key: String,
    customer: String,
}

fn only_mode(team_keys_run_any: bool) -> Only {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 3);
    push_all_formats(&db);
    let team_key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::builder(&db.url)
        .options(|o| {
            o.trusted_documents = TrustedMode::Only;
            o.trusted_documents_team_keys_run_any = team_keys_run_any;
        })
        .start();
    Only {
        db,
        server,
        team_key,
        customer: customer_token(team, "alice", 600),
    }
}

async fn post(server: &TestServer, key: &str, body: Value) -> Value {
    reqwest::Client::new()
        .post(server.url("/graphql"))
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn get(server: &TestServer, key: &str, params: &[(&str, &str)]) -> Value {
    reqwest::Client::new()
        .get(server.url("/graphql"))
        .query(params)
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

fn tickets(body: &Value) -> usize {
    body["data"]["tickets"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no tickets in {body}"))
        .len()
}

#[tokio::test]
async fn only_trusted_documents_run_in_only_mode() {
    let s = only_mode(false);
    let inbox_hash = sha256_hex(INBOX);
    for key in [&s.team_key, &s.customer] {
        // By id, in each way clients send one; by its exact text; by its APQ hash.
        for body in [
            json!({ "documentId": inbox_hash }),
            json!({ "documentId": format!("sha256:{inbox_hash}") }),
            json!({ "doc_id": inbox_hash }),
            json!({ "query": INBOX }),
            json!({ "extensions": { "persistedQuery": { "version": 1, "sha256Hash": inbox_hash } } }),
        ] {
            let answer = post(&s.server, key, body.clone()).await;
            assert_eq!(
                tickets(&answer),
                if *key == s.customer { 0 } else { 2 },
                "{body}: {answer}"
            );
        }
        let answer = get(&s.server, key, &[("documentId", &inbox_hash)]).await;
        assert!(answer["data"]["tickets"].is_object(), "GET: {answer}");
        // Anything else is refused, however it comes.
        let other = "query Other { tickets(first: 1) { nodes { ticketNumber } } }";
        for body in [
            json!({ "query": other }),
            json!({ "query": format!("{INBOX} ") }),
            json!({ "query": other, "extensions": { "persistedQuery":
                { "version": 1, "sha256Hash": sha256_hex(other) } } }),
        ] {
            let answer = post(&s.server, key, body.clone()).await;
            assert_eq!(
                code(&answer),
                "TRUSTED_DOCUMENT_REQUIRED",
                "{body}: {answer}"
            );
            assert!(answer.get("data").is_none(), "{answer}");
        }
        let answer = get(&s.server, key, &[("query", other)]).await;
        assert_eq!(code(&answer), "TRUSTED_DOCUMENT_REQUIRED", "GET: {answer}");
        let unknown = post(&s.server, key, json!({ "documentId": "nope" })).await;
        assert_eq!(code(&unknown), "PERSISTED_QUERY_NOT_FOUND", "{unknown}");
    }
    // An untrusted query sent with its APQ hash was not registered either.
    use diesel::prelude::*;
    let registered: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT count(*) FROM persisted_operations)",
    ))
    .get_result(&mut s.db.conn())
    .unwrap();
    assert_eq!(registered, 0);
    let both = post(
        &s.server,
        &s.team_key,
        json!({ "documentId": inbox_hash, "query": INBOX }),
    )
    .await;
    assert_eq!(code(&both), "BAD_REQUEST", "{both}");
}

#[tokio::test]
async fn websocket_operations_must_be_trusted_too() {
    let s = only_mode(false);
    for key in [&s.team_key, &s.customer] {
        let mut socket = ready(&s.server.ws_url(), key).await;
        send(&mut socket, subscribe("1", "subscription { unreadCount }")).await;
        let refused = recv(&mut socket).await;
        assert_eq!(refused["type"], "error", "{refused}");
        assert_eq!(
            refused["payload"][0]["extensions"]["code"], "TRUSTED_DOCUMENT_REQUIRED",
            "{refused}"
        );
        send(&mut socket, subscribe("2", UNREAD)).await;
        let first = next_payload(&mut socket, "2").await;
        assert!(first["data"]["unreadCount"].is_number(), "{first}");
        drop(socket);
    }
}

#[tokio::test]
async fn team_keys_run_anything_only_when_the_operator_says_so() {
    let s = only_mode(true);
    let other = "{ tickets(first: 1) { nodes { ticketNumber } } }";
    let answer = post(&s.server, &s.team_key, json!({ "query": other })).await;
    assert_eq!(tickets(&answer), 1, "{answer}");
    // What GraphiQL sends first.
    let schema = post(
        &s.server,
        &s.team_key,
        json!({ "query": "{ __schema { queryType { name } } }" }),
    )
    .await;
    assert_eq!(
        schema["data"]["__schema"]["queryType"]["name"], "Query",
        "{schema}"
    );
    // Customer tokens never.
    let answer = post(&s.server, &s.customer, json!({ "query": other })).await;
    assert_eq!(code(&answer), "TRUSTED_DOCUMENT_REQUIRED", "{answer}");
}

#[tokio::test]
async fn in_allow_mode_documents_run_by_id_beside_any_operation() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 3);
    push_all_formats(&db);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let by_id = post(&server, &key, json!({ "documentId": sha256_hex(INBOX) })).await;
    assert_eq!(tickets(&by_id), 2, "{by_id}");
    let apollo = post(&server, &key, json!({ "documentId": "me-v1" })).await;
    assert_eq!(apollo["data"]["me"]["scopes"], json!(["read"]), "{apollo}");
    let any = post(
        &server,
        &key,
        json!({ "query": "{ tickets { totalCount } }" }),
    )
    .await;
    assert_eq!(any["data"]["tickets"]["totalCount"], 3, "{any}");
}

/// graphql-codegen (`tests/node/codegen.mjs`) generates types from the live endpoint and
/// its client preset's `persisted-documents.json`; pushed, those documents are what a
/// server in `only` mode runs, by id.
#[test]
fn codegen_types_and_persisted_documents_work_end_to_end() {
    use crate::helpers::replica::Replica;
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 3);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let manifest = tempfile::NamedTempFile::new().unwrap();
    let open = Replica::spawn(&db.url, &[]);
    let (http, out) = (open.graphql(), manifest.path().display().to_string());
    let env = [
        ("HTTP", http.as_str()),
        ("KEY", key.as_str()),
        ("MANIFEST_OUT", out.as_str()),
    ];
    crate::helpers::node::run_checks("codegen.mjs", &env, 2);
    let pushed = push_file(&db, manifest.path());
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let documents: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(manifest.path()).unwrap()).unwrap();
    let inbox = documents
        .iter()
        .find(|(_, text)| text.as_str().is_some_and(|t| t.contains("CodegenInbox")))
        .map(|(id, _)| id.clone())
        .expect("the inbox document");
    let only = Replica::spawn(&db.url, &[("TICKETGATE_TRUSTED_DOCUMENTS", "only")]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ask = |body: Value| {
            let url = only.graphql();
            let key = key.clone();
            async move {
                reqwest::Client::new()
                    .post(url)
                    .header(AUTHORIZATION, format!("Bearer {key}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            }
        };
        let by_id = ask(json!({ "documentId": inbox })).await;
        assert_eq!(tickets(&by_id), 2, "{by_id}");
        let other = ask(json!({ "query": "{ tickets { totalCount } }" })).await;
        assert_eq!(code(&other), "TRUSTED_DOCUMENT_REQUIRED", "{other}");
    });
}
