//! Zero-config PostgreSQL: `ticketgate` with no DATABASE_URL makes, shares, keeps and stops
//! its own cluster, as root (running it as `postgres`) and as an ordinary user.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, Uid, User};
use serde_json::json;

use crate::helpers::{self, Client};

/// Who runs the command: ourselves, or (when we are root) the unprivileged `nobody`, to
/// prove the ordinary-user path too.
#[derive(Clone, Copy)]
enum RunAs {
    Me,
    Nobody,
}

struct Serving {
    child: Child,
    base: String,
    demo_key: Option<String>,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

fn command(binary: &Path, data_dir: &Path, run_as: RunAs) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env_remove("DATABASE_URL")
        .env("TICKETGATE_LOG", "info")
        .arg("--data-dir")
        .arg(data_dir)
        .stdin(Stdio::null());
    if let RunAs::Nobody = run_as {
        cmd.uid(65534).gid(65534).current_dir("/tmp");
    }
    cmd
}

/// Starts `serve` on a free port and waits for its ready banner (keeps draining stderr so
/// the server never blocks on a full pipe).
fn serve(binary: &Path, data_dir: &Path, run_as: RunAs) -> Serving {
    let mut child = command(binary, data_dir, run_as)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let lines = log.clone();
    std::thread::spawn(move || {
        let mut key = None;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            lines.lock().unwrap().push(line.clone());
            if let Some(rest) = line.split("#key=").nth(1) {
                key = Some(rest.trim().to_string());
            }
            if let Some(url) = line.split("GraphQL endpoint:").nth(1) {
                let base = url.trim().trim_end_matches("/graphql").to_string();
                let _ = tx.send((base, key.take()));
            }
        }
    });
    let (base, demo_key) = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("ticketgate serve did not become ready");
    Serving {
        child,
        base,
        demo_key,
        log,
    }
}

fn stop(mut serving: Serving) {
    kill(Pid::from_raw(serving.child.id() as i32), Signal::SIGINT).unwrap();
    let status = serving.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let log = serving.log.lock().unwrap().join("\n");
    assert!(
        status.success(),
        "serve exited with {status}; its log:\n{log}"
    );
}

fn postmaster_running(data_dir: &Path) -> bool {
    let pid_file = std::fs::read_link(data_dir.join("pgdata"))
        .unwrap_or_else(|_| data_dir.join("pgdata"))
        .join("postmaster.pid");
    std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|text| text.lines().next().map(str::to_string))
        .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists())
}

/// The user id a process runs as, from `ps`.
fn process_uid(pid: i32) -> u32 {
    let output = Command::new("ps")
        .args(["-o", "uid=", "-p", &pid.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no process {pid}"))
}

/// The uid `run_as` runs commands as.
fn runner_uid(run_as: RunAs) -> u32 {
    match run_as {
        RunAs::Me => Uid::effective().as_raw(),
        RunAs::Nobody => 65534,
    }
}

/// Who runs the cluster, and who owns its files: an ordinary user runs it as themselves in
/// a private (0700) data directory; root runs it as `postgres`, who may only pass through
/// (0711) the data directory to reach pgdata.
fn assert_cluster_ownership(data_dir: &Path, run_as: RunAs) {
    let runner = runner_uid(run_as);
    let (cluster_uid, data_dir_mode) = if runner == 0 {
        let postgres = User::from_name("postgres").unwrap().unwrap();
        (postgres.uid.as_raw(), 0o711)
    } else {
        (runner, 0o700)
    };
    let postmaster = postmaster_pid(data_dir).expect("a running cluster");
    assert_eq!(
        process_uid(postmaster),
        cluster_uid,
        "who runs the postmaster"
    );
    assert_ne!(process_uid(postmaster), 0, "never root");
    let meta = std::fs::metadata(data_dir).unwrap();
    assert_eq!(meta.uid(), runner, "the data directory's owner");
    assert_eq!(
        meta.mode() & 0o777,
        data_dir_mode,
        "the data directory's mode"
    );
    let password = std::fs::metadata(data_dir.join("password")).unwrap();
    assert_eq!((password.uid(), password.mode() & 0o777), (runner, 0o600));
    let pgdata = std::fs::metadata(data_dir.join("pgdata")).unwrap();
    assert_eq!(pgdata.uid(), cluster_uid, "pgdata's owner");
    assert_eq!(pgdata.mode() & 0o077, 0, "pgdata is private");
}

async fn ticket_count(base: &str, key: &str) -> i64 {
    Client::new(format!("{base}/graphql"), key)
        .data("{ tickets { totalCount } }", json!({}))
        .await["tickets"]["totalCount"]
        .as_i64()
        .unwrap()
}

/// A data directory (and a copy of the binary) the given user can use.
fn workspace(run_as: RunAs) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let root = tempfile::Builder::new()
        .prefix("tg-zero-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data_dir = root.path().join("data");
    let binary = match run_as {
        RunAs::Me => PathBuf::from(helpers::binary()),
        RunAs::Nobody => {
            // nobody may not be able to reach the build folder: give it its own copy.
            let copy = root.path().join("ticketgate");
            std::fs::copy(helpers::binary(), &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::create_dir(&data_dir).unwrap();
            nix::unistd::chown(
                &data_dir,
                Some(Uid::from_raw(65534)),
                Some(nix::unistd::Gid::from_raw(65534)),
            )
            .unwrap();
            copy
        }
    };
    (root, binary, data_dir)
}

async fn zero_config_lifecycle(run_as: RunAs) {
    let (_root, binary, data_dir) = workspace(run_as);

    // First start: a new cluster, the demo team, a key printed with the GraphiQL URL.
    let first = serve(&binary, &data_dir, run_as);
    let key = first
        .demo_key
        .clone()
        .expect("the first start prints a demo key");
    let tickets = ticket_count(&first.base, &key).await;
    assert!(tickets > 0, "the demo team has tickets");
    assert_cluster_ownership(&data_dir, run_as);

    // A second command on the same data directory reuses the running cluster.
    let created = command(&binary, &data_dir, run_as)
        .args(["api-key", "create", "--team", "demo"])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let second_key = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(ticket_count(&first.base, &second_key).await, tickets);
    assert!(
        postmaster_running(&data_dir),
        "the cluster outlives the second command"
    );

    // A second server on another port shares it too; stopping one keeps it running.
    let other = serve(&binary, &data_dir, run_as);
    assert!(other.demo_key.is_none(), "no second demo seeding");
    stop(other);
    assert!(
        postmaster_running(&data_dir),
        "still used by the first server"
    );
    assert_eq!(ticket_count(&first.base, &key).await, tickets);

    // The last one out stops the cluster.
    stop(first);
    assert!(
        !postmaster_running(&data_dir),
        "the cluster stops with its last user"
    );

    // A stale postmaster.pid (a crash) does not block the next start; data is kept.
    let pgdata =
        std::fs::read_link(data_dir.join("pgdata")).unwrap_or_else(|_| data_dir.join("pgdata"));
    std::fs::write(pgdata.join("postmaster.pid"), "999999\n/x\n0\n5432\n").unwrap();
    let again = serve(&binary, &data_dir, run_as);
    assert!(again.demo_key.is_none(), "data kept: no re-seeding");
    assert_eq!(ticket_count(&again.base, &key).await, tickets);
    stop(again);
    assert!(!postmaster_running(&data_dir));
}

#[tokio::test]
async fn zero_config_postgres_as_the_current_user() {
    zero_config_lifecycle(RunAs::Me).await;
}

/// As root: the whole lifecycle as `nobody`, whose cluster runs as `nobody`. As an ordinary
/// user already: the cluster runs as us, never as root, its files private to us.
#[tokio::test]
async fn zero_config_postgres_as_an_ordinary_user() {
    if Uid::effective().is_root() {
        zero_config_lifecycle(RunAs::Nobody).await;
        return;
    }
    let (_root, binary, data_dir) = workspace(RunAs::Me);
    let server = serve(&binary, &data_dir, RunAs::Me);
    assert_cluster_ownership(&data_dir, RunAs::Me);
    assert_eq!(
        process_uid(postmaster_pid(&data_dir).unwrap()),
        Uid::effective().as_raw()
    );
    stop(server);
    assert!(!postmaster_running(&data_dir), "stops with its only user");
}

/// The pid in the cluster's `postmaster.pid`, while that file exists.
fn postmaster_pid(data_dir: &Path) -> Option<i32> {
    let pid_file = std::fs::read_link(data_dir.join("pgdata"))
        .unwrap_or_else(|_| data_dir.join("pgdata"))
        .join("postmaster.pid");
    std::fs::read_to_string(pid_file)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Alive, not a zombie waiting for its parent.
fn process_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(')')?.1.trim_start().chars().next()?;
            Some(!matches!(state, 'Z' | 'X'))
        })
        .unwrap_or(false)
}

fn cluster_port(data_dir: &Path) -> u16 {
    std::fs::read_to_string(data_dir.join("port"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Whether the cluster is gone within `within`: its postmaster exited and its port
/// refuses connections.
fn cluster_gone_within(data_dir: &Path, postmaster: i32, within: Duration) -> bool {
    let port = cluster_port(data_dir);
    let deadline = std::time::Instant::now() + within;
    loop {
        let refused = std::net::TcpStream::connect(("127.0.0.1", port)).is_err();
        if !process_alive(postmaster) && refused {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Kills a server with `signal` (no clean exit: no `Drop`, no `leave`).
fn crash(mut serving: Serving, signal: Signal) {
    kill(Pid::from_raw(serving.child.id() as i32), signal).unwrap();
    let status = serving.child.wait().unwrap();
    assert!(!status.success(), "{signal} ended the server: {status}");
}

fn crashes_stop_the_cluster(signal: Signal, rounds: usize) {
    let (_root, binary, data_dir) = workspace(RunAs::Me);
    for round in 0..rounds {
        let server = serve(&binary, &data_dir, RunAs::Me);
        let postmaster = postmaster_pid(&data_dir).expect("a running cluster");
        assert!(process_alive(postmaster));
        crash(server, signal);
        assert!(
            cluster_gone_within(&data_dir, postmaster, Duration::from_secs(15)),
            "round {round}: the cluster outlived its only server, killed by {signal}"
        );
    }
}

#[test]
fn a_server_killed_outright_does_not_leave_its_cluster_running() {
    crashes_stop_the_cluster(Signal::SIGKILL, 5);
}

#[test]
fn a_server_that_aborts_does_not_leave_its_cluster_running() {
    crashes_stop_the_cluster(Signal::SIGABRT, 2);
}

/// Two servers share a cluster; one is killed, and the cluster keeps serving the other.
/// The survivor then leaves cleanly (first round) or is killed too (second round): either
/// way the cluster stops with it.
#[tokio::test]
async fn a_killed_server_leaves_the_cluster_to_the_other_one() {
    let (_root, binary, data_dir) = workspace(RunAs::Me);
    for survivor_crashes in [false, true] {
        // The first server starts the cluster (and, the first time, seeds the demo team).
        let first = serve(&binary, &data_dir, RunAs::Me);
        let second = serve(&binary, &data_dir, RunAs::Me);
        let key = demo_key(&binary, &data_dir);
        let postmaster = postmaster_pid(&data_dir).expect("a running cluster");
        let tickets = ticket_count(&second.base, &key).await;

        crash(first, Signal::SIGKILL);
        // Time for a wrong guard to act: the cluster must still be there for `second`.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            process_alive(postmaster),
            "still in use by the second server"
        );
        assert_eq!(ticket_count(&second.base, &key).await, tickets);

        if survivor_crashes {
            crash(second, Signal::SIGKILL);
        } else {
            stop(second);
        }
        assert!(
            cluster_gone_within(&data_dir, postmaster, Duration::from_secs(15)),
            "the cluster stops with its last user (crashed: {survivor_crashes})"
        );
    }
}

/// A fresh API key of the demo team, from the command line.
fn demo_key(binary: &Path, data_dir: &Path) -> String {
    let created = command(binary, data_dir, RunAs::Me)
        .args(["api-key", "create", "--team", "demo"])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string()
}
