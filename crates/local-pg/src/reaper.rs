//! The watcher that removes a throwaway cluster (tests, benchmarks) with its process.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::error::io;
use crate::{LocalCluster, LocalPgError};

/// `$1` the watched pid, `$2` pgdata, `$3` the data directory, `$4` the relocated home.
/// `kill -0` tells whether a process lives on every unix (no `/proc`); it answers for
/// processes we may signal, which both are: the caller's own (typically itself) and the
/// postmaster (ours, or `postgres`'s when we are root).
const SCRIPT: &str = r#"
    while kill -0 "$1" 2>/dev/null; do sleep 0.5; done
    pid=$(head -n 1 "$2/postmaster.pid" 2>/dev/null)
    if [ -n "$pid" ]; then
        kill -INT "$pid" 2>/dev/null
        i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
    fi
    rm -rf "$3" "$4"
"#;

impl LocalCluster {
    /// For throwaway clusters (tests, benchmarks): a detached watcher stops the cluster and
    /// deletes the data directory once process `pid` has exited, however it exits. `pid`
    /// must be a process we may signal (our own, typically).
    pub fn remove_when_process_exits(&self, pid: u32) -> Result<(), LocalPgError> {
        let relocated = fs::read_link(self.data_dir.join("pgdata"))
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| self.data_dir.join("pgdata"));
        Command::new("/bin/sh")
            .arg("-c")
            .arg(SCRIPT)
            .arg(format!("{}-reaper", self.label))
            .arg(pid.to_string())
            .arg(&self.pgdata)
            .arg(&self.data_dir)
            .arg(relocated)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // A process group of its own, so a Ctrl-C aimed at the test run (SIGINT to the
            // foreground group) does not kill the watcher.
            .process_group(0)
            .spawn()
            .map_err(io("starting the cleanup watcher"))?;
        Ok(())
    }
}
