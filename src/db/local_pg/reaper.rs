//! The watcher that removes a throwaway cluster (tests, benchmarks) with its process.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::{io, LocalCluster, LocalPgError};

impl LocalCluster {
    /// For throwaway clusters (tests, benchmarks): a detached watcher stops the cluster and
    /// deletes the data directory once process `pid` has exited, however it exits.
    pub fn remove_when_process_exits(&self, pid: u32) -> Result<(), LocalPgError> {
        let script = r#"
            while [ -e "/proc/$1" ]; do sleep 0.5; done
            pid=$(head -n 1 "$2/postmaster.pid" 2>/dev/null)
            if [ -n "$pid" ]; then
                kill -INT "$pid" 2>/dev/null
                i=0; while [ -e "/proc/$pid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
            fi
            rm -rf "$3" "$4"
        "#;
        let relocated = fs::read_link(self.data_dir.join("pgdata"))
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| self.data_dir.join("pgdata"));
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c")
            .arg(script)
            .arg("ticketgate-reaper")
            .arg(pid.to_string())
            .arg(&self.pgdata)
            .arg(&self.data_dir)
            .arg(relocated)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // A session of its own, so a Ctrl-C aimed at the test run does not kill the watcher.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid()
                    .map(|_| ())
                    .map_err(std::io::Error::from)
            });
        }
        cmd.spawn().map_err(io("starting the cleanup watcher"))?;
        Ok(())
    }
}
