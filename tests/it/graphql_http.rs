//! Conformance with the GraphQL-over-HTTP spec, audited by the graphql-http npm package
//! (`tests/node/audit.mjs`) against a real server, and the SDL checked by graphql-js.

use std::path::Path;
use std::process::Command;

use ticketgate::auth::viewer::Scope;

use crate::helpers::node::node_modules;
use crate::helpers::{self, fixtures, test_db, TestServer};

#[test]
fn graphql_over_http_audit_has_no_must_failures() {
    let dir = node_modules();
    let db = test_db();
    let team = fixtures::team(&mut db.conn(), "acme");
    let key = helpers::create_key(&db.url, team, &[Scope::Read, Scope::Write]);
    let server = TestServer::start(&db.url);
    let output = Command::new("node")
        .arg("audit.mjs")
        .current_dir(dir)
        .env("AUDIT_URL", server.url("/graphql"))
        .env("AUDIT_KEY", &key)
        .output()
        .expect("run node audit.mjs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    let summary = stdout
        .lines()
        .find_map(|line| line.strip_prefix("AUDIT_JSON "))
        .unwrap_or_else(|| {
            panic!(
                "no audit summary:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let summary: serde_json::Value = serde_json::from_str(summary).unwrap();
    assert_eq!(
        summary["error"], 0,
        "MUST failures: {}",
        summary["failures"]
    );
    assert!(output.status.success());
    assert!(summary["ok"].as_u64().unwrap() > 40, "{summary}");
}

#[test]
fn the_sdl_parses_with_graphql_js() {
    let dir = node_modules();
    let script = "const { buildSchema } = require('graphql'); \
                  const sdl = require('fs').readFileSync(process.argv[1], 'utf8'); \
                  const schema = buildSchema(sdl); \
                  console.log(Object.keys(schema.getTypeMap()).length);";
    let output = Command::new("node")
        .args(["-e", script])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql"))
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
