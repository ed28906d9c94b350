//! What an answer must be (status, code, field, timing, no echoed credential, never
//! INTERNAL), what the database must still be, that the server never panics, and that it
//! stays healthy.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde_json::Value;

use super::cases::{Case, World};
use super::requests::Answer;
use crate::helpers::TestServer;

/// Every case must be answered within this time unless it says otherwise (`max_ms`).
const DEFAULT_MAX_MS: u64 = 10_000;

pub(super) fn short(text: &str) -> String {
    let cut: String = text.chars().take(400).collect();
    if cut.len() < text.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Every code of a response (all errors, every batch entry).
fn codes(body: &Value) -> Vec<String> {
    let entries: Vec<&Value> = match body {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    entries
        .iter()
        .flat_map(|entry| entry["errors"].as_array().into_iter().flatten())
        .filter_map(|error| error["extensions"]["code"].as_str().map(String::from))
        .collect()
}

/// The problems with one answer (empty: as expected).
pub(super) fn check(case: &Case, world: &World, answer: &Answer) -> Vec<String> {
    let expect = &case.expect;
    let mut problems = Vec::new();
    if answer.status >= 500 {
        problems.push(format!("a {} (5xx)", answer.status));
    }
    match (&expect.status_in, expect.status) {
        (Some(allowed), _) if !allowed.contains(&answer.status) => {
            problems.push(format!("status {} not in {allowed:?}", answer.status))
        }
        (None, Some(status)) if status != answer.status => {
            problems.push(format!("status {} instead of {status}", answer.status))
        }
        _ => {}
    }
    let max_ms = expect.max_ms.unwrap_or(DEFAULT_MAX_MS);
    if answer.elapsed > Duration::from_millis(max_ms) {
        problems.push(format!(
            "answered in {} ms (limit {max_ms} ms)",
            answer.elapsed.as_millis()
        ));
    }
    for secret in &world.secrets {
        if answer.text.contains(secret.as_str()) {
            problems.push("the answer echoes a credential".into());
        }
    }
    for text in &expect.not_contains {
        match world.substitute(text) {
            Ok(text) if answer.text.contains(&text) => {
                problems.push(format!("the answer contains {text}"))
            }
            Ok(_) => {}
            Err(err) => problems.push(err),
        }
    }
    if expect.not_json {
        return problems;
    }
    let body: Value = match serde_json::from_str(&answer.text) {
        Ok(body) => body,
        Err(_) => {
            problems.push("the body is not JSON".into());
            return problems;
        }
    };
    if codes(&body).iter().any(|c| c == "INTERNAL") {
        problems.push("an INTERNAL error".into());
    }
    if let Some(expected) = &expect.batch_codes {
        match body.as_array() {
            Some(items) if items.len() == expected.len() => {
                for (n, (item, code)) in items.iter().zip(expected).enumerate() {
                    let got = item["errors"][0]["extensions"]["code"].as_str();
                    if got != code.as_deref() {
                        problems.push(format!("batch entry {n}: code {got:?} instead of {code:?}"));
                    }
                }
            }
            _ => problems.push(format!("not a batch of {} answers", expected.len())),
        }
        return problems;
    }
    let error = &body["errors"][0];
    if let Some(code) = &expect.code {
        let got = error["extensions"]["code"].as_str();
        if got != Some(code.as_str()) {
            problems.push(format!("code {got:?} instead of {code}"));
        }
    }
    if let Some(field) = &expect.field {
        let got = error["extensions"]["field"].as_str();
        if got != Some(field.as_str()) {
            problems.push(format!("field {got:?} instead of {field}"));
        }
    }
    if expect.code.is_none() && !expect.no_errors && expect.status.is_some_and(|s| s >= 400) {
        // A refusal without a code named in the corpus still carries one.
        if error["extensions"]["code"].as_str().is_none() {
            problems.push("a refusal without extensions.code".into());
        }
    }
    if expect.no_errors && body.get("errors").is_some() {
        problems.push("errors where none were expected".into());
    }
    if expect.data_absent && body.get("data").is_some() {
        problems.push("`data` present".into());
    }
    if expect.data_null && body.get("data") != Some(&Value::Null) {
        problems.push("`data` is not null".into());
    }
    if let Some(data) = &expect.data {
        if body.get("data") != Some(data) {
            problems.push(format!("`data` is not {data}"));
        }
    }
    problems
}

#[derive(QueryableByName)]
struct TableName {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Sum {
    #[diesel(sql_type = Text)]
    sum: String,
}

/// Row counts of every table, and a checksum of every row of the tables a mutation
/// could touch (tickets first of all).
pub(super) fn snapshot(conn: &mut PgConnection) -> BTreeMap<String, String> {
    let tables: Vec<TableName> = diesel::sql_query(
        "SELECT table_name::text AS name FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .load(conn)
    .expect("tables");
    let mut out = BTreeMap::new();
    for table in &tables {
        let count: Count =
            diesel::sql_query(format!("SELECT count(*) AS n FROM \"{}\"", table.name))
                .get_result(conn)
                .expect("count");
        out.insert(format!("{} rows", table.name), count.n.to_string());
        let sum: Sum = diesel::sql_query(format!(
            "SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') AS sum FROM \"{}\" t",
            table.name
        ))
        .get_result(conn)
        .expect("checksum");
        out.insert(format!("{} md5", table.name), sum.sum);
    }
    let tickets: Sum = diesel::sql_query(
        "SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY id)), '') AS sum FROM tickets t",
    )
    .get_result(conn)
    .expect("tickets checksum");
    out.insert("tickets md5 by id".into(), tickets.sum);
    out
}

/// Records panics of the server while the corpus runs: panics outside the tests' own code
/// (`tests/`) and off the test threads (named `module::test`).
pub(super) struct PanicWatch {
    seen: Arc<Mutex<Vec<String>>>,
    active: Arc<AtomicBool>,
}

impl PanicWatch {
    pub(super) fn start() -> PanicWatch {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let active = Arc::new(AtomicBool::new(true));
        let (record, on) = (seen.clone(), active.clone());
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            let name = thread.name().unwrap_or("<unnamed>").to_string();
            let in_tests = info
                .location()
                .is_some_and(|l| l.file().starts_with("tests/"));
            if on.load(Ordering::SeqCst) && !in_tests && !name.contains("::") {
                if let Ok(mut seen) = record.lock() {
                    seen.push(format!("{name}: {info}"));
                }
            }
            previous(info);
        }));
        PanicWatch { seen, active }
    }

    pub(super) fn count(&self) -> usize {
        self.seen.lock().map(|p| p.len()).unwrap_or(0)
    }

    pub(super) fn stop(&self) -> Vec<String> {
        self.active.store(false, Ordering::SeqCst);
        self.seen.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// `GET /healthz` answers 200 (a few tries: a connection the server closed after a refusal
/// may fail once; a dead server fails every time).
pub(super) async fn healthy(http: &reqwest::Client, server: &TestServer) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..3 {
        match http
            .get(server.url("/healthz"))
            .timeout(Duration::from_secs(15))
            .send()
            .await
        {
            Ok(response) if response.status() == 200 => return Ok(()),
            Ok(response) => last = format!("status {}", response.status()),
            Err(err) => last = format!("{err:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last)
}
