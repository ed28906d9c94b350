//! The table-driven runner: a case is an operation, who sends it and what must come back;
//! every case is also checked for leaks, existence oracles and changed rows.

use std::collections::BTreeSet;

use serde_json::{json, Value};
use uuid::Uuid;

use super::leaks::{codes, leaks, outcome};
use super::world::{Who, World};
use super::KNOWN_LEAKS;

pub(super) type CheckFn = Box<dyn Fn(&Value) -> Result<(), String>>;

pub(super) enum Expect {
    /// The first error has this code (and nothing else in `data` than nulls).
    Code(&'static str),
    /// No errors, and `data` is exactly this.
    Data(Value),
    /// Anything this function accepts.
    Check(CheckFn),
}

pub(super) struct Case {
    pub(super) name: String,
    pub(super) who: Who,
    pub(super) query: String,
    pub(super) vars: Value,
    pub(super) expect: Expect,
    /// The same operation naming only what exists nowhere: the response must be exactly
    /// the same (no existence oracle).
    pub(super) same_as: Vec<Value>,
}

pub(super) fn case(
    name: impl Into<String>,
    who: Who,
    query: &str,
    vars: Value,
    expect: Expect,
) -> Case {
    Case {
        name: name.into(),
        who,
        query: query.to_string(),
        vars,
        expect,
        same_as: Vec::new(),
    }
}

impl Case {
    pub(super) fn same_as(mut self, vars: Value) -> Case {
        self.same_as.push(vars);
        self
    }
}

pub(super) fn empty_list() -> Expect {
    Expect::Data(json!({ "tickets": { "totalCount": 0, "nodes": [] } }))
}

/// The ticket ids of a `tickets` response must be exactly these.
pub(super) fn ticket_ids(expected: &[Uuid]) -> Expect {
    let expected: BTreeSet<String> = expected.iter().map(Uuid::to_string).collect();
    Expect::Check(Box::new(move |body| {
        let nodes = body["data"]["tickets"]["nodes"]
            .as_array()
            .ok_or("no nodes")?;
        let got: BTreeSet<String> = nodes
            .iter()
            .filter_map(|n| n["id"].as_str().map(String::from))
            .collect();
        if got != expected || body["data"]["tickets"]["totalCount"] != json!(expected.len()) {
            return Err(format!("expected tickets {expected:?}, got {got:?}"));
        }
        Ok(())
    }))
}

async fn run_case(w: &World, case: &Case) -> Result<String, String> {
    let client = w.client(case.who);
    let before = w.snapshot();
    let (status, body) = client.post(&case.query, case.vars.clone()).await;
    let mut problems = Vec::new();
    if status != 200 {
        problems.push(format!("HTTP {status}"));
    }
    match &case.expect {
        Expect::Code(code) => {
            let got = codes(&body);
            if got.first().map(String::as_str) != Some(code) {
                problems.push(format!("expected {code}, got {got:?}"));
            }
            let data_is_null = body["data"].is_null()
                || body["data"]
                    .as_object()
                    .is_some_and(|d| d.values().all(Value::is_null));
            if !data_is_null {
                problems.push("data alongside the refusal".into());
            }
        }
        Expect::Data(expected) => {
            if body.get("errors").is_some() || body["data"] != *expected {
                problems.push(format!("expected data {expected}"));
            }
        }
        Expect::Check(check) => {
            if let Err(problem) = check(&body) {
                problems.push(problem);
            }
        }
    }
    let leaked = leaks(&body, w.secrets(case.who));
    if !leaked.is_empty() {
        problems.push(format!("LEAKS {leaked:?}"));
    }
    for vars in &case.same_as {
        let (other_status, other) = client.post(&case.query, vars.clone()).await;
        if (other_status, &other) != (status, &body) {
            problems.push(format!(
                "EXISTENCE ORACLE: differs from the response for {vars}: {other}"
            ));
        }
    }
    if w.snapshot() != before {
        problems.push("DATA CHANGED".into());
    }
    match problems.is_empty() {
        true => Ok(outcome(&body)),
        false => Err(format!("{}\n      response: {body}", problems.join("; "))),
    }
}

/// Runs every case; prints the matrix; fails with every unexpected failure at once.
pub(super) async fn run_matrix(w: &World, title: &str, cases: Vec<Case>) {
    let mut failures = Vec::new();
    let mut table = format!("\n{title}\n| viewer | case | outcome |\n|---|---|---|\n");
    for case in &cases {
        let known = KNOWN_LEAKS.contains(&case.name.as_str());
        let result = run_case(w, case).await;
        let shown = match (&result, known) {
            (Ok(outcome), false) => outcome.clone(),
            (Ok(outcome), true) => {
                eprintln!(
                    "warning: `{}` is listed in KNOWN_LEAKS but passes now: remove it",
                    case.name
                );
                outcome.clone()
            }
            (Err(problem), true) => {
                eprintln!(
                    "WARNING: known leak, skipped: `{}` ({}): {problem}",
                    case.name,
                    case.who.label()
                );
                "KNOWN LEAK (skipped)".into()
            }
            (Err(problem), false) => {
                failures.push(format!("`{}` ({}): {problem}", case.name, case.who.label()));
                "FAILED".into()
            }
        };
        table.push_str(&format!(
            "| {} | {} | {shown} |\n",
            case.who.label(),
            case.name
        ));
    }
    eprintln!("{table}");
    assert!(
        failures.is_empty(),
        "{} isolation failure(s):\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
