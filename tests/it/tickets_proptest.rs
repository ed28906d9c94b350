//! Property test: random filters, orders and page sizes against a straightforward
//! in-memory evaluation of the same rules on the same rows. Every page is walked, forward
//! or backward, and must give the same tickets in the same order as the model, with the
//! same `totalCount`. The world, the cases and the model are shared with the counts'
//! property test (`ticket_counts::model`).

use std::cmp::Ordering;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use ticketgate::auth::viewer::Scope;
use uuid::Uuid;

use crate::helpers::fixtures::{self, MessageSpec, TicketSpec};
use crate::helpers::{self, test_db, Client, TestServer};

pub(crate) const STATUSES: [&str; 5] = ["new", "open", "pending", "on_hold", "resolved"];
pub(crate) const PRIORITIES: [Option<&str>; 4] = [None, Some("low"), Some("medium"), Some("high")];
const CHANNELS: [(&str, Option<&str>); 5] = [
    ("widget", Some("widget_embedded")),
    ("widget", Some("widget_api")),
    ("email", None),
    ("slack", Some("slack_bot_mention")),
    ("teams", Some("teams_channel_message")),
];
pub(crate) const TAGS: [&str; 3] = ["billing", "bug", "vip"];
const WORDS: [&str; 6] = ["Refund", "invoice", "LOGIN", "crash", "Export", "password"];
const DISTINCT_IDS: [&str; 6] = ["d-1", "d-2", "d-3", "d-4", "d-5", "d-6"];

/// One ticket as the model sees it.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    id: Uuid,
    number: i32,
    pub(crate) status: &'static str,
    pub(crate) priority: Option<&'static str>,
    pub(crate) source: &'static str,
    pub(crate) assignee: Assignee,
    updated_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    distinct_id: &'static str,
    sla_due_at: Option<DateTime<Utc>>,
    snoozed_until: Option<DateTime<Utc>>,
    tags: Vec<&'static str>,
    ai_resolved: bool,
    /// Everything search looks in, lower-cased: traits name/email, subject, messages.
    searchable: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Assignee {
    Nobody,
    User(usize),
    Role,
}

pub(crate) struct World {
    pub(crate) rows: Vec<Row>,
    pub(crate) users: Vec<Uuid>,
    pub(crate) role: Uuid,
    now: DateTime<Utc>,
}

pub(crate) fn build_world(conn: &mut diesel::PgConnection, team: Uuid, other: Uuid) -> World {
    let mut rng = StdRng::seed_from_u64(20261125);
    let now = Utc::now();
    let users = vec![
        fixtures::user(conn, team, "ada@acme.example", "Ada"),
        fixtures::user(conn, team, "alan@acme.example", "Alan"),
    ];
    let role = fixtures::role(conn, team, "Billing");
    let base = fixtures::base_time();
    let mut rows = Vec::new();
    for _ in 0..70 {
        let (source, detail) = CHANNELS[rng.random_range(0..CHANNELS.len())];
        let word = |rng: &mut StdRng| WORDS[rng.random_range(0..WORDS.len())];
        let name = format!("{} {}", word(&mut rng), rng.random_range(0..9));
        let subject = (source == "email").then(|| format!("About {}", word(&mut rng)));
        let content = format!("Please help with {}", word(&mut rng));
        let spec = TicketSpec {
            channel_source: source,
            channel_detail: detail,
            distinct_id: DISTINCT_IDS[rng.random_range(0..DISTINCT_IDS.len())].into(),
            status: STATUSES[rng.random_range(0..STATUSES.len())],
            priority: PRIORITIES[rng.random_range(0..PRIORITIES.len())],
            anonymous_traits: json!({ "name": name, "email": format!("{}@example.com", word(&mut rng).to_lowercase()) }),
            ai_resolved: rng.random_bool(0.3),
            email_subject: subject.clone(),
            // Far from the SLA boundaries (now, now + 1 h), so the model and SQL agree.
            sla_due_at: [
                None,
                Some(now - Duration::days(2)),
                Some(now + Duration::minutes(25)),
                Some(now + Duration::days(3)),
            ][rng.random_range(0..4)],
            snoozed_until: [
                None,
                None,
                Some(now + Duration::days(1)),
                Some(now + Duration::days(2)),
            ][rng.random_range(0..4)],
            // Whole hours before now, over ten days: relative ranges (whole days back
            // from the query's now, a little later) never fall on a ticket.
            created_at: now - Duration::hours(rng.random_range(0..240)),
            // Few distinct values: plenty of ties for the id tie-break.
            updated_at: base + Duration::minutes(rng.random_range(0..25)),
            ..Default::default()
        };
        let id = fixtures::insert_ticket(conn, team, &spec);
        let deleted_word = word(&mut rng);
        fixtures::message(
            conn,
            team,
            id,
            &MessageSpec {
                content: content.clone(),
                ..Default::default()
            },
        );
        // A deleted message never matches a search.
        fixtures::message(
            conn,
            team,
            id,
            &MessageSpec {
                content: format!("gone {deleted_word}"),
                deleted: true,
                ..Default::default()
            },
        );
        let assignee = match rng.random_range(0..4) {
            0 => Assignee::Nobody,
            1 => Assignee::User(0),
            2 => Assignee::User(1),
            _ => Assignee::Role,
        };
        match assignee {
            Assignee::User(i) => fixtures::assign_user(conn, id, users[i]),
            Assignee::Role => fixtures::assign_role(conn, id, role),
            Assignee::Nobody => {}
        }
        let tags: Vec<&'static str> = TAGS
            .iter()
            .copied()
            .filter(|_| rng.random_bool(0.35))
            .collect();
        fixtures::tag(conn, team, id, &tags);
        let mut searchable = vec![
            name.to_lowercase(),
            spec.anonymous_traits["email"]
                .as_str()
                .unwrap()
                .to_lowercase(),
            content.to_lowercase(),
        ];
        searchable.extend(subject.map(|s| s.to_lowercase()));
        rows.push(Row {
            id,
            number: rows.len() as i32 + 1,
            status: spec.status,
            priority: spec.priority,
            source,
            assignee,
            updated_at: spec.updated_at,
            created_at: spec.created_at,
            distinct_id: DISTINCT_IDS
                .iter()
                .find(|d| **d == spec.distinct_id)
                .unwrap(),
            sla_due_at: spec.sla_due_at,
            snoozed_until: spec.snoozed_until,
            tags,
            ai_resolved: spec.ai_resolved,
            searchable,
        });
    }
    // Another team's tickets match many filters: they must never show up.
    for word in WORDS {
        let id = fixtures::insert_ticket(
            conn,
            other,
            &TicketSpec {
                anonymous_traits: json!({ "name": word }),
                ..Default::default()
            },
        );
        fixtures::message(
            conn,
            other,
            id,
            &MessageSpec {
                content: word.into(),
                ..Default::default()
            },
        );
    }
    World {
        rows,
        users,
        role,
        now,
    }
}

/// A random query: the filter (as GraphQL variables) and the order.
#[derive(Clone, Debug)]
pub(crate) struct Case {
    status: Option<Vec<usize>>,
    priority: Option<Vec<usize>>, // 0 = UNSET
    source: Option<Vec<usize>>,
    assignee: Option<usize>, // 0 unassigned, 1 assigned, 2 user 0, 3 user 1, 4 role, 5 me (user 0)
    updated_from: Option<i64>,
    updated_to: Option<i64>,
    distinct_ids: Option<Vec<usize>>,
    search: Option<String>,
    sla: Option<usize>,
    snoozed: Option<bool>,
    tags: Option<Vec<usize>>,
    ai_resolved: Option<bool>,
    tags_all: Option<Vec<usize>>,
    tags_none: Option<Vec<usize>>,
    created_within_days: Option<i64>,
    created_older_than_days: Option<i64>,
    order: Vec<(usize, bool)>, // (field, ascending)
    page: i32,
    backward: bool,
}

fn subset(n: usize) -> impl Strategy<Value = Option<Vec<usize>>> {
    proptest::option::weighted(
        0.3,
        proptest::collection::btree_set(0..n, 0..=n).prop_map(|s| s.into_iter().collect()),
    )
}

pub(crate) fn case_strategy() -> impl Strategy<Value = Case> {
    let search = prop_oneof![
        Just(None),
        Just(None),
        proptest::sample::select(WORDS.to_vec()).prop_map(|w| Some(w.to_uppercase())),
        proptest::sample::select(WORDS.to_vec()).prop_map(|w| Some(w[1..4].to_string())),
        (1..75i32).prop_map(|n| Some(n.to_string())),
    ];
    let filters = (
        subset(5),
        subset(4),
        subset(4),
        proptest::option::weighted(0.3, 0..6usize),
        proptest::option::weighted(0.2, 0..25i64),
        proptest::option::weighted(0.2, 0..25i64),
        subset(6),
        search,
    );
    let more = (
        proptest::option::weighted(0.25, 0..3usize),
        proptest::option::weighted(0.2, any::<bool>()),
        subset(3),
        proptest::option::weighted(0.2, any::<bool>()),
        proptest::collection::vec((0..5usize, any::<bool>()), 0..=2),
        1..8i32,
        any::<bool>(),
    );
    let new = (
        subset(3),
        subset(3),
        proptest::option::weighted(0.2, 1..12i64),
        proptest::option::weighted(0.15, 1..12i64),
    );
    (filters, more, new).prop_map(
        |(
            (status, priority, source, assignee, updated_from, updated_to, distinct_ids, search),
            (sla, snoozed, tags, ai_resolved, mut order, page, backward),
            (tags_all, tags_none, created_within_days, created_older_than_days),
        )| {
            // A range is never reversed (that is refused, tested elsewhere).
            let (updated_from, updated_to) = match (updated_from, updated_to) {
                (Some(a), Some(b)) => (Some(a.min(b)), Some(a.max(b))),
                other => other,
            };
            let mut seen = Vec::new();
            order.retain(|(f, _)| {
                let fresh = !seen.contains(f);
                seen.push(*f);
                fresh
            });
            Case {
                status,
                priority,
                source,
                assignee,
                updated_from,
                updated_to,
                distinct_ids,
                search,
                sla,
                snoozed,
                tags,
                ai_resolved,
                tags_all,
                tags_none,
                created_within_days,
                created_older_than_days,
                order,
                page,
                backward,
            }
        },
    )
}

pub(crate) const SOURCES: [&str; 4] = ["widget", "email", "slack", "teams"];
const FIELDS: [&str; 5] = [
    "UPDATED_AT",
    "CREATED_AT",
    "TICKET_NUMBER",
    "SLA_DUE_AT",
    "SNOOZED_UNTIL",
];

pub(crate) fn variables(case: &Case, world: &World) -> (Value, Value) {
    let mut filter = serde_json::Map::new();
    let upper = |s: &str| s.to_uppercase();
    if let Some(s) = &case.status {
        filter.insert(
            "status".into(),
            json!(s.iter().map(|i| upper(STATUSES[*i])).collect::<Vec<_>>()),
        );
    }
    if let Some(p) = &case.priority {
        filter.insert(
            "priority".into(),
            json!(p
                .iter()
                .map(|i| PRIORITIES[*i].map_or("UNSET".into(), upper))
                .collect::<Vec<_>>()),
        );
    }
    if let Some(s) = &case.source {
        filter.insert(
            "channelSource".into(),
            json!(s.iter().map(|i| upper(SOURCES[*i])).collect::<Vec<_>>()),
        );
    }
    if let Some(a) = case.assignee {
        let value = match a {
            0 => json!({ "unassigned": true }),
            1 => json!({ "unassigned": false }),
            2 => json!({ "userId": world.users[0] }),
            3 => json!({ "userId": world.users[1] }),
            4 => json!({ "roleId": world.role }),
            _ => json!({ "me": true }),
        };
        filter.insert("assignee".into(), value);
    }
    if case.updated_from.is_some() || case.updated_to.is_some() {
        let at = |m: i64| (fixtures::base_time() + Duration::minutes(m)).to_rfc3339();
        filter.insert(
            "updatedAt".into(),
            json!({ "from": case.updated_from.map(at), "to": case.updated_to.map(at) }),
        );
    }
    if let Some(d) = &case.distinct_ids {
        filter.insert(
            "distinctIds".into(),
            json!(d.iter().map(|i| DISTINCT_IDS[*i]).collect::<Vec<_>>()),
        );
    }
    if let Some(s) = &case.search {
        filter.insert("search".into(), json!(s));
    }
    if let Some(s) = case.sla {
        filter.insert("sla".into(), json!(["BREACHED", "AT_RISK", "ON_TRACK"][s]));
    }
    if let Some(s) = case.snoozed {
        filter.insert("snoozed".into(), json!(s));
    }
    if let Some(t) = &case.tags {
        filter.insert(
            "tags".into(),
            json!(t.iter().map(|i| TAGS[*i]).collect::<Vec<_>>()),
        );
    }
    if let Some(a) = case.ai_resolved {
        filter.insert("aiResolved".into(), json!(a));
    }
    for (name, set) in [("tagsAll", &case.tags_all), ("tagsNone", &case.tags_none)] {
        if let Some(t) = set {
            filter.insert(
                name.into(),
                json!(t.iter().map(|i| TAGS[*i]).collect::<Vec<_>>()),
            );
        }
    }
    if case.created_within_days.is_some() || case.created_older_than_days.is_some() {
        filter.insert(
            "createdAt".into(),
            json!({ "withinLastDays": case.created_within_days, "olderThanDays": case.created_older_than_days }),
        );
    }
    let order: Vec<Value> = case
        .order
        .iter()
        .map(|(f, asc)| json!({ "field": FIELDS[*f], "direction": if *asc { "ASC" } else { "DESC" } }))
        .collect();
    (Value::Object(filter), json!(order))
}

pub(crate) fn matches(case: &Case, world: &World, row: &Row) -> bool {
    let any = |set: &Option<Vec<usize>>, pred: &dyn Fn(usize) -> bool| {
        set.as_ref().is_none_or(|s| s.iter().any(|i| pred(*i)))
    };
    let at = |m: i64| fixtures::base_time() + Duration::minutes(m);
    any(&case.status, &|i| STATUSES[i] == row.status)
        && any(&case.priority, &|i| PRIORITIES[i] == row.priority)
        && any(&case.source, &|i| SOURCES[i] == row.source)
        && case.assignee.is_none_or(|a| match a {
            0 => row.assignee == Assignee::Nobody,
            1 => row.assignee != Assignee::Nobody,
            2 => row.assignee == Assignee::User(0),
            3 => row.assignee == Assignee::User(1),
            4 => row.assignee == Assignee::Role,
            // The key is user 0's.
            _ => row.assignee == Assignee::User(0),
        })
        && case.updated_from.is_none_or(|m| row.updated_at >= at(m))
        && case.updated_to.is_none_or(|m| row.updated_at < at(m))
        && any(&case.distinct_ids, &|i| DISTINCT_IDS[i] == row.distinct_id)
        && case.search.as_ref().is_none_or(|s| {
            if s.chars().all(|c| c.is_ascii_digit()) {
                s.parse::<i32>().ok() == Some(row.number)
            } else {
                let s = s.to_lowercase();
                row.searchable.iter().any(|text| text.contains(&s))
            }
        })
        && case.sla.is_none_or(|state| {
            row.sla_due_at.is_some_and(|due| match state {
                0 => due < world.now,
                1 => due >= world.now && due < world.now + Duration::hours(1),
                _ => due >= world.now + Duration::hours(1),
            })
        })
        && case
            .snoozed
            .is_none_or(|s| row.snoozed_until.is_some() == s)
        && any(&case.tags, &|i| row.tags.contains(&TAGS[i]))
        && case.ai_resolved.is_none_or(|a| row.ai_resolved == a)
        && case
            .tags_all
            .as_ref()
            .is_none_or(|t| t.iter().all(|i| row.tags.contains(&TAGS[*i])))
        && case
            .tags_none
            .as_ref()
            .is_none_or(|t| !t.iter().any(|i| row.tags.contains(&TAGS[*i])))
        // Tickets lie whole hours before `world.now`; the query's now is a little later.
        && case
            .created_within_days
            .is_none_or(|d| row.created_at > world.now - Duration::days(d))
        && case
            .created_older_than_days
            .is_none_or(|d| row.created_at <= world.now - Duration::days(d))
}

/// Compares two rows on one field; missing times sort last whichever the direction.
fn compare_field(field: usize, asc: bool, a: &Row, b: &Row) -> Ordering {
    let directed = |o: Ordering| if asc { o } else { o.reverse() };
    let nulls_last = |x: Option<DateTime<Utc>>, y: Option<DateTime<Utc>>| match (x, y) {
        (Some(x), Some(y)) => directed(x.cmp(&y)),
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
    };
    match field {
        0 => directed(a.updated_at.cmp(&b.updated_at)),
        1 => directed(a.created_at.cmp(&b.created_at)),
        2 => directed(a.number.cmp(&b.number)),
        3 => nulls_last(a.sla_due_at, b.sla_due_at),
        _ => nulls_last(a.snoozed_until, b.snoozed_until),
    }
}

fn expected(case: &Case, world: &World) -> Vec<i32> {
    let order = if case.order.is_empty() {
        vec![(0, false)]
    } else {
        case.order.clone()
    };
    let id_asc = order.last().map(|(_, asc)| *asc).unwrap_or(false);
    let mut rows: Vec<&Row> = world
        .rows
        .iter()
        .filter(|r| matches(case, world, r))
        .collect();
    rows.sort_by(|a, b| {
        order
            .iter()
            .map(|(f, asc)| compare_field(*f, *asc, a, b))
            .find(|o| o.is_ne())
            .unwrap_or_else(|| {
                if id_asc {
                    a.id.cmp(&b.id)
                } else {
                    b.id.cmp(&a.id)
                }
            })
    });
    rows.iter().map(|r| r.number).collect()
}

const PAGE: &str = r#"query($filter: TicketFilter, $orderBy: [TicketOrder!], $first: Int, $after: String, $last: Int, $before: String) {
  tickets(filter: $filter, orderBy: $orderBy, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { ticketNumber }
  }
}"#;

fn numbers(page: &Value) -> Vec<i32> {
    page["tickets"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["ticketNumber"].as_i64().unwrap() as i32)
        .collect()
}

async fn walk(client: &Client, case: &Case, world: &World) -> (Vec<i32>, i64) {
    let (filter, order_by) = variables(case, world);
    let mut seen: Vec<i32> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut total = 0;
    for _ in 0..100 {
        let vars = if case.backward {
            json!({ "filter": filter, "orderBy": order_by, "last": case.page, "before": cursor })
        } else {
            json!({ "filter": filter, "orderBy": order_by, "first": case.page, "after": cursor })
        };
        let page = client.data(PAGE, vars).await;
        total = page["tickets"]["totalCount"].as_i64().unwrap();
        let info = &page["tickets"]["pageInfo"];
        if case.backward {
            let mut chunk = numbers(&page);
            chunk.extend(seen);
            seen = chunk;
            if !info["hasPreviousPage"].as_bool().unwrap() {
                break;
            }
            cursor = info["startCursor"].as_str().map(str::to_string);
        } else {
            seen.extend(numbers(&page));
            if !info["hasNextPage"].as_bool().unwrap() {
                break;
            }
            cursor = info["endCursor"].as_str().map(str::to_string);
        }
    }
    (seen, total)
}

#[test]
fn random_filters_orders_and_pages_agree_with_the_model() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let db = test_db();
    let mut conn = db.conn();
    let team = fixtures::team(&mut conn, "acme");
    let other = fixtures::team(&mut conn, "globex");
    let world = build_world(&mut conn, team, other);
    let key = helpers::create_user_key(&db.url, team, world.users[0], &[Scope::Read]);
    let server = TestServer::start(&db.url);
    let client = server.client(&key);

    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&case_strategy(), |case| {
            let want = expected(&case, &world);
            let (got, total) = runtime.block_on(walk(&client, &case, &world));
            prop_assert_eq!(&got, &want, "case: {:?}", case);
            prop_assert_eq!(total, want.len() as i64);
            Ok(())
        })
        .unwrap();
}
