//! The ticket counters (`message_count`, `unread_team_count`, `unread_customer_count`,
//! `last_message_at`, `last_message_text`) stay exact under concurrent writes, deletes
//! included: after every burst they equal what the message rows say, and the unread
//! counters equal a replay of the writes in the order they held the ticket.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use futures_util::future::join_all;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use uuid::Uuid;

use crate::helpers::fixtures::{self, TicketSpec};
use crate::helpers::server::customer_token;
use crate::helpers::{self, test_db, Client, TestServer};

const SEND: &str = "mutation($t: UUID!, $c: String!, $p: Boolean, $a: MessageAuthorType) { sendMessage(ticketId: $t, content: $c, isPrivate: $p, authorType: $a) { id } }";
const DELETE: &str = "mutation($id: UUID!) { deleteMessage(id: $id) { id } }";
const READ: &str = "mutation($t: UUID!, $s: ReadSide) { markTicketRead(id: $t, side: $s) { id } }";
const CREATE: &str = "mutation($d: String!, $m: String!) { createTicket(input: { distinctId: $d, message: $m }) { id } }";

/// Two servers on one database, each with room for a burst (a pool wide enough that
/// requests really overlap in PostgreSQL, not only in the pool's queue).
fn servers(db_url: &str) -> [TestServer; 2] {
    let start = || {
        TestServer::builder(db_url)
            .options(|o| {
                o.workers = Some(2);
                o.pool_size = 8;
            })
            .start()
    };
    [start(), start()]
}

/// Several independent HTTP clients (connections of their own), spread over the servers.
fn team_clients(servers: &[TestServer; 2], key: &str) -> Vec<Client> {
    (0..4).map(|i| servers[i % 2].client(key)).collect()
}

/// The counters as the tickets table keeps them.
#[derive(Clone, Debug, PartialEq, QueryableByName)]
struct Counters {
    #[diesel(sql_type = Integer)]
    message_count: i32,
    #[diesel(sql_type = Integer)]
    unread_team_count: i32,
    #[diesel(sql_type = Integer)]
    unread_customer_count: i32,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    last_message_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    last_message_text: Option<String>,
}

fn stored(conn: &mut PgConnection, ticket: Uuid) -> Counters {
    diesel::sql_query(
        "SELECT message_count, unread_team_count, unread_customer_count, last_message_at, \
                last_message_text FROM tickets WHERE id = $1",
    )
    .bind::<SqlUuid, _>(ticket)
    .get_result(conn)
    .expect("stored counters")
}

/// The counters recomputed from the message rows alone. The unread ones are what they
/// must be when nobody marked the ticket read: every visible message of the other side.
fn recomputed(conn: &mut PgConnection, ticket: Uuid) -> Counters {
    diesel::sql_query(
        "WITH visible AS (SELECT * FROM messages \
                          WHERE ticket_id = $1 AND NOT deleted AND NOT is_private), \
              last AS (SELECT created_at, content FROM visible \
                       ORDER BY created_at DESC, id DESC LIMIT 1) \
         SELECT (SELECT count(*) FROM visible)::int AS message_count, \
                (SELECT count(*) FROM visible WHERE author_type = 'customer')::int \
                    AS unread_team_count, \
                (SELECT count(*) FROM visible WHERE author_type <> 'customer')::int \
                    AS unread_customer_count, \
                (SELECT created_at FROM last) AS last_message_at, \
                (SELECT left(content, 500) FROM last) AS last_message_text",
    )
    .bind::<SqlUuid, _>(ticket)
    .get_result(conn)
    .expect("recomputed counters")
}

/// One row of the outbox, in the order the writes held the ticket: every write publishes
/// with the ticket locked, so `seq` (a sequence read under the lock) follows lock order.
#[derive(Clone, Debug, QueryableByName)]
struct Event {
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    message_id: Option<Uuid>,
}

fn events(conn: &mut PgConnection, ticket: Uuid) -> Vec<Event> {
    diesel::sql_query("SELECT kind, message_id FROM events WHERE ticket_id = $1 ORDER BY seq")
        .bind::<SqlUuid, _>(ticket)
        .load(conn)
        .expect("events")
}

/// A message as the replay needs it.
#[derive(Clone, Debug, QueryableByName)]
struct MessageRow {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    ticket_id: Uuid,
    #[diesel(sql_type = Text)]
    author_type: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    is_private: bool,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    deleted: bool,
}

fn message_rows(conn: &mut PgConnection, tickets: &[Uuid]) -> Vec<MessageRow> {
    diesel::sql_query(
        "SELECT id, ticket_id, author_type, is_private, deleted FROM messages \
         WHERE ticket_id = ANY($1) ORDER BY created_at, id",
    )
    .bind::<diesel::sql_types::Array<SqlUuid>, _>(tickets)
    .load(conn)
    .expect("messages")
}

/// Every message was deleted at most once, and exactly the deleted ones were.
fn assert_each_message_deleted_once(conn: &mut PgConnection, ticket: Uuid) {
    let mut deletions: BTreeMap<Uuid, usize> = BTreeMap::new();
    for event in events(conn, ticket) {
        if event.kind == "message_deleted" {
            *deletions
                .entry(event.message_id.expect("message id"))
                .or_default() += 1;
        }
    }
    for message in message_rows(conn, &[ticket]) {
        let times = deletions.get(&message.id).copied().unwrap_or(0);
        assert_eq!(
            times,
            usize::from(message.deleted),
            "message {} (deleted: {}) has {times} delete events",
            message.id,
            message.deleted
        );
    }
}

fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

/// Sends a message that must succeed; returns its id.
async fn send(client: &Client, ticket: Uuid, content: &str, author: &str, private: bool) -> Uuid {
    let vars = json!({ "t": ticket, "c": content, "p": private, "a": author });
    let data = client.data(SEND, vars).await;
    serde_json::from_value(data["sendMessage"]["id"].clone()).expect("message id")
}

/// `copies` deleteMessage calls for one message, all at once over every client; returns
/// how many succeeded and how many were NOT_FOUND (anything else fails the test).
async fn delete_burst(clients: &Arc<Vec<Client>>, message: Uuid, copies: usize) -> (usize, usize) {
    let results = join_all((0..copies).map(|i| {
        let clients = clients.clone();
        tokio::spawn(async move {
            let client = &clients[i % clients.len()];
            client.post(DELETE, json!({ "id": message })).await
        })
    }))
    .await;
    let (mut won, mut not_found) = (0, 0);
    for result in results {
        let (status, body) = result.expect("request task");
        match error_code(&body) {
            None => {
                assert_eq!(status, 200, "{body}");
                assert_eq!(body["data"]["deleteMessage"]["id"], json!(message));
                won += 1;
            }
            Some("NOT_FOUND") => not_found += 1,
            Some(other) => panic!("unexpected {other}: {body}"),
        }
    }
    (won, not_found)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_deletes_of_one_message_have_one_winner_and_count_once() {
    const ROUNDS: usize = 10;
    const COPIES: usize = 20;
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let ticket = fixtures::insert_ticket(&mut db.conn(), team, &TicketSpec::default());
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let servers = servers(&db.url);
    let clients = Arc::new(team_clients(&servers, &key));
    // Every kind of message, and more of them than rounds: the counters never reach 0,
    // where "never below zero" would hide a second decrement.
    let kinds = [
        ("CUSTOMER", false),
        ("SUPPORT", false),
        ("AI", false),
        ("CUSTOMER", false),
        ("SUPPORT", true),
    ];
    let mut sent = Vec::new();
    for i in 0..ROUNDS + 6 {
        let (author, private) = kinds[i % kinds.len()];
        sent.push(
            send(
                &clients[0],
                ticket,
                &format!("message {i}"),
                author,
                private,
            )
            .await,
        );
    }
    let mut conn = db.conn();
    assert_eq!(stored(&mut conn, ticket), recomputed(&mut conn, ticket));
    for (round, message) in sent.iter().take(ROUNDS).enumerate() {
        let (won, not_found) = delete_burst(&clients, *message, COPIES).await;
        // The counters first: they are what a second winner corrupts.
        assert_eq!(
            stored(&mut conn, ticket),
            recomputed(&mut conn, ticket),
            "round {round}: the counters follow the rows"
        );
        assert_eq!(
            (won, not_found),
            (1, COPIES - 1),
            "round {round}: one delete wins, the others find the message gone"
        );
        assert_each_message_deleted_once(&mut conn, ticket);
    }
}

// ---------------------------------------------------------------------------------------
// Property test: random bursts of mixed writes.

/// Who writes a message.
#[derive(Clone, Copy, Debug)]
enum Author {
    /// The customer with their own token.
    CustomerToken,
    /// A team key writing on the customer's behalf (`authorType: CUSTOMER`).
    CustomerByTeam,
    Support,
    Ai,
}

#[derive(Clone, Debug)]
enum Op {
    Send {
        ticket: Index,
        author: Author,
        /// Only for support and AI messages (customers cannot write notes).
        private: bool,
    },
    /// Several deletes of one message (any of the case's, deleted ones included).
    Delete {
        message: Index,
        copies: usize,
    },
    /// `team: false` is the customer's side, read with the customer's own token or not.
    Read {
        ticket: Index,
        team: bool,
        by_token: bool,
    },
    Create,
}

#[derive(Clone, Debug)]
struct Case {
    tickets: usize,
    waves: Vec<Vec<Op>>,
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let author = prop_oneof![
        Just(Author::CustomerToken),
        Just(Author::CustomerByTeam),
        Just(Author::Support),
        Just(Author::Ai),
    ];
    prop_oneof![
        4 => (any::<Index>(), author, any::<bool>()).prop_map(|(ticket, author, private)| {
            let private = private && matches!(author, Author::Support | Author::Ai);
            Op::Send { ticket, author, private }
        }),
        3 => (any::<Index>(), 1..6usize)
            .prop_map(|(message, copies)| Op::Delete { message, copies }),
        2 => (any::<Index>(), any::<bool>(), any::<bool>())
            .prop_map(|(ticket, team, by_token)| Op::Read { ticket, team, by_token }),
        1 => Just(Op::Create),
    ]
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        1..=3usize,
        proptest::collection::vec(proptest::collection::vec(op_strategy(), 4..14), 2..=3),
    )
        .prop_map(|(tickets, waves)| Case { tickets, waves })
}

/// The tickets of one case, with their customers' distinct ids.
#[derive(Default)]
struct CaseState {
    tickets: Vec<(Uuid, String)>,
    /// Successful team-side reads per ticket (the events do not say which side read).
    team_reads: BTreeMap<Uuid, usize>,
}

/// What one request of a wave was, to judge its answer.
enum Sent {
    MustSucceed,
    Delete(Uuid),
    TeamRead(Uuid),
    Create(String),
}

struct Env {
    team: Uuid,
    team_clients: Arc<Vec<Client>>,
    /// Endpoints of the servers, for customer clients made per distinct id.
    endpoints: [String; 2],
}

impl Env {
    fn customer(&self, distinct_id: &str, i: usize) -> Client {
        let token = customer_token(self.team, distinct_id, 3600);
        Client::new(self.endpoints[i % 2].clone(), &token)
    }

    fn team(&self, i: usize) -> Client {
        self.team_clients[i % self.team_clients.len()].clone()
    }
}

/// The requests of one op (a delete is several), with the client that sends each.
fn requests(
    env: &Env,
    state: &CaseState,
    messages: &[MessageRow],
    op: &Op,
    n: usize,
    tag: &str,
) -> Vec<(Client, &'static str, Value, Sent)> {
    match op {
        Op::Send {
            ticket,
            author,
            private,
        } => {
            let (id, distinct) = &state.tickets[ticket.index(state.tickets.len())];
            let content = format!("{tag} op {n}");
            let (client, author) = match author {
                Author::CustomerToken => (env.customer(distinct, n), Value::Null),
                Author::CustomerByTeam => (env.team(n), json!("CUSTOMER")),
                Author::Support => (env.team(n), json!("SUPPORT")),
                Author::Ai => (env.team(n), json!("AI")),
            };
            let vars = json!({ "t": id, "c": content, "p": private, "a": author });
            vec![(client, SEND, vars, Sent::MustSucceed)]
        }
        Op::Delete { message, copies } if !messages.is_empty() => {
            let target = messages[message.index(messages.len())].id;
            (0..*copies)
                .map(|c| {
                    let vars = json!({ "id": target });
                    (env.team(n + c), DELETE, vars, Sent::Delete(target))
                })
                .collect()
        }
        Op::Delete { .. } => Vec::new(),
        Op::Read {
            ticket,
            team,
            by_token,
        } => {
            let (id, distinct) = &state.tickets[ticket.index(state.tickets.len())];
            match (team, by_token) {
                (true, _) => {
                    let vars = json!({ "t": id, "s": "TEAM" });
                    vec![(env.team(n), READ, vars, Sent::TeamRead(*id))]
                }
                (false, true) => {
                    let vars = json!({ "t": id });
                    vec![(env.customer(distinct, n), READ, vars, Sent::MustSucceed)]
                }
                (false, false) => {
                    let vars = json!({ "t": id, "s": "CUSTOMER" });
                    vec![(env.team(n), READ, vars, Sent::MustSucceed)]
                }
            }
        }
        Op::Create => {
            let distinct = format!("{tag}-new-{n}");
            let vars = json!({ "d": distinct, "m": format!("{tag} opens {n}") });
            vec![(env.team(n), CREATE, vars, Sent::Create(distinct))]
        }
    }
}

/// Sends a whole wave at once and checks every answer: deletes of one message have one
/// winner if it was visible when the wave began and none if it was not.
async fn run_wave(
    env: &Env,
    state: &mut CaseState,
    messages: &[MessageRow],
    ops: &[Op],
    tag: &str,
) -> Result<(), TestCaseError> {
    let all: Vec<_> = ops
        .iter()
        .enumerate()
        .flat_map(|(n, op)| requests(env, state, messages, op, n, tag))
        .collect();
    let (jobs, kinds): (Vec<_>, Vec<_>) = all
        .into_iter()
        .map(|(client, query, vars, sent)| {
            let job = tokio::spawn(async move { client.post(query, vars).await });
            (job, sent)
        })
        .unzip();
    let answers = join_all(jobs).await;
    let mut wins: BTreeMap<Uuid, usize> = BTreeMap::new();
    for (answer, sent) in answers.into_iter().zip(kinds) {
        let (status, body) = answer.expect("request task");
        let code = error_code(&body);
        match sent {
            Sent::Delete(target) => {
                prop_assert!(
                    code.is_none() || code == Some("NOT_FOUND"),
                    "delete: {}",
                    body
                );
                *wins.entry(target).or_default() += usize::from(code.is_none());
            }
            other => {
                prop_assert!(code.is_none() && status == 200, "{}", body);
                match other {
                    Sent::TeamRead(ticket) => *state.team_reads.entry(ticket).or_default() += 1,
                    Sent::Create(distinct) => {
                        let id = serde_json::from_value(body["data"]["createTicket"]["id"].clone())
                            .expect("ticket id");
                        state.tickets.push((id, distinct));
                    }
                    _ => {}
                }
            }
        }
    }
    for (target, won) in wins {
        let was_visible = messages.iter().any(|m| m.id == target && !m.deleted);
        prop_assert_eq!(
            won,
            usize::from(was_visible),
            "deletes of {} (visible: {})",
            target,
            was_visible
        );
    }
    Ok(())
}

/// The unread counters a replay of the ticket's events can end with. A read event does
/// not say which side read, so both are followed; the third number counts the team reads
/// taken, to be matched with the team reads that succeeded.
fn replay_unread(events: &[Event], messages: &[MessageRow]) -> HashSet<(i32, i32, usize)> {
    let by_id: BTreeMap<Uuid, &MessageRow> = messages.iter().map(|m| (m.id, m)).collect();
    // (customer message?) for a visible message; None for a note (never counted).
    let side = |id: Option<Uuid>| {
        let message = by_id[&id.expect("message id")];
        (!message.is_private).then_some(message.author_type == "customer")
    };
    let mut states = HashSet::from([(0, 0, 0)]);
    let mut deleted = HashSet::new();
    for event in events {
        // Deleting a deleted message changes nothing: a second delete event of one
        // message (refused by `check_case` too) must not count down twice here.
        if event.kind == "message_deleted" && !deleted.insert(event.message_id) {
            continue;
        }
        states = states
            .into_iter()
            .flat_map(|(team, customer, reads)| match event.kind.as_str() {
                "ticket_created" => vec![(team + 1, customer, reads)],
                "message_added" => match side(event.message_id) {
                    Some(true) => vec![(team + 1, customer, reads)],
                    Some(false) => vec![(team, customer + 1, reads)],
                    None => vec![(team, customer, reads)],
                },
                "message_deleted" => match side(event.message_id) {
                    Some(true) => vec![((team - 1).max(0), customer, reads)],
                    Some(false) => vec![(team, (customer - 1).max(0), reads)],
                    None => vec![(team, customer, reads)],
                },
                "ticket_read" => vec![(0, customer, reads + 1), (team, 0, reads)],
                _ => vec![(team, customer, reads)],
            })
            .collect();
    }
    states
}

/// Every counter of every ticket of the case against the rows and the events.
fn check_case(conn: &mut PgConnection, state: &CaseState) -> Result<(), TestCaseError> {
    let ids: Vec<Uuid> = state.tickets.iter().map(|(id, _)| *id).collect();
    let all = message_rows(conn, &ids);
    for id in ids {
        let have = stored(conn, id);
        let log = events(conn, id);
        check_against_rows(&have, &recomputed(conn, id), id)?;
        let team_reads = state.team_reads.get(&id).copied().unwrap_or(0);
        let want = (
            have.unread_team_count,
            have.unread_customer_count,
            team_reads,
        );
        let possible = replay_unread(&log, &all);
        prop_assert!(
            possible.contains(&want),
            "ticket {}: stored {:?} is no replay of its writes: {:?}",
            id,
            want,
            possible
        );
        let deleted_rows = all.iter().filter(|m| m.ticket_id == id && m.deleted);
        check_deletes_published_once(&log, deleted_rows.count(), id)?;
    }
    Ok(())
}

/// Message count and last message follow the rows; the unread counters (which reads
/// lower) never count more than the visible messages of the other side.
fn check_against_rows(have: &Counters, rows: &Counters, id: Uuid) -> Result<(), TestCaseError> {
    prop_assert_eq!(have.message_count, rows.message_count, "ticket {}", id);
    prop_assert_eq!(have.last_message_at, rows.last_message_at, "ticket {}", id);
    prop_assert_eq!(&have.last_message_text, &rows.last_message_text);
    prop_assert!(
        have.unread_team_count <= rows.unread_team_count,
        "ticket {}: {:?} over {:?}",
        id,
        have,
        rows
    );
    prop_assert!(
        have.unread_customer_count <= rows.unread_customer_count,
        "ticket {}: {:?} over {:?}",
        id,
        have,
        rows
    );
    Ok(())
}

/// One delete event per deleted message, none for the others.
fn check_deletes_published_once(
    log: &[Event],
    deleted_rows: usize,
    id: Uuid,
) -> Result<(), TestCaseError> {
    let mut deleted: Vec<Option<Uuid>> = log
        .iter()
        .filter(|e| e.kind == "message_deleted")
        .map(|e| e.message_id)
        .collect();
    let published = deleted.len();
    deleted.sort();
    deleted.dedup();
    prop_assert_eq!(
        published,
        deleted.len(),
        "ticket {}: a message deleted twice",
        id
    );
    prop_assert_eq!(published, deleted_rows, "ticket {}", id);
    Ok(())
}

/// One case: its own tickets, opened through the API, then its waves one after another.
async fn run_case(env: &Env, db_url: &str, case: &Case, tag: &str) -> Result<(), TestCaseError> {
    let mut state = CaseState::default();
    let opens: Vec<Op> = (0..case.tickets).map(|_| Op::Create).collect();
    run_wave(env, &mut state, &[], &opens, &format!("{tag}-t")).await?;
    let mut conn = PgConnection::establish(db_url).expect("connect");
    for (w, ops) in case.waves.iter().enumerate() {
        let ids: Vec<Uuid> = state.tickets.iter().map(|(id, _)| *id).collect();
        let messages = message_rows(&mut conn, &ids);
        run_wave(env, &mut state, &messages, ops, &format!("{tag}-w{w}")).await?;
    }
    check_case(&mut conn, &state)
}

#[test]
fn random_bursts_of_mixed_writes_keep_every_counter_exact() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let servers = servers(&db.url);
    let env = Env {
        team,
        team_clients: Arc::new(team_clients(&servers, &key)),
        endpoints: [servers[0].url("/graphql"), servers[1].url("/graphql")],
    };
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let n = AtomicUsize::new(0);
    runner
        .run(&case_strategy(), |case| {
            // Distinct ids of their own: shrinking reruns must not meet earlier tickets.
            let tag = format!("c{}", n.fetch_add(1, Ordering::Relaxed));
            runtime.block_on(run_case(&env, &db.url, &case, &tag))
        })
        .unwrap();
}
