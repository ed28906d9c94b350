//! Text and number search: exact numbers, case-insensitive text in traits, subjects and
//! messages (private notes for the team only, deleted messages never), literal `%`, `_` and
//! `\`; and search pages that stay exact beyond the newest window and past long
//! conversations, checked against the plain SQL answer.

use chrono::Duration;
use diesel::prelude::*;
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use uuid::Uuid;

use super::support::{
    by_number, check_all, hours, matching, minutes, next_number_is, numbers, ordered,
    walk_backward, walk_forward, TICKETS,
};
use crate::helpers::fixtures::{self, base_time, MessageSpec, TicketSpec};
use crate::helpers::{self, test_db, TestServer};

#[tokio::test]
async fn search_matches_numbers_exactly_and_text_case_insensitively() {
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let other = fixtures::team(&mut conn, "globex");
    let ticket =
        |conn: &mut PgConnection, spec: TicketSpec| fixtures::insert_ticket(conn, team, &spec);
    let say = |conn: &mut PgConnection, ticket: Uuid, content: &str, deleted: bool| {
        fixtures::message(
            conn,
            team,
            ticket,
            &MessageSpec {
                content: content.into(),
                deleted,
                ..MessageSpec::default()
            },
        );
    };
    let email = |subject: &str| TicketSpec {
        channel_source: "email",
        channel_detail: None,
        email_subject: Some(subject.into()),
        ..TicketSpec::default()
    };
    // 1: traits
    ticket(
        &mut conn,
        TicketSpec {
            anonymous_traits: json!({ "name": "Zoë Ålander", "email": "zoe@example.com" }),
            ..TicketSpec::default()
        },
    );
    // 2, 3: email subjects
    ticket(&mut conn, email("Invoice 50% discount"));
    ticket(&mut conn, email("Order 500 units"));
    // 4..7, 9, 10: messages
    let t4 = ticket(&mut conn, TicketSpec::default());
    say(&mut conn, t4, "Je vais à l'école demain", false);
    let t5 = ticket(
        &mut conn,
        TicketSpec {
            anonymous_traits: json!({ "name": "Snake Plissken" }),
            ..TicketSpec::default()
        },
    );
    say(&mut conn, t5, "a snake_case issue", false);
    say(&mut conn, t5, "still a snake_case issue", false);
    fixtures::message(
        &mut conn,
        team,
        t5,
        &MessageSpec {
            content: "internal: plissken snake".into(),
            is_private: true,
            ..MessageSpec::default()
        },
    );
    let t6 = ticket(&mut conn, TicketSpec::default());
    say(&mut conn, t6, "a snakeXcase issue", false);
    let t7 = ticket(&mut conn, TicketSpec::default());
    say(&mut conn, t7, "the secret phrase", true);
    say(&mut conn, t7, "nothing to see", false);
    // 8: an email trait in mixed case
    ticket(
        &mut conn,
        TicketSpec {
            anonymous_traits: json!({ "email": "Mixed.Case@Example.COM" }),
            ..TicketSpec::default()
        },
    );
    let t9 = ticket(&mut conn, TicketSpec::default());
    say(&mut conn, t9, r"path C:\temp\logs", false);
    let t10 = ticket(&mut conn, TicketSpec::default());
    say(&mut conn, t10, "path C:temp", false);
    // 11: digits in text: a number search is not a text search
    let t11 = ticket(
        &mut conn,
        TicketSpec {
            anonymous_traits: json!({ "name": "Agent 12" }),
            email_subject: Some("re: 12".into()),
            ..TicketSpec::default()
        },
    );
    say(&mut conn, t11, "see tickets 12 and 120", false);
    // 12 and 120
    ticket(&mut conn, TicketSpec::default());
    next_number_is(&mut conn, team, 120);
    ticket(&mut conn, TicketSpec::default());

    // globex: everything matches, nothing may be found.
    let stranger = fixtures::insert_ticket(
        &mut conn,
        other,
        &TicketSpec {
            anonymous_traits: json!({ "name": "Zoë Ålander", "email": "zoe@example.com" }),
            email_subject: Some("Invoice 50% discount".into()),
            ..TicketSpec::default()
        },
    );
    for content in ["école", "snake_case", "nothing to see", r"C:\temp", "grace"] {
        fixtures::message(
            &mut conn,
            other,
            stranger,
            &MessageSpec {
                content: content.into(),
                ..MessageSpec::default()
            },
        );
    }
    next_number_is(&mut conn, other, 12);
    fixtures::insert_ticket(&mut conn, other, &TicketSpec::default());

    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let everything = vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 120];
    let search = |text: &str| json!({ "search": text });

    let cases: Vec<(Value, Vec<i64>)> = vec![
        // digits: the ticket with exactly that number
        (search("12"), vec![12]),
        (search("1"), vec![1]),
        (search("120"), vec![120]),
        (search("  12 "), vec![12]),
        (search("13"), vec![]),
        (search("0"), vec![]),
        (search("2147483647"), vec![]),
        (search("99999999999"), vec![]),
        (search("123456789012345678901234567890"), vec![]),
        // traits: name and email
        (search("Zoë"), vec![1]),
        (search("zoe@"), vec![1]),
        (search("EXAMPLE.com"), vec![1, 8]),
        (search("mixed.case@example.com"), vec![8]),
        (search("agent"), vec![11]),
        // email subject
        (search("invoice"), vec![2]),
        (search("ORDER 5"), vec![3]),
        // message content
        // several matching messages and traits: still one ticket, counted once
        (search("Snake"), vec![5, 6]),
        (search("snake_case issue"), vec![5]),
        // private notes are messages too
        (search("internal:"), vec![5]),
        (search("NOTHING TO see"), vec![7]),
        // deleted messages are not searched
        (search("secret"), vec![]),
        // %, _ and \ are literal
        (search("50%"), vec![2]),
        (search("%"), vec![2]),
        (search("0%"), vec![2]),
        (search("500 UNITS"), vec![3]),
        // digits only: a ticket number, never text
        (search("500"), vec![]),
        (search("snake_case"), vec![5]),
        (search("_"), vec![5]),
        (search(r"C:\temp"), vec![9]),
        (search(r"\"), vec![9]),
        (search("C:temp"), vec![10]),
        // whitespace only, or empty: no filter at all
        (search("   "), everything.clone()),
        (search(""), everything.clone()),
        (search("\t\n"), everything.clone()),
        (search("no such text anywhere"), vec![]),
    ];
    check_all(&client, &cases).await;

    // Non-ASCII case folding (the test cluster runs with the C.UTF-8 locale).
    let folding: Vec<(Value, Vec<i64>)> = vec![
        (search("école"), vec![4]),
        (search("ÉCOLE"), vec![4]),
        (search("L'ÉCOLE"), vec![4]),
        (search("ZOË"), vec![1]),
        (search("ålander"), vec![1]),
        // accents are not folded away
        (search("ecole"), vec![]),
    ];
    check_all(&client, &folding).await;

    // The other team's ticket never shows, whatever matched it.
    let data = client
        .data(
            TICKETS,
            json!({ "filter": search("o"), "orderBy": by_number(), "first": 500 }),
        )
        .await;
    assert_eq!(numbers(&data), vec![1, 2, 3, 4, 7, 8, 9]);
    assert_eq!(data["tickets"]["totalCount"], 7);
    assert_eq!(matching(&client, &search("grace")).await, Vec::<i64>::new());
}

/// The tickets of `team` a text search must find, in `order`, computed in SQL the plain
/// way (every match, then sorted).
fn expected_search(conn: &mut PgConnection, team: Uuid, text: &str, order: &str) -> Vec<String> {
    plain_search(conn, team, None, text, order)
        .into_iter()
        .map(|row| row.id.to_string())
        .collect()
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    ticket_number: i32,
}

/// Every match of a text search for `team`, or with `customer` for that customer (their
/// tickets; private notes not searched), in `order`, the plain way.
fn plain_search(
    conn: &mut PgConnection,
    team: Uuid,
    customer: Option<&str>,
    text: &str,
    order: &str,
) -> Vec<Found> {
    use diesel::sql_types::{Nullable, Text, Uuid as SqlUuid};
    let pattern = ticketgate::tickets::search::like_pattern(text);
    diesel::sql_query(format!(
        "SELECT t.id, t.ticket_number FROM tickets t WHERE t.team_id = $1 \
           AND ($3::text IS NULL OR t.distinct_id = $3) AND ( \
           (t.anonymous_traits ->> 'name') ILIKE $2 OR (t.anonymous_traits ->> 'email') ILIKE $2 \
           OR t.email_subject ILIKE $2 OR EXISTS (SELECT 1 FROM messages m \
             WHERE m.ticket_id = t.id AND NOT m.deleted AND m.content ILIKE $2 \
               AND ($3::text IS NULL OR NOT m.is_private))) \
         ORDER BY {order}"
    ))
    .bind::<SqlUuid, _>(team)
    .bind::<Text, _>(pattern)
    .bind::<Nullable<Text>, _>(customer)
    .load::<Found>(conn)
    .unwrap()
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[tokio::test]
async fn search_pages_are_exact_beyond_the_newest_window() {
    // More tickets than the window a small page tests first (1,000): common words fill
    // pages from the window, rare ones fall back to the trigram indexes, and pages after
    // a cursor start a new window there.
    let db = test_db();
    let team = helpers::seed(&db.url, "acme", 2_500);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);
    let query = "query($q: String, $after: String, $order: [TicketOrder!]) { \
        tickets(first: 7, after: $after, filter: { search: $q }, orderBy: $order) { \
          nodes { id } pageInfo { hasNextPage endCursor } } }";
    let orders = [
        (json!(null), "t.updated_at DESC, t.id DESC"),
        (
            json!([{ "field": "TICKET_NUMBER", "direction": "ASC" }]),
            "t.ticket_number ASC",
        ),
    ];
    // A customer's full name: a few tickets only.
    let name: String = diesel::sql_query(
        "SELECT anonymous_traits ->> 'name' AS name FROM tickets \
         WHERE anonymous_traits ? 'name' ORDER BY ticket_number LIMIT 1",
    )
    .get_result::<Name>(&mut db.conn())
    .unwrap()
    .name;
    // A word in one message of every 400th ticket by number: matches far apart in every
    // order, so windows after a cursor come up short and the trigram indexes answer.
    {
        use ticketgate::db::schema::tickets;
        let mut conn = db.conn();
        let spread: Vec<Uuid> = tickets::table
            .filter(tickets::team_id.eq(team))
            .filter(tickets::ticket_number.eq_any((0..7).map(|i| 1 + i * 400)))
            .select(tickets::id)
            .load(&mut conn)
            .unwrap();
        for ticket in spread {
            let spec = MessageSpec {
                content: "a zebracorn sighting".into(),
                ..MessageSpec::default()
            };
            fixtures::message(&mut conn, team, ticket, &spec);
        }
    }
    let mut seen_counts = Vec::new();
    let words = [
        "webhook",
        "WEBHOOK deliveries",
        &name,
        "Zebracorn",
        "zq-none",
        "a",
    ];
    for text in words {
        for (order, sql_order) in &orders {
            let expected = expected_search(&mut db.conn(), team, text, sql_order);
            let mut found = Vec::new();
            let mut after = Value::Null;
            loop {
                let data = client
                    .data(query, json!({ "q": text, "after": after, "order": order }))
                    .await;
                let page = &data["tickets"];
                found.extend(
                    page["nodes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|n| n["id"].as_str().unwrap().to_string()),
                );
                if page["pageInfo"]["hasNextPage"] != true {
                    break;
                }
                after = page["pageInfo"]["endCursor"].clone();
            }
            assert_eq!(found, expected, "search {text:?} by {sql_order}");
            seen_counts.push(expected.len());
        }
    }
    // The words chosen cover a rare match, none, and many.
    assert!(seen_counts.contains(&0), "{seen_counts:?}");
    assert!(
        seen_counts.iter().any(|&n| (1..100).contains(&n)),
        "{seen_counts:?}"
    );
    assert!(seen_counts.iter().any(|&n| n > 1_000), "{seen_counts:?}");
}

/// Where each ticket of [`long_conversations`] sits, newest first.
const LAYOUT: usize = 40;
const LONG_A: usize = 6;
const LONG_B: usize = 17;
const LONG_C: usize = 23;

/// 40 tickets of `team`, newest first by position (numbered in another order), three of
/// them (`LONG_A`, `LONG_B`, `LONG_C`) with `long` messages each; returns the numbers by
/// position. What each says:
/// - ordinary tickets: "hello"; even positions "a refund request"; 9 a deleted "shredded
///   document"; 13 only a private note about the refund; 30 "zebracorn sighting";
/// - A: "refund please" in the middle of its conversation, a deleted "shredded" message;
/// - B: the refund in a private note only;
/// - C: the refund in a deleted message only, "zebracorn" in the middle, a private note
///   "ledger check".
///
/// The long tickets and every third position belong to the customer `chatty`; SLA
/// deadlines repeat, and every fourth ticket has none.
fn long_conversations(conn: &mut PgConnection, team: Uuid, long: i32) -> Vec<i64> {
    let mut numbers = vec![0; LAYOUT];
    // Position p is inserted at step s = p·11⁻¹ (mod 40): numbers do not follow the order.
    for step in 0..LAYOUT {
        let position = step * 11 % LAYOUT;
        let is_long = [LONG_A, LONG_B, LONG_C].contains(&position);
        let said: Vec<(&str, bool, bool)> = match position {
            LONG_A => vec![("refund please", false, false), ("shredded", false, true)],
            LONG_B => vec![("refund approved", true, false)],
            LONG_C => vec![
                ("refund", false, true),
                ("a zebracorn, at last", false, false),
                ("ledger check", true, false),
            ],
            _ => {
                let mut said = vec![("hello", false, false)];
                if position.is_multiple_of(2) {
                    said.push(("a refund request", false, false));
                }
                match position {
                    9 => said.push(("shredded document", false, true)),
                    13 => said.push(("refund approved internally", true, false)),
                    30 => said.push(("zebracorn sighting", false, false)),
                    _ => {}
                }
                said
            }
        };
        let visible = said
            .iter()
            .filter(|(_, private, deleted)| !private && !deleted);
        let ticket = fixtures::insert_ticket(
            conn,
            team,
            &TicketSpec {
                distinct_id: match is_long || position.is_multiple_of(3) {
                    true => "chatty".into(),
                    false => format!("visitor-{position}"),
                },
                updated_at: minutes((LAYOUT - position) as i64),
                // Ties and tickets without a deadline, for the SLA order.
                sla_due_at: (!position.is_multiple_of(4)).then(|| hours((position % 5) as i64)),
                message_count: visible.count() as i32,
                ..TicketSpec::default()
            },
        );
        numbers[position] = step as i64 + 1;
        if is_long {
            fixtures::conversation(conn, team, ticket, long, base_time());
        }
        // Long tickets' own messages sit in the middle of their conversation.
        let at = base_time() + Duration::seconds(i64::from(long / 2));
        for (content, is_private, deleted) in said {
            let spec = MessageSpec {
                content: content.into(),
                is_private,
                deleted,
                author_type: if is_private { "support" } else { "customer" },
                created_at: at,
                ..MessageSpec::default()
            };
            fixtures::message(conn, team, ticket, &spec);
        }
    }
    numbers
}

#[tokio::test]
async fn search_pages_stay_exact_when_the_newest_tickets_hold_long_conversations() {
    use ticketgate::tickets::search::{message_budget_for, window_for};
    // A page of 7 reads 8 rows: its window's messages may add up to `budget`. Each long
    // ticket holds 3/5 of it, so a window ends before the second long ticket it meets,
    // and pages after a cursor start a window (and a budget) of their own.
    let budget = message_budget_for(window_for(8));
    let long = i32::try_from(budget * 3 / 5).unwrap();
    assert!(i64::from(long) <= budget && budget < 2 * i64::from(long));
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let at = long_conversations(&mut conn, team, long);
    let (a, b, c) = (at[LONG_A], at[LONG_B], at[LONG_C]);
    let key = helpers::create_key(&db.url, team, &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let viewers = [
        (server.client(&key), None),
        (
            server.client(&helpers::server::customer_token(team, "chatty", 600)),
            Some("chatty"),
        ),
    ];
    let orders = [
        (json!(null), "t.updated_at DESC, t.id DESC"),
        (by_number(), "t.ticket_number ASC"),
        (
            json!([{ "field": "SLA_DUE_AT", "direction": "ASC" }]),
            "COALESCE(t.sla_due_at, 'infinity') ASC, t.id ASC",
        ),
    ];
    let deep = format!("LINE {}", long - 1);
    let words = ["refund", "zebracorn", "ledger", "shredded", &deep];
    for (client, customer) in &viewers {
        for text in words {
            let filter = json!({ "search": text });
            for (order, sql_order) in &orders {
                let expected: Vec<i64> = plain_search(&mut conn, team, *customer, text, sql_order)
                    .into_iter()
                    .map(|row| i64::from(row.ticket_number))
                    .collect();
                let case = format!("{text:?} by {sql_order} for {customer:?}");
                assert_eq!(ordered(client, &filter, order).await, expected, "{case}");
                for size in [2, 7] {
                    let walked = walk_forward(client, &filter, order, size).await;
                    assert_eq!(walked, expected, "{case}, pages of {size}");
                }
                let walked = walk_backward(client, &filter, order, 7).await;
                assert_eq!(walked, expected, "{case}, backward");
            }
        }
    }
    // What the plain answers hold, so the comparisons above compare the right thing.
    let found = |customer: Option<&str>, text: &str| -> Vec<i64> {
        let mut conn = db.conn();
        let rows = plain_search(&mut conn, team, customer, text, "t.ticket_number");
        rows.into_iter()
            .map(|row| i64::from(row.ticket_number))
            .collect()
    };
    let team_refund = found(None, "refund");
    assert!(team_refund.contains(&a) && team_refund.contains(&b));
    assert!(team_refund.contains(&at[13]) && !team_refund.contains(&c));
    let chatty_refund = found(Some("chatty"), "refund");
    assert!(chatty_refund.contains(&a) && !chatty_refund.contains(&b));
    assert!(!chatty_refund.contains(&c) && chatty_refund.len() > 4);
    let mut zebracorns = vec![c, at[30]];
    zebracorns.sort();
    assert_eq!(found(None, "zebracorn"), zebracorns);
    assert_eq!(found(Some("chatty"), "zebracorn"), zebracorns);
    assert_eq!(found(None, "ledger"), vec![c]);
    assert_eq!(found(Some("chatty"), "ledger"), Vec::<i64>::new());
    assert_eq!(found(None, "shredded"), Vec::<i64>::new());
    let mut longs = vec![a, b, c];
    longs.sort();
    assert_eq!(found(None, &deep), longs);
    assert_eq!(found(Some("chatty"), &deep), longs);
}
