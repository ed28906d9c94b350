//! Several processes: one cluster shared between this test and a child process (this
//! executable re-invoked with `HOLDER_ARG`), which leaves cleanly, is killed, or vanishes.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::time::Duration;

use local_pg::{ClusterOptions, GuardCommand, LocalCluster};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{self, alive, gone_within, postmaster_pid, psql, workspace, Workspace};

const STOPS: Duration = Duration::from_secs(15);

/// How the child joins the cluster.
#[derive(Clone, Copy)]
enum Mode {
    /// With a guard, as an application would.
    Guarded,
    /// Without a guard, and with a watcher that removes everything once it exits.
    Throwaway,
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Guarded => "guarded",
            Mode::Throwaway => "throwaway",
        }
    }
}

/// The child's side: `HOLDER_ARG DATA_DIR MODE`. Joins the cluster, prints
/// `ready PORT POSTMASTER_PID`, then obeys stdin: `leave` (leaves, prints `left`, exits 0)
/// or `vanish` (exits at once, leaving nothing: no destructor runs). EOF means `leave`.
pub fn hold(args: impl Iterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.collect();
    let [data_dir, mode] = args.as_slice() else {
        eprintln!("holder: expected DATA_DIR MODE");
        return ExitCode::FAILURE;
    };
    let data_dir = PathBuf::from(data_dir);
    let root = data_dir.parent().expect("a data dir in a workspace");
    let options = ClusterOptions {
        guard: (mode == "guarded").then(|| GuardCommand::current_exe([crate::GUARD_ARG])),
        ..support::options(root)
    };
    let mut cluster = LocalCluster::start_or_attach(&data_dir, &options).expect("holder: join");
    if mode == "throwaway" {
        cluster
            .remove_when_process_exits(std::process::id())
            .expect("holder: watcher");
    }
    let postmaster = postmaster_pid(cluster.pgdata()).expect("holder: a running cluster");
    println!("ready {} {postmaster}", cluster.port());
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    if line.trim() == "vanish" {
        std::process::exit(0);
    }
    cluster.leave().expect("holder: leave");
    println!("left");
    ExitCode::SUCCESS
}

/// The test's side of a holder.
struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    port: u16,
    postmaster: i32,
}

impl Holder {
    fn spawn(ws: &Workspace, mode: Mode) -> Holder {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .arg(crate::HOLDER_ARG)
            .arg(&ws.data_dir)
            .arg(mode.arg())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        let ["ready", port, postmaster] = words.as_slice() else {
            let _ = child.kill();
            panic!("the holder did not start: {line:?}, {:?}", child.wait());
        };
        Holder {
            port: port.parse().unwrap(),
            postmaster: postmaster.parse().unwrap(),
            child,
            stdin,
            stdout,
        }
    }

    fn say(&mut self, command: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
    }

    /// Leaves cleanly and exits.
    fn leave(mut self) {
        self.say("leave");
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "left");
        assert!(self.child.wait().unwrap().success());
    }

    /// Exits without leaving: the guard, or the watcher, must act.
    fn vanish(mut self) {
        self.say("vanish");
        assert!(self.child.wait().unwrap().success());
    }

    fn kill(mut self, signal: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), signal).unwrap();
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "{signal} ended the holder: {status}");
    }
}

impl Drop for Holder {
    /// A failed test must not leave its child waiting.
    fn drop(&mut self) {
        self.stdin.take();
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn two_processes_share_the_cluster_until_the_last_leaves() {
    let ws = workspace();

    // We start it, the child joins; we leave first.
    let ours = ws.start();
    let url = ours.url("postgres");
    let postmaster = postmaster_pid(ours.pgdata()).unwrap();
    let child = Holder::spawn(&ws, Mode::Guarded);
    assert_eq!((child.port, child.postmaster), (ours.port(), postmaster));
    drop(ours);
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(postmaster), "still used by the child");
    assert_eq!(psql(&url, "SELECT 1"), "1");
    let port = child.port;
    child.leave();
    assert!(gone_within(postmaster, port, STOPS), "stops with the child");

    // The child starts it, we join; the child leaves first.
    let child = Holder::spawn(&ws, Mode::Guarded);
    let ours = ws.start();
    assert_eq!(ours.port(), child.port);
    assert_eq!(postmaster_pid(ours.pgdata()), Some(child.postmaster));
    let postmaster = child.postmaster;
    child.leave();
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(postmaster), "still used by us");
    assert_eq!(psql(&ours.url("postgres"), "SELECT 2"), "2");
    let port = ours.port();
    drop(ours);
    assert!(gone_within(postmaster, port, STOPS), "stops with us");
}

/// How a child ends without leaving.
#[derive(Clone, Copy, Debug)]
enum Crash {
    Kill(Signal),
    /// `exit` without destructors, so without `leave`.
    Vanish,
}

fn crash(holder: Holder, how: Crash) {
    match how {
        Crash::Kill(signal) => holder.kill(signal),
        Crash::Vanish => holder.vanish(),
    }
}

const CRASHES: [Crash; 3] = [
    Crash::Kill(Signal::SIGKILL),
    Crash::Vanish,
    Crash::Kill(Signal::SIGTERM),
];

pub fn a_killed_process_does_not_leave_its_cluster_running() {
    let ws = workspace();
    for how in CRASHES {
        let child = Holder::spawn(&ws, Mode::Guarded);
        let (postmaster, port) = (child.postmaster, child.port);
        assert!(alive(postmaster));
        crash(child, how);
        assert!(
            gone_within(postmaster, port, STOPS),
            "{how:?}: the cluster outlived its only user"
        );
    }
}

pub fn a_killed_process_leaves_the_cluster_to_the_other_one() {
    let ws = workspace();
    for how in CRASHES {
        let ours = ws.start();
        let child = Holder::spawn(&ws, Mode::Guarded);
        let postmaster = child.postmaster;
        crash(child, how);
        // Time for a wrong guard to act: the cluster must still be there for us.
        std::thread::sleep(Duration::from_secs(2));
        assert!(alive(postmaster), "{how:?}: still in use by us");
        assert_eq!(psql(&ours.url("postgres"), "SELECT 3"), "3");
        let port = ours.port();
        drop(ours);
        assert!(
            gone_within(postmaster, port, STOPS),
            "{how:?}: stops with us"
        );
    }
}

pub fn a_throwaway_cluster_is_removed_with_its_process() {
    let ws = workspace();
    let child = Holder::spawn(&ws, Mode::Throwaway);
    let (postmaster, port) = (child.postmaster, child.port);
    assert!(ws.data_dir.join("password").exists());
    child.vanish();
    assert!(gone_within(postmaster, port, STOPS), "the watcher stops it");
    let deadline = std::time::Instant::now() + STOPS;
    while ws.data_dir.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !ws.data_dir.exists(),
        "the watcher removes the data directory"
    );
}
