//! The bad-input corpus: every case of `tests/corpus/*.jsonl` (described in
//! `tests/corpus/README.md`) replayed against one server, each answered with its expected
//! status and code, never a 5xx, never an `INTERNAL` error, never a panic, the server
//! still healthy after each, and the database exactly as it was before the run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use ticketgate::auth::customer_tokens::TokenSecret;
use ticketgate::auth::viewer::Scope;
use uuid::Uuid;

use crate::helpers::fixtures::{self, MessageSpec};
use crate::helpers::server::customer_token;
use crate::helpers::{self, test_db, TestServer};

/// The corpus must keep at least this many cases.
const MIN_CASES: usize = 150;
/// Every case must be answered within this time unless it says otherwise (`max_ms`).
const DEFAULT_MAX_MS: u64 = 10_000;
/// The placeholder a case's `forge_cursor` fills.
const FORGED: &str = "$FORGED_CURSOR";

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    path: Option<String>,
    /// Header overrides; `null` removes a default header.
    #[serde(default)]
    headers: BTreeMap<String, Option<String>>,
    /// `team` (default), `read`, `other-team`, `none`, or a literal `Authorization` value.
    #[serde(default)]
    auth: Option<String>,
    /// The GraphQL document (`@NAME`: from `queries.json`), with `variables` and
    /// `operationName`: a JSON body for POST, URL parameters for GET.
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    variables: Option<Value>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
    /// The body: a string is sent as is, any other JSON value serialized.
    #[serde(default)]
    body: Option<Value>,
    #[serde(default)]
    body_base64: Option<String>,
    /// GET: URL parameters (encoded by the runner) or a raw query string.
    #[serde(default)]
    params: Option<BTreeMap<String, String>>,
    #[serde(default)]
    query_string: Option<String>,
    #[serde(default)]
    generate: Option<Generate>,
    /// Builds `$FORGED_CURSOR` from a real cursor (see the README).
    #[serde(default)]
    #[allow(dead_code)]
    forge_cursor: Option<Value>,
    /// Send the body as a chunked stream, without Content-Length.
    #[serde(default)]
    chunked: bool,
    expect: Expect,
    #[serde(default)]
    known_bug: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    status_in: Option<Vec<u16>>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    field: Option<String>,
    #[serde(default)]
    data_absent: bool,
    #[serde(default)]
    data_null: bool,
    #[serde(default)]
    no_errors: bool,
    #[serde(default)]
    not_json: bool,
    #[serde(default)]
    not_contains: Vec<String>,
    #[serde(default)]
    batch_codes: Option<Vec<Option<String>>>,
    #[serde(default)]
    max_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum Generate {
    /// `{ a0: <field> a1: <field> … }`
    Aliases { count: usize, field: String },
    /// A selection (or argument value) nested `depth` levels deep.
    Nesting { depth: usize, style: NestingStyle },
    /// Fragments F1…Fn on `on` (Query, or Me under `me`), each spreading the one below
    /// `width` times (default 2).
    FragmentBomb {
        levels: usize,
        #[serde(default)]
        width: Option<usize>,
        #[serde(default)]
        on: Option<String>,
    },
    /// `{"a":{"a":…}}` nested `depth` deep: at `path` in the variables, or (without a path)
    /// as an undeclared variable `v` of a raw body.
    JsonDepth {
        depth: usize,
        #[serde(default)]
        path: Option<String>,
    },
    /// A body of exactly `bytes` bytes around `{ __typename }`.
    Padding {
        bytes: usize,
        #[serde(default)]
        style: Option<String>,
    },
    /// A JSON array of `count` copies of `{"query": query}`.
    Batch { count: usize, query: String },
    /// A list of `count` items at `path` in the variables; `{i}` in `item` is the index,
    /// `uuid` makes distinct UUIDs.
    List {
        path: String,
        count: usize,
        item: String,
    },
    /// `text` repeated `count` times at `path` in the variables.
    Repeat {
        path: String,
        text: String,
        count: usize,
    },
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum NestingStyle {
    /// Real fields: ticket → messages → nodes → ticket → …
    Fields,
    /// `{ a { a { … } } }`
    Unknown,
    /// `{ … on Query { … on Query { … } } }`
    InlineFragments,
    /// `ticket(number: [[[…1…]]])`
    ListLiteral,
    /// `tickets(filter: {a: {a: …}})`
    ObjectLiteral,
}

/// What one run of the corpus knows about its fixtures.
struct World {
    placeholders: Vec<(String, String)>,
    queries: BTreeMap<String, String>,
    secrets: Vec<String>,
}

impl World {
    /// Replaces every placeholder (longest first) and refuses unknown ones.
    fn substitute(&self, text: &str) -> Result<String, String> {
        let mut out = text.to_string();
        for (name, value) in &self.placeholders {
            out = out.replace(name.as_str(), value);
        }
        // `$FORGED_CURSOR` is made per case, after this.
        if let Some(unknown) = leftover_placeholder(&out.replace(FORGED, "")) {
            return Err(format!("unknown placeholder {unknown}"));
        }
        Ok(out)
    }

    fn query(&self, query: &str) -> Result<String, String> {
        match query.strip_prefix('@') {
            Some(name) if self.queries.contains_key(name) => Ok(self.queries[name].clone()),
            Some(name) if name.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
                Err(format!("unknown named query @{name}"))
            }
            _ => Ok(query.to_string()),
        }
    }
}

/// `$` followed by three or more capitals or underscores: a placeholder nobody replaced.
fn leftover_placeholder(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find_map(|i| {
        if bytes[i] != b'$' {
            return None;
        }
        let name: String = text[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || *c == '_')
            .collect();
        (name.len() >= 3).then(|| format!("${name}"))
    })
}

/// The cursor checksum, as `graphql::pagination` computes it.
fn cursor_checksum(query: &str, key: &Value, id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"ticketgate-cursor-v1");
    hasher.update(query.as_bytes());
    hasher.update(key.to_string().as_bytes());
    if let Ok(id) = Uuid::parse_str(id) {
        hasher.update(id.as_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
}

/// `forge_cursor`: `from` (a cursor), then `flip_char` (change one character of the
/// encoded text), or `set` (replace fields of its JSON: `k`, `i`, `q`) and `resign`
/// (recompute the checksum, as anyone can: it is not keyed).
fn forge_cursor(spec: &Value) -> Result<String, String> {
    let from = spec["from"].as_str().ok_or("forge_cursor.from")?;
    if spec["flip_char"].as_bool() == Some(true) {
        let mut bytes = from.as_bytes().to_vec();
        let at = bytes.len() / 2;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        return String::from_utf8(bytes).map_err(|e| e.to_string());
    }
    let json = URL_SAFE_NO_PAD
        .decode(from)
        .map_err(|e| format!("forge_cursor.from is not a cursor: {e}"))?;
    let mut body: Map<String, Value> =
        serde_json::from_slice(&json).map_err(|e| format!("forge_cursor.from: {e}"))?;
    if let Some(set) = spec["set"].as_object() {
        for (name, value) in set {
            body.insert(name.clone(), value.clone());
        }
    }
    if spec["resign"].as_bool() == Some(true) {
        let q = body.get("q").and_then(Value::as_str).unwrap_or_default();
        let i = body.get("i").and_then(Value::as_str).unwrap_or_default();
        let k = body.get("k").cloned().unwrap_or(Value::Null);
        let c = cursor_checksum(q, &k, i);
        body.insert("c".into(), Value::String(c));
    }
    Ok(URL_SAFE_NO_PAD.encode(Value::Object(body).to_string()))
}

/// Sets `value` at a dotted `path` of `root` (creating objects on the way).
fn set_path(root: &mut Value, path: &str, value: Value) {
    let mut at = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (n, part) in parts.iter().enumerate() {
        if !at.is_object() {
            *at = json!({});
        }
        let object = at.as_object_mut().expect("object");
        if n + 1 == parts.len() {
            object.insert((*part).to_string(), value);
            return;
        }
        at = object.entry(*part).or_insert_with(|| json!({}));
    }
}

fn nested_object(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = json!({ "a": value });
    }
    value
}

fn nesting(depth: usize, style: NestingStyle) -> String {
    match style {
        NestingStyle::Fields => {
            // ticket(number: 1) is level 1; then messages, nodes, ticket, messages, …
            let cycle = ["messages(first: 1)", "nodes", "ticket"];
            let mut open = String::from("{ ticket(number: 1) ");
            let mut levels = 1;
            let mut i = 0;
            while levels < depth {
                open.push_str("{ ");
                open.push_str(cycle[i % 3]);
                open.push(' ');
                i += 1;
                levels += 1;
            }
            // The innermost field must be an object's scalar: nodes and ticket have `id`,
            // a connection has `pageInfo { hasNextPage }`.
            let last = if depth == 1 {
                "ticket"
            } else {
                cycle[(i - 1) % 3]
            };
            let leaf = if last.starts_with("messages") {
                "{ pageInfo { hasNextPage } }"
            } else {
                "{ id }"
            };
            format!("{open}{leaf}{} }}", " }".repeat(depth - 1))
        }
        NestingStyle::Unknown => format!("{{{}b{}}}", "a{".repeat(depth), "}".repeat(depth)),
        NestingStyle::InlineFragments => format!(
            "{{{}__typename{}}}",
            "... on Query { ".repeat(depth),
            " }".repeat(depth)
        ),
        NestingStyle::ListLiteral => format!(
            "{{ ticket(number: {}1{}) {{ id }} }}",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
        NestingStyle::ObjectLiteral => format!(
            "{{ tickets(filter: {}1{}) {{ totalCount }} }}",
            "{a: ".repeat(depth),
            "}".repeat(depth)
        ),
    }
}

/// A request ready to send.
struct Prepared {
    method: reqwest::Method,
    url: String,
    headers: Vec<(String, Option<String>)>,
    body: Option<Vec<u8>>,
    chunked: bool,
}

fn prepare(case: &Case, world: &World, base: &str) -> Result<Prepared, String> {
    let method_name = case.method.clone().unwrap_or_else(|| "POST".into());
    let method = reqwest::Method::from_bytes(method_name.as_bytes()).map_err(|e| e.to_string())?;
    let is_get = method == reqwest::Method::GET || method == reqwest::Method::HEAD;
    let mut query = case.query.as_deref().map(|q| world.query(q)).transpose()?;
    let mut variables = case.variables.clone();
    let mut raw_body: Option<Vec<u8>> = None;
    match &case.generate {
        None => {}
        Some(Generate::Aliases { count, field }) => {
            let mut text = String::from("{");
            for i in 0..*count {
                let _ = write!(text, " a{i}: {field}");
            }
            text.push_str(" }");
            query = Some(text);
        }
        Some(Generate::Nesting { depth, style }) => query = Some(nesting(*depth, *style)),
        Some(Generate::FragmentBomb { levels, width, on }) => {
            let (on, top, leaf) = match on.as_deref() {
                Some("Me") => ("Me", format!("{{ me {{ ...F{levels} }} }}"), "scopes"),
                _ => ("Query", format!("{{ ...F{levels} }}"), "__typename"),
            };
            let mut text = format!("{top} fragment F0 on {on} {{ {leaf} }}");
            for i in 1..=*levels {
                let spreads = vec![format!("...F{}", i - 1); width.unwrap_or(2)].join(" ");
                let _ = write!(text, " fragment F{i} on {on} {{ {spreads} }}");
            }
            query = Some(text);
        }
        Some(Generate::JsonDepth { depth, path: None }) => {
            raw_body = Some(
                format!(
                    r#"{{"query":"{{ __typename }}","variables":{{"v":{}1{}}}}}"#,
                    r#"{"a":"#.repeat(*depth),
                    "}".repeat(*depth)
                )
                .into_bytes(),
            );
        }
        Some(Generate::JsonDepth {
            depth,
            path: Some(path),
        }) => {
            let root = variables.get_or_insert_with(|| json!({}));
            set_path(root, path, nested_object(*depth));
        }
        Some(Generate::Padding { bytes, style }) => {
            let (head, tail) = match style.as_deref() {
                Some("whitespace") => (r#"{"query":"{ __typename }""#.to_string(), "}"),
                _ => (
                    r#"{"query":"{ __typename }","variables":{"pad":""#.to_string(),
                    r#""}}"#,
                ),
            };
            let fill = bytes.saturating_sub(head.len() + tail.len());
            let filler = if style.as_deref() == Some("whitespace") {
                " "
            } else {
                "x"
            };
            raw_body = Some(format!("{head}{}{tail}", filler.repeat(fill)).into_bytes());
        }
        Some(Generate::Batch { count, query }) => {
            let one = json!({ "query": world.query(query)? }).to_string();
            let mut text = String::with_capacity(count * (one.len() + 1) + 2);
            text.push('[');
            for i in 0..*count {
                if i > 0 {
                    text.push(',');
                }
                text.push_str(&one);
            }
            text.push(']');
            raw_body = Some(text.into_bytes());
        }
        Some(Generate::List { path, count, item }) => {
            let items: Vec<Value> = (0..*count)
                .map(|i| match item.as_str() {
                    "uuid" => json!(format!("00000000-0000-4000-8000-{i:012}")),
                    template => json!(template.replace("{i}", &i.to_string())),
                })
                .collect();
            let root = variables.get_or_insert_with(|| json!({}));
            set_path(root, path, Value::Array(items));
        }
        Some(Generate::Repeat { path, text, count }) => {
            let root = variables.get_or_insert_with(|| json!({}));
            set_path(root, path, Value::String(text.repeat(*count)));
        }
    }

    let mut url = format!("{base}{}", case.path.as_deref().unwrap_or("/graphql"));
    if is_get {
        let mut pairs: Vec<(String, String)> = Vec::new();
        if let Some(query) = &query {
            pairs.push(("query".into(), query.clone()));
        }
        if let Some(variables) = &variables {
            pairs.push(("variables".into(), variables.to_string()));
        }
        if let Some(name) = &case.operation_name {
            pairs.push(("operationName".into(), name.clone()));
        }
        for (name, value) in case.params.iter().flatten() {
            pairs.push((name.clone(), value.clone()));
        }
        let mut query_string = if pairs.is_empty() {
            String::new()
        } else {
            let mut encoded = reqwest::Url::parse("http://x/").map_err(|e| e.to_string())?;
            encoded.query_pairs_mut().extend_pairs(&pairs);
            encoded.query().unwrap_or_default().to_string()
        };
        if let Some(raw) = &case.query_string {
            if !query_string.is_empty() {
                query_string.push('&');
            }
            query_string.push_str(raw);
        }
        if !query_string.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&query_string);
        }
    }

    let body = if let Some(raw) = raw_body {
        Some(raw)
    } else if let Some(encoded) = &case.body_base64 {
        Some(STANDARD.decode(encoded).map_err(|e| e.to_string())?)
    } else if let Some(body) = &case.body {
        Some(match body {
            Value::String(text) => text.clone().into_bytes(),
            Value::Array(items) => {
                // A batch: its entries may name queries too.
                let items = items
                    .iter()
                    .map(|item| {
                        let mut item = item.clone();
                        if let Some(q) = item.get("query").and_then(Value::as_str) {
                            item["query"] = Value::String(world.query(q)?);
                        }
                        Ok(item)
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                Value::Array(items).to_string().into_bytes()
            }
            other => other.to_string().into_bytes(),
        })
    } else if !is_get && (query.is_some() || variables.is_some()) {
        let mut body = Map::new();
        if let Some(query) = &query {
            body.insert("query".into(), Value::String(query.clone()));
        }
        if let Some(variables) = &variables {
            body.insert("variables".into(), variables.clone());
        }
        if let Some(name) = &case.operation_name {
            body.insert("operationName".into(), Value::String(name.clone()));
        }
        Some(Value::Object(body).to_string().into_bytes())
    } else {
        None
    };

    let mut headers: Vec<(String, Option<String>)> = vec![(
        "accept".into(),
        Some("application/graphql-response+json".into()),
    )];
    if !is_get {
        headers.push(("content-type".into(), Some("application/json".into())));
    }
    let authorization = match case.auth.as_deref().unwrap_or("team") {
        "team" => Some(format!("Bearer {}", world.substitute("$TEAM_KEY")?)),
        "read" => Some(format!("Bearer {}", world.substitute("$READ_KEY")?)),
        "other-team" => Some(format!("Bearer {}", world.substitute("$OTHER_TEAM_KEY")?)),
        "none" => None,
        literal => Some(literal.to_string()),
    };
    headers.push(("authorization".into(), authorization));
    for (name, value) in &case.headers {
        let name = name.to_ascii_lowercase();
        headers.retain(|(n, _)| *n != name);
        headers.push((name, value.clone()));
    }
    Ok(Prepared {
        method,
        url,
        headers,
        body,
        chunked: case.chunked,
    })
}

struct Answer {
    status: u16,
    text: String,
    elapsed: Duration,
}

async fn send(http: &reqwest::Client, prepared: Prepared) -> Result<Answer, String> {
    let mut request = http.request(prepared.method, &prepared.url);
    for (name, value) in &prepared.headers {
        if let Some(value) = value {
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|e| format!("{name}: {e}"))?;
            request = request.header(name.as_str(), value);
        }
    }
    if let Some(body) = prepared.body {
        request = if prepared.chunked {
            let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                body.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
            request.body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
        } else {
            request.body(body)
        };
    }
    let started = Instant::now();
    let response = request
        .send()
        .await
        .map_err(|e| format!("no answer: {e:?}"))?;
    let status = response.status().as_u16();
    let bytes = response
        .bytes()
        .await
        .map_err(|e| format!("body not read: {e:?}"))?;
    Ok(Answer {
        status,
        text: String::from_utf8_lossy(&bytes).into_owned(),
        elapsed: started.elapsed(),
    })
}

fn short(text: &str) -> String {
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
fn check(case: &Case, world: &World, answer: &Answer) -> Vec<String> {
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
fn snapshot(conn: &mut PgConnection) -> BTreeMap<String, String> {
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
struct PanicWatch {
    seen: Arc<Mutex<Vec<String>>>,
    active: Arc<AtomicBool>,
}

impl PanicWatch {
    fn start() -> PanicWatch {
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

    fn count(&self) -> usize {
        self.seen.lock().map(|p| p.len()).unwrap_or(0)
    }

    fn stop(&self) -> Vec<String> {
        self.active.store(false, Ordering::SeqCst);
        self.seen.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// `GET /healthz` answers 200 (a few tries: a connection the server closed after a refusal
/// may fail once; a dead server fails every time).
async fn healthy(http: &reqwest::Client, server: &TestServer) -> Result<(), String> {
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

async fn data(
    http: &reqwest::Client,
    server: &TestServer,
    key: &str,
    query: &str,
    variables: Value,
) -> Value {
    let response = http
        .post(server.url("/graphql"))
        .bearer_auth(key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("fixture query");
    let body: Value = response.json().await.expect("fixture json");
    assert!(body.get("errors").is_none(), "fixture query failed: {body}");
    body["data"].clone()
}

#[tokio::test]
async fn every_corpus_case_is_refused_as_expected_and_changes_nothing() {
    // Fixtures: team acme (4 tickets, messages, a person, a tag, a user), team globex.
    let db = test_db();
    let mut conn = db.conn();
    let acme = fixtures::team(&mut conn, "acme");
    let acme_tickets = fixtures::tickets(&mut conn, acme, 4);
    let message = fixtures::message(&mut conn, acme, acme_tickets[0], &MessageSpec::default());
    fixtures::message(
        &mut conn,
        acme,
        acme_tickets[0],
        &MessageSpec {
            content: "a private note".into(),
            author_type: "support",
            is_private: true,
            created_at: fixtures::base_time() + chrono::Duration::minutes(1),
            ..MessageSpec::default()
        },
    );
    fixtures::message(
        &mut conn,
        acme,
        acme_tickets[0],
        &MessageSpec {
            content: "a second message".into(),
            created_at: fixtures::base_time() + chrono::Duration::minutes(2),
            ..MessageSpec::default()
        },
    );
    fixtures::person(
        &mut conn,
        acme,
        &["visitor-0"],
        json!({ "name": "Ada", "email": "ada@example.com" }),
        true,
    );
    fixtures::tag(&mut conn, acme, acme_tickets[0], &["vip"]);
    let user = fixtures::user(&mut conn, acme, "agent@acme.test", "Agent");
    let globex = fixtures::team(&mut conn, "globex");
    let globex_tickets = fixtures::tickets(&mut conn, globex, 2);
    let globex_message = fixtures::message(
        &mut conn,
        globex,
        globex_tickets[0],
        &MessageSpec::default(),
    );
    let globex_user = fixtures::user(&mut conn, globex, "agent@globex.test", "Other agent");
    let team_key = helpers::create_key(&db.url, acme, &[Scope::Read, Scope::Write]);
    let read_key = helpers::create_key(&db.url, acme, &[Scope::Read]);
    let other_key = helpers::create_key(&db.url, globex, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    // A fresh connection per request: a refused request must not poison the next one.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");

    let first_page = "{ tickets(first: 1) { pageInfo { endCursor } } }";
    let valid_cursor = data(&http, &server, &team_key, first_page, json!({})).await["tickets"]
        ["pageInfo"]["endCursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let other_cursor = data(&http, &server, &other_key, first_page, json!({})).await["tickets"]
        ["pageInfo"]["endCursor"]
        .as_str()
        .expect("cursor")
        .to_string();
    let messages_cursor = data(
        &http,
        &server,
        &team_key,
        "query($id: UUID!) { ticket(id: $id) { messages(first: 1) { pageInfo { endCursor } } } }",
        json!({ "id": acme_tickets[0] }),
    )
    .await["ticket"]["messages"]["pageInfo"]["endCursor"]
        .as_str()
        .expect("cursor")
        .to_string();

    let customer = customer_token(acme, "visitor-0", 3600);
    let expired = customer_token(acme, "visitor-0", -60);
    let tampered = {
        let (signed, signature) = customer.rsplit_once('.').expect("token");
        let payload = signed.strip_prefix("tgc_").expect("prefix");
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("payload"))
                .expect("claims");
        claims["sub"] = json!("visitor-1");
        format!(
            "tgc_{}.{signature}",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    };
    // Signed with another secret than the test servers' own.
    let foreign = TokenSecret::new(&[b'z'; 32]).expect("secret").mint(
        acme,
        "visitor-0",
        chrono::Utc::now() + chrono::Duration::hours(1),
    );

    let mut placeholders: Vec<(String, String)> = vec![
        (
            "$TEAM_KEY_TRUNCATED",
            team_key[..team_key.len() - 1].to_string(),
        ),
        ("$TEAM_KEY_UPPER", team_key.to_uppercase()),
        ("$TEAM_KEY", team_key.clone()),
        ("$READ_KEY", read_key.clone()),
        ("$OTHER_TEAM_KEY", other_key.clone()),
        ("$TEAM_ID", acme.to_string()),
        ("$OTHER_TEAM_ID", globex.to_string()),
        ("$TICKET_ID_2", acme_tickets[1].to_string()),
        ("$TICKET_ID", acme_tickets[0].to_string()),
        ("$OTHER_TEAM_TICKET_ID", globex_tickets[0].to_string()),
        ("$MESSAGE_ID", message.to_string()),
        ("$OTHER_TEAM_MESSAGE_ID", globex_message.to_string()),
        ("$USER_ID", user.to_string()),
        ("$OTHER_TEAM_USER_ID", globex_user.to_string()),
        ("$VALID_CURSOR", valid_cursor),
        ("$OTHER_TEAM_CURSOR", other_cursor),
        ("$MESSAGES_CURSOR", messages_cursor),
        (
            "$CUSTOMER_TOKEN_TRUNCATED",
            customer[..customer.len() - 3].to_string(),
        ),
        ("$CUSTOMER_TOKEN", customer.clone()),
        ("$EXPIRED_CUSTOMER_TOKEN", expired),
        ("$TAMPERED_CUSTOMER_TOKEN", tampered),
        ("$FOREIGN_SECRET_CUSTOMER_TOKEN", foreign),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value))
    .collect();
    placeholders.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    let queries: BTreeMap<String, String> = serde_json::from_str(
        &std::fs::read_to_string(corpus_dir().join("queries.json")).expect("queries.json"),
    )
    .expect("queries.json is a JSON object of strings");
    let world = World {
        placeholders,
        queries,
        secrets: vec![
            team_key.clone(),
            read_key.clone(),
            other_key.clone(),
            customer,
        ],
    };

    // CORPUS_VERBOSE=1 prints every answer; CORPUS_KNOWN_BUGS=1 runs the known-bug cases
    // too (to check a fix); CORPUS_ONLY=text runs only the cases whose name contains it.
    let flag = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    let verbose = flag("CORPUS_VERBOSE");
    let run_known_bugs = flag("CORPUS_KNOWN_BUGS");
    let only = std::env::var("CORPUS_ONLY").ok().filter(|o| !o.is_empty());
    let before = snapshot(&mut conn);
    let panics = PanicWatch::start();

    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    files.sort();
    let mut per_file: Vec<(String, usize)> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut names = std::collections::HashSet::new();
    let mut total = 0;
    let started = Instant::now();
    for file in &files {
        let file_name = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let text = std::fs::read_to_string(file).expect("corpus file");
        let mut count = 0;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            count += 1;
            let at = format!("{file_name}:{}", n + 1);
            // Placeholders first, then the per-case forged cursor.
            let parsed = world.substitute(line).and_then(|line| {
                let raw: Value =
                    serde_json::from_str(&line).map_err(|e| format!("not JSON: {e}"))?;
                let line = match raw.get("forge_cursor") {
                    Some(spec) => line.replace(FORGED, &forge_cursor(spec)?),
                    None => line,
                };
                if line.contains(FORGED) {
                    return Err(format!("{FORGED} without forge_cursor"));
                }
                serde_json::from_str::<Case>(&line).map_err(|e| format!("not a case: {e}"))
            });
            let case = match parsed {
                Ok(case) => case,
                Err(err) => {
                    failures.push(format!("{at}: {err}"));
                    continue;
                }
            };
            if !names.insert(case.name.clone()) {
                failures.push(format!("{at}: duplicate case name {:?}", case.name));
            }
            if only
                .as_ref()
                .is_some_and(|only| !case.name.contains(only.as_str()))
            {
                continue;
            }
            if let Some(bug) = &case.known_bug {
                if !run_known_bugs {
                    println!("WARNING known bug, skipped: {at} {:?}: {bug}", case.name);
                    skipped.push(format!("{at} {:?}", case.name));
                    continue;
                }
                println!("running known bug {at} {:?}", case.name);
            }
            let panics_before = panics.count();
            let mut problems = Vec::new();
            let mut got = String::new();
            match prepare(&case, &world, &format!("http://{}", server.addr)) {
                Err(err) => problems.push(format!("cannot build the request: {err}")),
                Ok(prepared) => match send(&http, prepared).await {
                    Err(err) => problems.push(err),
                    Ok(answer) => {
                        if verbose {
                            println!(
                                "{at} {:?}: {} in {} ms: {}",
                                case.name,
                                answer.status,
                                answer.elapsed.as_millis(),
                                short(&answer.text)
                            );
                        }
                        problems.extend(check(&case, &world, &answer));
                        got = format!(
                            " — got {} in {} ms: {}",
                            answer.status,
                            answer.elapsed.as_millis(),
                            short(&answer.text)
                        );
                    }
                },
            }
            if let Err(err) = healthy(&http, &server).await {
                problems.push(format!("/healthz does not answer afterwards: {err}"));
            }
            let panics_after = panics.count();
            if panics_after > panics_before {
                problems.push(format!("{} panic(s)", panics_after - panics_before));
            }
            if !problems.is_empty() {
                failures.push(format!(
                    "{at} {:?}: {}{got}",
                    case.name,
                    problems.join("; ")
                ));
            }
        }
        total += count;
        per_file.push((file_name, count));
    }
    let elapsed = started.elapsed();

    let after = snapshot(&mut conn);
    let changed: Vec<String> = before
        .iter()
        .filter(|(name, value)| after.get(*name) != Some(value))
        .map(|(name, value)| format!("{name}: {value} -> {:?}", after.get(name)))
        .chain(
            after
                .keys()
                .filter(|name| !before.contains_key(*name))
                .map(|name| format!("{name}: new")),
        )
        .collect();

    let summary: Vec<String> = per_file
        .iter()
        .map(|(file, count)| format!("{file} {count}"))
        .collect();
    println!(
        "bad-input corpus: {} = {total} cases ({} run, {} known bugs skipped) in {:.1} s",
        summary.join(", "),
        total - skipped.len(),
        skipped.len(),
        elapsed.as_secs_f64()
    );
    for skip in &skipped {
        println!("  skipped (known bug): {skip}");
    }
    let panics = panics.stop();
    assert!(
        total >= MIN_CASES || only.is_some(),
        "only {total} cases (at least {MIN_CASES})"
    );
    assert!(
        failures.is_empty() && changed.is_empty() && panics.is_empty(),
        "{} failing case(s):\n{}\n\ndatabase changes:\n{}\n\npanics:\n{}",
        failures.len(),
        failures.join("\n"),
        changed.join("\n"),
        panics.join("\n")
    );
}
