//! The corpus replayed against one server with two teams' fixtures.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use ticketgate::auth::customer_tokens::TokenSecret;
use ticketgate::auth::viewer::Scope;

use super::cases::{corpus_dir, forge_cursor, Case, World, FORGED};
use super::checks::{check, healthy, short, snapshot, PanicWatch};
use super::requests::{prepare, send};
use crate::helpers::fixtures::{self, MessageSpec};
use crate::helpers::server::customer_token;
use crate::helpers::{self, test_db, TestServer};

/// The corpus must keep at least this many cases.
const MIN_CASES: usize = 150;

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
