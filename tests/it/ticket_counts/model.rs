//! Property test: for random filters over random tickets, `ticketCounts` equals counting
//! the model's matching rows by hand (the world and the filter model of
//! `tickets_proptest`, new filters included), and its `total` equals the `tickets`
//! query's `totalCount`.

use proptest::test_runner::{Config, TestRunner};
use serde_json::json;

use super::{dimension, COUNTS_AND_TOTAL};
use crate::helpers::fixtures;
use crate::helpers::{self, test_db, TestServer};
use crate::tickets_proptest::{
    build_world, case_strategy, matches, variables, Assignee, World, PRIORITIES, SOURCES, STATUSES,
};
use ticketgate::auth::viewer::Scope;

/// What `dimension` gives for the model's rows matching `case`.
fn expected(case: &crate::tickets_proptest::Case, world: &World) -> (i64, [Vec<String>; 4]) {
    let rows: Vec<_> = world
        .rows
        .iter()
        .filter(|r| matches(case, world, r))
        .collect();
    let tally = |key: &dyn Fn(&crate::tickets_proptest::Row) -> String| {
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for row in &rows {
            *counts.entry(key(row)).or_default() += 1;
        }
        let mut pairs: Vec<String> = counts.iter().map(|(k, n)| format!("{k}={n}")).collect();
        pairs.sort();
        pairs
    };
    let upper = |s: &str| s.to_uppercase();
    let dims = [
        tally(&|r| upper(r.status)),
        tally(&|r| r.priority.map_or("null".into(), upper)),
        tally(&|r| upper(r.source)),
        tally(&|r| match r.assignee {
            Assignee::Nobody => "unassigned".into(),
            Assignee::User(i) => format!("user:{}", world.users[i]),
            Assignee::Role => format!("role:{}", world.role),
        }),
    ];
    (rows.len() as i64, dims)
}

#[test]
fn counts_agree_with_a_count_of_the_filtered_rows() {
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
    // The statuses, priorities and channels the model draws from are every value.
    assert_eq!((STATUSES.len(), PRIORITIES.len(), SOURCES.len()), (5, 4, 4));

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
            let (filter, _) = variables(&case, &world);
            let data = runtime.block_on(client.data(COUNTS_AND_TOTAL, json!({ "filter": filter })));
            let counts = &data["ticketCounts"];
            let (total, dims) = expected(&case, &world);
            proptest::prop_assert_eq!(counts["total"].as_i64(), Some(total), "case {:?}", case);
            proptest::prop_assert_eq!(data["tickets"]["totalCount"].as_i64(), Some(total));
            for (name, want) in ["byStatus", "byPriority", "byChannelSource", "byAssignee"]
                .iter()
                .zip(dims)
            {
                let mut want = want;
                // `unassigned` is always listed; `dimension` drops it at zero like the rest.
                want.retain(|p| !p.ends_with("=0"));
                proptest::prop_assert_eq!(dimension(counts, name), want, "{} of {:?}", name, case);
            }
            // Every status, priority (and "none") and channel is listed, zeros included.
            proptest::prop_assert_eq!(counts["byStatus"].as_array().map(Vec::len), Some(5));
            proptest::prop_assert_eq!(counts["byPriority"].as_array().map(Vec::len), Some(4));
            proptest::prop_assert_eq!(counts["byChannelSource"].as_array().map(Vec::len), Some(4));
            Ok(())
        })
        .unwrap();
}
