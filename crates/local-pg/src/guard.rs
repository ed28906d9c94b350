//! The guard: a small process that outlives its parent and releases the parent's place in
//! the shared cluster when the parent dies without doing it itself.
//!
//! Why it exists: a process leaves the cluster in [`LocalCluster::leave`], run from `Drop`.
//! A process killed by SIGKILL, the OOM killer or an abort (a stack overflow) never runs
//! it. Its `flock` on `clients.lock` is released by the kernel, so it no longer counts as
//! a user, but nobody is left to notice that the cluster now has no user at all: the
//! postmaster (detached by `pg_ctl`) would run until someone stops it by hand.
//!
//! So a process that joins the cluster with [`ClusterOptions::guard`] set first starts a
//! guard: its own executable re-invoked (see [`GuardCommand`]), whose `main` hands the
//! arguments to [`run`]. The guard takes a shared lock on `clients.lock` of its own, on
//! behalf of its parent, and waits. Either the parent leaves cleanly and tells it so (one
//! byte on the guard's stdin): the guard just drops its lock and exits, and the parent runs
//! the usual release. Or the parent dies: the guard runs that same release itself, stopping
//! the cluster when it was the last user. The parent keeps its own lock too, so a guard
//! that is killed never makes a live process look gone.
//!
//! A re-invoked executable rather than a `fork()`: the parent may already run threads (an
//! async runtime), and a forked copy of a threaded process may only call async-signal-safe
//! functions, which rules out running `pg_ctl`. An executable that cannot dispatch the
//! guard (a test harness using the library) leaves `ClusterOptions::guard` unset.
//!
//! [`ClusterOptions::guard`]: crate::ClusterOptions::guard

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};

use nix::fcntl::FlockArg;
use nix::unistd::Pid;

use crate::error::io;
use crate::files::lock;
use crate::user::ClusterUser;
use crate::{LocalCluster, LocalPgError, PgBinaries};

mod parent;

use parent::{Ending, ParentDeath};

/// What the guard prints once it holds its lock: its parent may go on only then.
const READY: &str = "guarding";

/// How to start a guard: a program and the arguments that make it one. The crate appends
/// four more (parent pid, data directory, `pgdata`, binaries folder); the program must hand
/// everything after its own arguments to [`run`], before any other output on stdout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuardCommand {
    /// None: this executable, as `std::env::current_exe` names it when the guard starts.
    program: Option<PathBuf>,
    args: Vec<OsString>,
}

impl GuardCommand {
    /// This executable, with `args` first (typically one hidden argument no user types,
    /// that `main` recognises before parsing its command line).
    pub fn current_exe<I, S>(args: I) -> GuardCommand
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        GuardCommand {
            program: None,
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// Another program, with `args` first.
    pub fn new<I, S>(program: impl Into<PathBuf>, args: I) -> GuardCommand
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        GuardCommand {
            program: Some(program.into()),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    fn program(&self) -> Result<PathBuf, LocalPgError> {
        match &self.program {
            Some(program) => Ok(program.clone()),
            None => std::env::current_exe().map_err(io("finding our own executable")),
        }
    }
}

/// The parent's handle on its guard.
pub(crate) struct Guard {
    child: Child,
    stand_down: ChildStdin,
}

impl Guard {
    /// Starts the guard of this process and waits until it holds its lock.
    pub(crate) fn spawn(
        command: &GuardCommand,
        data_dir: &Path,
        pgdata: &Path,
        bins: &PgBinaries,
    ) -> Result<Guard, LocalPgError> {
        let mut child = Command::new(command.program()?)
            .args(&command.args)
            .arg(std::process::id().to_string())
            .arg(data_dir)
            .arg(pgdata)
            .arg(&bins.dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // A process group of its own: a Ctrl-C in a terminal (SIGINT to the foreground
            // group) or `kill -- -PGID` must not take the guard down with its parent.
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
        Ok(Guard { child, stand_down })
    }

    /// The clean exit: the guard drops its lock and exits. We wait for it, so that its lock
    /// no longer counts when we check whether we are the last user.
    pub(crate) fn stand_down(mut self) {
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

/// Runs a guard: `args` are those after the [`GuardCommand`]'s own. Gives the exit code
/// for `main`; failures are logged with `tracing`.
pub fn run<I>(args: I) -> ExitCode
where
    I: IntoIterator<Item = OsString>,
{
    let args: Vec<PathBuf> = args.into_iter().map(PathBuf::from).collect();
    let outcome = match args.as_slice() {
        [parent, data_dir, pgdata, bins] => parse_pid(parent)
            .ok_or_else(|| usage("a parent pid first"))
            .and_then(|parent| guard(parent, data_dir, pgdata, bins)),
        _ => Err(usage("4 arguments")),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the local PostgreSQL guard failed");
            ExitCode::FAILURE
        }
    }
}

fn usage(expected: &str) -> LocalPgError {
    LocalPgError::Command {
        what: "the local PostgreSQL guard".into(),
        detail: format!("expected {expected}: parent pid, data dir, pgdata, binaries dir"),
    }
}

fn parse_pid(arg: &Path) -> Option<Pid> {
    arg.to_str()?
        .parse()
        .ok()
        .filter(|pid| *pid > 0)
        .map(Pid::from_raw)
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
        label: String::new(),
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
        "process exited without leaving the local PostgreSQL; releasing its place"
    );
    cluster.leave()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_executable_is_resolved_when_the_guard_starts() {
        let command = GuardCommand::current_exe(["--be-a-guard"]);
        assert_eq!(command.args, [OsString::from("--be-a-guard")]);
        assert_eq!(command.program().unwrap(), std::env::current_exe().unwrap());
        let other = GuardCommand::new("/bin/guard", Vec::<OsString>::new());
        assert_eq!(other.program().unwrap(), Path::new("/bin/guard"));
    }

    #[test]
    fn wrong_arguments_fail() {
        assert_eq!(run(Vec::new()), ExitCode::FAILURE);
        let args = ["not-a-pid", "/d", "/p", "/b"].map(OsString::from);
        assert_eq!(run(args), ExitCode::FAILURE);
        let args = ["0", "/d", "/p", "/b"].map(OsString::from);
        assert_eq!(run(args), ExitCode::FAILURE);
    }

    #[test]
    fn a_guard_that_cannot_start_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let bins = PgBinaries {
            dir: dir.path().to_path_buf(),
        };
        // `true` prints nothing: it never says it is guarding.
        let command = GuardCommand::new("true", Vec::<OsString>::new());
        let err = Guard::spawn(&command, dir.path(), dir.path(), &bins)
            .err()
            .unwrap();
        assert!(err.to_string().contains("did not start"), "{err}");
    }
}
