//! Is the cluster's postmaster running? Read from its `postmaster.pid`, and checked.
//!
//! A postmaster killed outright (SIGKILL, a power cut, a container stopped) leaves its
//! `postmaster.pid` behind. After a reboot, or much later, the pid in it may belong to
//! another process, and PostgreSQL then refuses to start ("lock file already exists") when
//! that process runs as the cluster's user. So a pid file is trusted only when:
//!
//! 1. its pid is alive: `kill(pid, 0)` succeeds. `ESRCH` means gone; `EPERM` means a
//!    process of another user, which cannot be the postmaster (it runs as the owner of the
//!    data directory: ourselves, or `postgres` when we are root, and root may signal any
//!    process). PostgreSQL reasons the same way about its own lock file.
//! 2. and a PostgreSQL postmaster answers on the port the file names: we send an
//!    `SSLRequest`, which every postmaster answers with one byte, `S` or `N`, before any
//!    authentication, also while starting up, in recovery or at `max_connections`.
//!
//! Why not what Linux alone offers (`/proc/PID/comm` is "postgres", or the process start
//! time against the file's third line): neither exists on macOS, and comparing start times
//! needs a system-specific call on each. Why not `pg_ctl status`: it only does the
//! `kill(pid, 0)` of step 1, so a recycled pid fools it. The probe sees what matters (a
//! postmaster serves that port), from std alone. What it cannot rule out, a recycled pid
//! *and* another PostgreSQL on the very port the dead one had, is then seen loudly: our
//! password fails there.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;

/// How long a live pid may take to answer on its port before it is taken for another
/// process: we hold `cluster.lock`, so no start or stop of ours is under way, and a
/// postmaster answers at once; this only covers one slow to fork under load.
const PATIENCE: Duration = Duration::from_secs(3);

/// `SSLRequest`: length 8, then the code 1234.5679.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// The port of the cluster in `pgdata` when its postmaster is alive. A `postmaster.pid`
/// left by a dead postmaster (or naming a recycled pid) is removed, so the next start is
/// not blocked.
pub(crate) fn running_port(pgdata: &Path) -> Option<u16> {
    running_port_within(pgdata, PATIENCE)
}

fn running_port_within(pgdata: &Path, patience: Duration) -> Option<u16> {
    let pid_file = pgdata.join("postmaster.pid");
    let contents = fs::read_to_string(&pid_file).ok()?;
    match check(&contents, patience) {
        Ok(port) => Some(port),
        Err(why) => {
            tracing::info!(reason = why, "removing a stale postmaster.pid");
            let _ = fs::remove_file(&pid_file);
            None
        }
    }
}

/// The port when the file names a live postmaster, else why it is stale.
fn check(contents: &str, patience: Duration) -> Result<u16, &'static str> {
    // Lines: pid, data directory, start time, port, socket directory, listen address, …
    let mut lines = contents.lines().map(str::trim);
    let pid = lines
        .next()
        .and_then(|line| line.parse::<i32>().ok())
        .filter(|pid| *pid > 0)
        .ok_or("no pid in it")?;
    let port = lines
        .nth(2)
        .and_then(|line| line.parse::<u16>().ok())
        .ok_or("no port in it")?;
    let deadline = Instant::now() + patience;
    loop {
        if !alive(Pid::from_raw(pid)) {
            return Err("its postmaster is gone");
        }
        if answers_as_postgres(port) {
            return Ok(port);
        }
        if Instant::now() >= deadline {
            return Err("its pid is another process: no postmaster answers on its port");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Could `pid` be our postmaster? See the module's notes for `EPERM`.
fn alive(pid: Pid) -> bool {
    match kill(pid, None) {
        Ok(()) => true,
        Err(Errno::ESRCH | Errno::EPERM) => false,
        // Unexpected: do not remove a file that may still be in use.
        Err(_) => true,
    }
}

/// Does a PostgreSQL postmaster listen on loopback `port`?
fn answers_as_postgres(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let timeout = Some(Duration::from_secs(2));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return false;
    }
    let mut answer = [0u8; 1];
    // Closing after the answer is silent on the server's side: a startup packet never begun.
    stream.write_all(&SSL_REQUEST).is_ok()
        && matches!(stream.read(&mut answer), Ok(1))
        && matches!(answer[0], b'S' | b'N')
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::process::Command;

    use super::*;

    const BRIEF: Duration = Duration::from_millis(300);

    fn pid_file(dir: &Path, pid: impl std::fmt::Display, port: u16) -> std::path::PathBuf {
        let path = dir.join("postmaster.pid");
        let text = format!(
            "{pid}\n{}\n1700000000\n{port}\n\n127.0.0.1\n",
            dir.display()
        );
        fs::write(&path, text).unwrap();
        path
    }

    /// A loopback port nothing listens on (just released).
    fn closed_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    /// A pid that was ours a moment ago and is gone (reaped).
    fn dead_pid() -> u32 {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    /// A listener that answers every connection with `reply` (after reading 8 bytes).
    fn fake_server(reply: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().map_while(Result::ok) {
                let mut request = [0u8; 8];
                let _ = conn.read_exact(&mut request);
                let _ = conn.write_all(reply);
            }
        });
        port
    }

    #[test]
    fn no_pid_file_means_not_running() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(running_port_within(dir.path(), BRIEF), None);
    }

    #[test]
    fn a_dead_pid_is_stale_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = pid_file(dir.path(), dead_pid(), fake_server(b"N"));
        assert_eq!(running_port_within(dir.path(), BRIEF), None);
        assert!(!path.exists());
    }

    #[test]
    fn garbage_is_stale_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("postmaster.pid");
        for garbage in [
            "",
            "not a pid\n",
            "-1\n/x\n0\n5432\n",
            "0\n/x\n0\n5432\n",
            "1\n/x\n",
        ] {
            fs::write(&path, garbage).unwrap();
            assert_eq!(running_port_within(dir.path(), BRIEF), None, "{garbage:?}");
            assert!(!path.exists(), "{garbage:?}");
        }
    }

    #[test]
    fn a_recycled_pid_without_a_postmaster_is_stale() {
        // Our own pid is alive, and of our user, but nothing answers on the port.
        let dir = tempfile::tempdir().unwrap();
        let path = pid_file(dir.path(), std::process::id(), closed_port());
        assert_eq!(running_port_within(dir.path(), BRIEF), None);
        assert!(!path.exists());
    }

    #[test]
    fn a_recycled_pid_with_something_else_on_the_port_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = pid_file(dir.path(), std::process::id(), fake_server(b"HTTP/1.1 400"));
        assert_eq!(running_port_within(dir.path(), BRIEF), None);
        assert!(!path.exists());
    }

    #[test]
    fn another_users_process_is_stale() {
        // pid 1 is root's: EPERM for an ordinary user. As root it is alive, but no
        // postmaster answers on the port. Stale either way.
        let dir = tempfile::tempdir().unwrap();
        let path = pid_file(dir.path(), 1, closed_port());
        assert_eq!(running_port_within(dir.path(), BRIEF), None);
        assert!(!path.exists());
    }

    #[test]
    fn a_live_postmaster_gives_its_port_and_keeps_its_file() {
        for answer in [b"N", b"S"] {
            let dir = tempfile::tempdir().unwrap();
            let port = fake_server(answer);
            let path = pid_file(dir.path(), std::process::id(), port);
            assert_eq!(running_port_within(dir.path(), BRIEF), Some(port));
            assert!(path.exists());
        }
    }

    #[test]
    fn the_request_is_an_ssl_request() {
        let code = u32::from_be_bytes([
            SSL_REQUEST[4],
            SSL_REQUEST[5],
            SSL_REQUEST[6],
            SSL_REQUEST[7],
        ]);
        assert_eq!(code, (1234 << 16) | 5679);
        assert_eq!(u32::from_be_bytes([0, 0, 0, 8]), SSL_REQUEST.len() as u32);
    }
}
