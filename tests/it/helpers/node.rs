//! The pinned npm packages of `tests/node` and the scripts there that drive real client
//! libraries: each prints one line per check and a `NODE_JSON` summary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

fn node_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node")
}

/// Installs the pinned npm packages once per run (`npm ci`: exactly the lockfile).
pub fn node_modules() -> &'static Path {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY.get_or_init(|| {
        let dir = node_dir();
        let stamp = dir.join("node_modules/.package-lock.json");
        let lock = dir.join("package-lock.json");
        let fresh = std::fs::metadata(&stamp)
            .and_then(|s| s.modified())
            .ok()
            .zip(std::fs::metadata(&lock).and_then(|l| l.modified()).ok())
            .is_some_and(|(stamp, lock)| stamp >= lock);
        if !fresh {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(&dir)
                .status()
                .expect("npm is needed for the GraphQL-over-HTTP audit (install Node.js 20+)");
            assert!(status.success(), "npm ci failed in tests/node");
        }
        dir
    })
}

/// Runs `tests/node/<script>` with `env` and returns its `NODE_JSON` summary, asserting
/// that no check failed, that the script exited 0, and that at least `min_passed` checks
/// ran (a script that stops early reports fewer).
pub fn run_checks(script: &str, env: &[(&str, &str)], min_passed: u64) -> Value {
    let started = std::time::Instant::now();
    let output = Command::new("node")
        .arg(script)
        .current_dir(node_modules())
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|err| panic!("run node {script}: {err}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{script} took {:?}\n{stdout}", started.elapsed());
    let summary: Value = stdout
        .lines()
        .find_map(|line| line.strip_prefix("NODE_JSON "))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_else(|| panic!("no summary from {script}:\n{stdout}\n{stderr}"));
    assert_eq!(summary["failed"], 0, "\n{stdout}\n{stderr}");
    assert!(output.status.success(), "\n{stdout}\n{stderr}");
    assert!(
        summary["passed"].as_u64() >= Some(min_passed),
        "{script} stopped early:\n{stdout}\n{stderr}"
    );
    summary
}
