//! The guard: a small process that outlives its server and releases the server's place in
//! the shared cluster when the server dies without doing it itself.
//!
//! Why it exists: a process leaves the cluster in `LocalCluster::leave`, run from `Drop`.
//! A server killed by SIGKILL, the OOM killer or an abort (a stack overflow) never runs
//! it. Its `flock` on `clients.lock` is released by the kernel, so it no longer counts as
//! a user, but nobody is left to notice that the cluster now has no user at all: the
//! postmaster (detached by `pg_ctl`) would run until someone stops it by hand.
//!
//! So every process that joins the cluster first re-invokes its own executable as a guard
//! (`GUARD_ARG`). The guard takes a shared lock on `clients.lock` of its own, on behalf of
//! its parent, and waits. Either the parent leaves cleanly and tells it so (one byte on the
//! guard's stdin): the guard just drops its lock and exits, and the parent runs the usual
//! release. Or the parent dies: the guard runs that same release itself, stopping the
//! cluster when it was the last user. The parent keeps its own lock too, so a guard that is
//! killed never makes a live server look gone.
//!
//! A re-invoked executable rather than a `fork()`: the server may already run threads (the
//! async runtime), and a forked copy of a threaded process may only call async-signal-safe
//! functions, which rules out running `pg_ctl`. An executable that cannot dispatch the
//! guard (a test harness using the library) never calls `enable`, and gets no guard.

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::unistd::{getppid, Pid};

use super::{io, lock, ClusterUser, LocalCluster, LocalPgError, PgBinaries};
use nix::fcntl::FlockArg;

/// The first argument that turns `ticketgate` into a guard. Not a clap subcommand: no user
/// types it, and it must be recognised before any command-line parsing or logging setup.
pub const GUARD_ARG: &str = "__ticketgate-cluster-guard";

/// What the guard prints once it holds its lock: its parent may go on only then.
const READY: &str = "guarding";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Declares that this executable runs `run_if_invoked` first thing in `main`, so clusters
/// joined from now on get a guard.
pub fn enable() {
    ENABLED.store(true, Ordering::SeqCst);
}

/// The parent's handle on its guard.
pub(super) struct Guard {
    child: Child,
    stand_down: ChildStdin,
}

impl Guard {
    /// Starts the guard of this process and waits until it holds its lock. None when this
    /// executable cannot host a guard (see `enable`).
    pub(super) fn spawn(
        data_dir: &Path,
        pgdata: &Path,
        bins: &PgBinaries,
    ) -> Result<Option<Guard>, LocalPgError> {
        if !ENABLED.load(Ordering::SeqCst) {
            return Ok(None);
        }
        let mut child = Command::new(own_executable()?)
            .arg(GUARD_ARG)
            .arg(std::process::id().to_string())
            .arg(data_dir)
            .arg(pgdata)
            .arg(&bins.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // A process group of its own: a Ctrl-C in a terminal (SIGINT to the foreground
            // group) or `kill -- -PGID` must not take the guard down with its server.
            .process_group(0)
            .spawn()
            .map_err(io("starting the local PostgreSQL guard"))?;
        let (Some(stand_down), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(guard_failed(child, "no pipes"));
        };
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        if line.trim() != READY {
            return Err(guard_failed(child, "it did not start"));
        }
        Ok(Some(Guard { child, stand_down }))
    }

    /// The clean exit: the guard drops its lock and exits. We wait for it, so that its lock
    /// no longer counts when we check whether we are the last user.
    pub(super) fn stand_down(mut self) {
        let _ = self.stand_down.write_all(b"x");
        drop(self.stand_down);
        let _ = self.child.wait();
    }
}

fn guard_failed(mut child: Child, why: &str) -> LocalPgError {
    let _ = child.kill();
    let _ = child.wait();
    LocalPgError::Command {
        what: "starting the local PostgreSQL guard".into(),
        detail: why.into(),
    }
}

/// `/proc/self/exe` on Linux: it still works when the binary was replaced on disk since
/// we started (an upgrade), where the path `current_exe` gives would run the new one.
fn own_executable() -> Result<PathBuf, LocalPgError> {
    let proc_exe = Path::new("/proc/self/exe");
    if proc_exe.exists() {
        return Ok(proc_exe.to_path_buf());
    }
    std::env::current_exe().map_err(io("finding our own executable"))
}

/// When this process was started as a guard: runs it and gives the exit code for `main`.
pub fn run_if_invoked() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != GUARD_ARG {
        return None;
    }
    let args: Vec<PathBuf> = args.map(PathBuf::from).collect();
    let outcome = match args.as_slice() {
        [parent, data_dir, pgdata, bins] => parse_pid(parent)
            .ok_or_else(|| usage("a parent pid"))
            .and_then(|parent| guard(parent, data_dir, pgdata, bins)),
        _ => Err(usage("4 arguments")),
    };
    Some(match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the local PostgreSQL guard failed");
            ExitCode::FAILURE
        }
    })
}

fn usage(expected: &str) -> LocalPgError {
    LocalPgError::Command {
        what: "the local PostgreSQL guard".into(),
        detail: format!("expected {expected} after {GUARD_ARG}"),
    }
}

fn parse_pid(arg: &Path) -> Option<Pid> {
    arg.to_str()?.parse().ok().map(Pid::from_raw)
}

fn guard(parent: Pid, data_dir: &Path, pgdata: &Path, bins: &Path) -> Result<(), LocalPgError> {
    let death = ParentDeath::watch(parent);
    let mut cluster = LocalCluster {
        data_dir: data_dir.to_path_buf(),
        pgdata: pgdata.to_path_buf(),
        port: 0,
        password: String::new(),
        bins: PgBinaries {
            dir: bins.to_path_buf(),
        },
        user: ClusterUser::detect()?,
        clients: Some(lock(&data_dir.join("clients.lock"), FlockArg::LockShared)?),
        guard: None,
    };
    // Our parent may be gone already; then nobody reads this, and that is fine.
    let _ = writeln!(std::io::stdout(), "{READY}").and_then(|()| std::io::stdout().flush());
    if death.wait() == Ending::CleanLeave {
        // The parent runs the release itself: only withdraw our lock (no `Drop` release).
        cluster.clients = None;
        return Ok(());
    }
    tracing::warn!(
        pid = parent.as_raw(),
        data_dir = %data_dir.display(),
        "ticketgate exited without leaving the local PostgreSQL; releasing its place"
    );
    cluster.leave()
}

#[derive(Debug, PartialEq, Eq)]
enum Ending {
    /// One byte on stdin: the parent is leaving the cluster itself.
    CleanLeave,
    /// The parent is gone, and so are its locks.
    Died,
}

/// How we learn that the parent is gone. A closed stdin alone is not enough: the kernel
/// closes a dying process's files one by one, so the pipe may report EOF while the
/// parent's `flock` is still held, and the guard would then wrongly find it is not the
/// last user. A pidfd (Linux ≥ 5.3) becomes readable only once every thread of the parent
/// has exited, its files released. Elsewhere, being re-parented tells it, a little early
/// when the parent had threads: we then give the kernel a moment.
enum ParentDeath {
    Pidfd(std::os::fd::OwnedFd),
    Reparenting(Pid),
}

impl ParentDeath {
    fn watch(parent: Pid) -> ParentDeath {
        #[cfg(target_os = "linux")]
        if let Some(fd) = pidfd_open(parent) {
            // Still our parent after the pidfd was opened: then it is not a recycled pid.
            if getppid() == parent {
                return ParentDeath::Pidfd(fd);
            }
        }
        ParentDeath::Reparenting(parent)
    }

    /// Blocks until the parent asks us to stand down or has exited.
    fn wait(&self) -> Ending {
        let stdin = std::io::stdin();
        let pidfd = match self {
            ParentDeath::Pidfd(fd) => Some(fd.as_fd()),
            ParentDeath::Reparenting(_) => None,
        };
        let mut stdin_open = true;
        loop {
            if self.reparented() {
                return Ending::Died;
            }
            let mut fds: Vec<_> = pidfd.into_iter().map(poll_fd).collect();
            let stdin_at = stdin_open.then(|| {
                fds.push(poll_fd(stdin.as_fd()));
                fds.len() - 1
            });
            if fds.is_empty() {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            if !poll(&mut fds, 200) {
                continue;
            }
            if pidfd.is_some() && fds[0].revents != 0 {
                return Ending::Died;
            }
            if stdin_at.is_some_and(|at| fds[at].revents != 0) {
                if let Ok(1) = nix::unistd::read(&stdin, &mut [0u8; 1]) {
                    return Ending::CleanLeave;
                }
                // EOF: the parent is exiting; keep waiting until it has.
                stdin_open = false;
            }
        }
    }

    fn reparented(&self) -> bool {
        let ParentDeath::Reparenting(parent) = self else {
            return false;
        };
        if getppid() == *parent {
            return false;
        }
        std::thread::sleep(Duration::from_millis(250));
        true
    }
}

#[cfg(target_os = "linux")]
fn pidfd_open(pid: Pid) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1; nix
    // has no wrapper for it yet.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid.as_raw(), 0) };
    let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
    // SAFETY: the kernel just gave us this descriptor and nothing else owns it.
    Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) })
}

fn poll_fd(fd: BorrowedFd<'_>) -> nix::libc::pollfd {
    nix::libc::pollfd {
        fd: fd.as_raw_fd(),
        events: nix::libc::POLLIN,
        revents: 0,
    }
}

/// True when some descriptor is ready within `timeout_ms` (EINTR counts as not ready).
fn poll(fds: &mut [nix::libc::pollfd], timeout_ms: i32) -> bool {
    // SAFETY: `fds` is a valid, exclusively borrowed array of `fds.len()` pollfds, and
    // every descriptor in it is borrowed from an owner that outlives this call.
    let ready =
        unsafe { nix::libc::poll(fds.as_mut_ptr(), fds.len() as nix::libc::nfds_t, timeout_ms) };
    ready > 0
}
