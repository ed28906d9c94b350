//! The command line: every subcommand, against a real database (DATABASE_URL).

use std::process::{Command, Stdio};

use clap::Parser;
use serde_json::json;
use ticketgate::config::{Cli, Command as Sub};

use crate::helpers::{self, test_db, Client};

fn ticketgate(db_url: &str) -> Command {
    let mut cmd = Command::new(helpers::binary());
    cmd.env("DATABASE_URL", db_url)
        .env("TICKETGATE_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["seed", "--help"],
        vec!["api-key", "--help"],
        vec!["api-key", "create", "--help"],
        vec!["print-schema", "--help"],
        vec!["documents", "push", "--help"],
    ] {
        let output = Command::new(helpers::binary())
            .args(&args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Usage"), "{args:?}: {text}");
        assert!(
            text.contains("--data-dir"),
            "{args:?} should list --data-dir"
        );
    }
}

#[test]
fn data_dir_goes_before_or_after_the_subcommand() {
    for args in [
        vec!["ticketgate", "--data-dir", "/x", "seed"],
        vec!["ticketgate", "seed", "--data-dir", "/x"],
    ] {
        let cli = Cli::try_parse_from(&args).unwrap();
        assert_eq!(cli.global.data_dir, std::path::Path::new("/x"), "{args:?}");
        assert!(matches!(cli.command, Some(Sub::Seed(_))));
    }
    let cli = Cli::try_parse_from(["ticketgate"]).unwrap();
    assert!(cli.command.is_none(), "no subcommand means serve");
}

#[test]
fn print_schema_matches_the_committed_schema_graphql() {
    let printed = helpers::printed_schema();
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql at the repository root");
    assert!(
        printed == committed,
        "schema.graphql is stale: run `cargo run -- print-schema > schema.graphql`"
    );
}

#[test]
fn seed_teams_seeds_every_team_in_one_run() {
    let db = test_db();
    let seed = ticketgate(&db.url)
        .args([
            "seed",
            "--team",
            "globex",
            "--teams",
            "3",
            "--tickets",
            "31",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&seed.stderr);
    assert!(seed.status.success(), "{stderr}");
    assert!(stderr.contains("seeded 3 teams: 31 tickets"), "{stderr}");
    use diesel::prelude::*;
    use ticketgate::db::schema::teams;
    let got: Vec<(String, i32)> = teams::table
        .select((teams::slug, teams::last_ticket_number))
        .order(teams::slug)
        .load(&mut db.conn())
        .unwrap();
    let want = [("globex-0", 11), ("globex-1", 10), ("globex-2", 10)];
    assert_eq!(got, want.map(|(s, n)| (s.to_owned(), n)).to_vec());
}

#[tokio::test]
async fn migrate_seed_and_api_key_work_together() {
    let db = test_db();
    let migrate = ticketgate(&db.url).arg("migrate").output().unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    let seed = ticketgate(&db.url)
        .args(["seed", "--team", "initech", "--tickets", "40"])
        .output()
        .unwrap();
    assert!(
        seed.status.success(),
        "{}",
        String::from_utf8_lossy(&seed.stderr)
    );

    let created = ticketgate(&db.url)
        .args(["api-key", "create", "--team", "initech"])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let stdout = String::from_utf8(created.stdout).unwrap();
    let key = stdout.trim();
    assert_eq!(
        stdout.lines().count(),
        1,
        "the key alone on stdout: {stdout:?}"
    );
    assert!(key.starts_with("tg_") && key.len() > 40, "{key}");

    let server = helpers::TestServer::start(&db.url);
    let data = Client::new(server.url("/graphql"), key)
        .data("{ tickets { totalCount } }", json!({}))
        .await;
    assert_eq!(data["tickets"]["totalCount"], 40);

    let missing = ticketgate(&db.url)
        .args(["api-key", "create", "--team", "nope"])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no team `nope`"));
    assert!(missing.stdout.is_empty());
}

#[test]
fn serve_reads_its_settings_from_the_environment_and_never_seeds_a_database_url() {
    use diesel::prelude::*;
    let db = test_db();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = ticketgate(&db.url)
        .env("TICKETGATE_LISTEN", format!("127.0.0.1:{port}"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let mut up = false;
    while std::time::Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let status = child.wait().unwrap();
    assert!(up, "ticketgate did not listen on TICKETGATE_LISTEN");
    assert!(status.success(), "{status}");
    let teams: i64 = ticketgate::db::schema::teams::table
        .count()
        .get_result(&mut db.conn())
        .unwrap();
    assert_eq!(teams, 0, "a DATABASE_URL database must never be seeded");
}
