//! Automatic persisted queries (Apollo's protocol) over POST and GET: hash only and
//! unknown → `PersistedQueryNotFound`; hash and query → checked, run and registered; hash
//! only → run. Registered queries live in Postgres, per team, shared by every replica.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use ticketgate::graphql::persisted::{sha256_hex, MAX_PER_TEAM};
use uuid::Uuid;

use crate::helpers::node::run_checks;
use crate::helpers::replica::Replica;
use crate::helpers::{self, fixtures, test_db, TestDb, TestServer};

const TICKETS: &str =
    "query Numbers($first: Int) { tickets(first: $first) { nodes { ticketNumber } } }";

struct Setup {
    db: TestDb,
    team: Uuid,
    server: TestServer,
    key: String,
}

fn setup() -> Setup {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 3);
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    Setup {
        db,
        team,
        server,
        key,
    }
}

fn extension(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// POSTs `body` as JSON; the HTTP status and the JSON answer.
async fn post(server: &TestServer, key: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url("/graphql"))
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "application/json")
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// GETs `/graphql` with these parameters; the HTTP status and the JSON answer.
async fn get(server: &TestServer, key: &str, params: &[(&str, String)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(server.url("/graphql"))
        .query(params)
        .header(AUTHORIZATION, format!("Bearer {key}"))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

fn numbers(body: &Value) -> usize {
    body["data"]["tickets"]["nodes"]
        .as_array()
        .unwrap_or_else(|| panic!("no tickets in {body}"))
        .len()
}

fn registered(db: &TestDb, team: Uuid) -> i64 {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        count: i64,
    }
    diesel::sql_query("SELECT count(*) AS count FROM persisted_operations WHERE team_id = $1")
        .bind::<SqlUuid, _>(team)
        .get_result::<Count>(&mut db.conn())
        .unwrap()
        .count
}

#[tokio::test]
async fn the_apollo_sequence_works_over_post() {
    let s = setup();
    let hash = sha256_hex(TICKETS);
    let hash_only = json!({ "variables": { "first": 2 }, "extensions": extension(&hash) });

    let (status, body) = post(&s.server, &s.key, hash_only.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");
    assert!(body.get("data").is_none(), "{body}");

    let with_query = json!({
        "query": TICKETS, "variables": { "first": 2 }, "extensions": extension(&hash),
    });
    let (status, body) = post(&s.server, &s.key, with_query).await;
    assert_eq!((status, numbers(&body)), (200, 2), "{body}");

    let (status, body) = post(&s.server, &s.key, hash_only).await;
    assert_eq!((status, numbers(&body)), (200, 2), "{body}");
    // Variables still come with each request: the hash names the document only.
    let (_, body) = post(
        &s.server,
        &s.key,
        json!({ "variables": { "first": 3 }, "extensions": extension(&hash) }),
    )
    .await;
    assert_eq!(numbers(&body), 3, "{body}");
    // Upper-case hex names the same query.
    let (_, body) = post(
        &s.server,
        &s.key,
        json!({ "extensions": extension(&hash.to_uppercase()) }),
    )
    .await;
    assert_eq!(numbers(&body), 3, "{body}");
    assert_eq!(registered(&s.db, s.team), 1);
}

#[tokio::test]
async fn a_hash_that_is_not_the_querys_is_refused_and_not_registered() {
    let s = setup();
    let other = sha256_hex("{ __typename }");
    let (status, body) = post(
        &s.server,
        &s.key,
        json!({ "query": TICKETS, "extensions": extension(&other) }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(code(&body), "PERSISTED_QUERY_INVALID", "{body}");
    assert!(body.get("data").is_none(), "{body}");
    let (_, body) = post(
        &s.server,
        &s.key,
        json!({ "extensions": extension(&other) }),
    )
    .await;
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    assert_eq!(registered(&s.db, s.team), 0);
}

#[tokio::test]
async fn malformed_persisted_query_extensions_get_400() {
    let s = setup();
    let hash = sha256_hex(TICKETS);
    let malformed = [
        json!({ "persistedQuery": { "version": 1, "sha256Hash": &hash[..63] } }),
        json!({ "persistedQuery": { "version": 1, "sha256Hash": format!("{hash}0") } }),
        json!({ "persistedQuery": { "version": 1, "sha256Hash": "z".repeat(64) } }),
        json!({ "persistedQuery": { "version": 1, "sha256Hash": 7 } }),
        json!({ "persistedQuery": { "version": 2, "sha256Hash": hash } }),
        json!({ "persistedQuery": { "sha256Hash": hash } }),
        json!({ "persistedQuery": [hash] }),
    ];
    for extensions in malformed {
        let (status, body) = post(
            &s.server,
            &s.key,
            json!({ "extensions": extensions.clone() }),
        )
        .await;
        assert_eq!(status, 400, "{extensions}: {body}");
        assert_eq!(
            code(&body),
            "PERSISTED_QUERY_INVALID",
            "{extensions}: {body}"
        );
        let (status, body) =
            get(&s.server, &s.key, &[("extensions", extensions.to_string())]).await;
        assert_eq!(status, 400, "GET {extensions}: {body}");
        assert_eq!(
            code(&body),
            "PERSISTED_QUERY_INVALID",
            "GET {extensions}: {body}"
        );
    }
    // Without a hash, a request still needs its query.
    let (status, body) = post(&s.server, &s.key, json!({ "extensions": {} })).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(registered(&s.db, s.team), 0);
}

#[tokio::test]
async fn the_apollo_sequence_works_over_get_and_never_runs_a_mutation() {
    let s = setup();
    let hash = sha256_hex(TICKETS);
    let hash_only = [
        ("variables", json!({ "first": 1 }).to_string()),
        ("extensions", extension(&hash).to_string()),
    ];
    let (status, body) = get(&s.server, &s.key, &hash_only).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");

    let mut with_query = hash_only.to_vec();
    with_query.push(("query", TICKETS.to_string()));
    let (status, body) = get(&s.server, &s.key, &with_query).await;
    assert_eq!((status, numbers(&body)), (200, 1), "{body}");
    let (status, body) = get(&s.server, &s.key, &hash_only).await;
    assert_eq!((status, numbers(&body)), (200, 1), "{body}");

    // A mutation registered over POST is refused over GET, hash or not.
    let mutation = "mutation Registered { __typename }";
    let mutation_hash = sha256_hex(mutation);
    let (_, body) = post(
        &s.server,
        &s.key,
        json!({ "query": mutation, "extensions": extension(&mutation_hash) }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let (status, body) = get(
        &s.server,
        &s.key,
        &[("extensions", extension(&mutation_hash).to_string())],
    )
    .await;
    assert_eq!(status, 405, "{body}");
    // A mutation sent over GET with its hash is neither run nor registered.
    let other = "mutation Late { __typename }";
    let (status, _) = get(
        &s.server,
        &s.key,
        &[
            ("query", other.to_string()),
            ("extensions", extension(&sha256_hex(other)).to_string()),
        ],
    )
    .await;
    assert_eq!(status, 405);
    assert_eq!(registered(&s.db, s.team), 2);
}

#[tokio::test]
async fn registered_queries_are_shared_by_replicas_and_kept_per_team() {
    let s = setup();
    let other_team = fixtures::team(&mut s.db.conn(), "globex");
    let other_key = helpers::create_key(&s.db.url, other_team, &[Scope::Read]);
    let second = TestServer::start(&s.db.url);
    let hash = sha256_hex(TICKETS);

    let (_, body) = post(
        &s.server,
        &s.key,
        json!({ "query": TICKETS, "extensions": extension(&hash) }),
    )
    .await;
    assert_eq!(numbers(&body), 3, "{body}");
    // The other replica has never seen it: it reads it from Postgres.
    let (_, body) = post(&second, &s.key, json!({ "extensions": extension(&hash) })).await;
    assert_eq!(numbers(&body), 3, "{body}");
    // Another team does not share it, on either replica (one of them has it in memory).
    for server in [&s.server, &second] {
        let (_, body) = post(
            server,
            &other_key,
            json!({ "extensions": extension(&hash) }),
        )
        .await;
        assert_eq!(code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    }
}

#[tokio::test]
async fn failed_requests_are_not_registered_and_each_team_has_a_bound() {
    let s = setup();
    let invalid = "{ tickets { nope } }";
    let (_, body) = post(
        &s.server,
        &s.key,
        json!({ "query": invalid, "extensions": extension(&sha256_hex(invalid)) }),
    )
    .await;
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert_eq!(registered(&s.db, s.team), 0);

    // A team at the bound: registering one more forgets its oldest.
    diesel::sql_query(
        "INSERT INTO persisted_operations (team_id, sha256, query, created_at) \
         SELECT $1, encode(sha256(i::text::bytea), 'hex'), '{ __typename }', \
                now() - interval '1 day' + i * interval '1 second' \
         FROM generate_series(1, $2) AS i",
    )
    .bind::<SqlUuid, _>(s.team)
    .bind::<BigInt, _>(MAX_PER_TEAM)
    .execute(&mut s.db.conn())
    .unwrap();
    let hash = sha256_hex(TICKETS);
    let (_, body) = post(
        &s.server,
        &s.key,
        json!({ "query": TICKETS, "extensions": extension(&hash) }),
    )
    .await;
    assert_eq!(numbers(&body), 3, "{body}");
    assert_eq!(registered(&s.db, s.team), MAX_PER_TEAM);
    #[derive(QueryableByName)]
    struct Present {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        oldest: bool,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        newest: bool,
    }
    let present: Present = diesel::sql_query(
        "SELECT bool_or(sha256 = encode(sha256('1'::bytea), 'hex')) AS oldest, \
                bool_or(sha256 = $2) AS newest \
         FROM persisted_operations WHERE team_id = $1",
    )
    .bind::<SqlUuid, _>(s.team)
    .bind::<diesel::sql_types::Text, _>(&hash)
    .get_result(&mut s.db.conn())
    .unwrap();
    assert!(!present.oldest && present.newest);
}

/// Apollo Client 3's `createPersistedQueryLink` against two replicas (`tests/node/apollo.mjs`):
/// the retry after `PersistedQueryNotFound`, hashes alone afterwards, GET for hashed
/// queries, and the normalized cache after a persisted mutation.
#[test]
fn apollo_clients_persisted_query_link_works_against_two_replicas() {
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    fixtures::tickets(&mut db.conn(), team, 5);
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let [a, b] = [Replica::spawn(&db.url, &[]), Replica::spawn(&db.url, &[])];
    let (http_a, http_b) = (a.graphql(), b.graphql());
    let env = [
        ("HTTP_A", http_a.as_str()),
        ("HTTP_B", http_b.as_str()),
        ("KEY", key.as_str()),
    ];
    run_checks("apollo.mjs", &env, 4);
    // Inbox, One and the mutation: registered once each, for the team.
    assert_eq!(registered(&db, team), 3);
}
