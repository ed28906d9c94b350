//! A `ticketgate serve` process (the real binary) on DATABASE_URL: several of them make
//! the replicas of multi-process tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// `ticketgate serve` on a free loopback port against `db_url`, as a child that dies with
/// the test process (killed or aborted tests leave no server behind).
pub fn serve_command(db_url: &str) -> Command {
    let mut command = Command::new(super::binary());
    // The only unsafe code in the workspace: std has no safe way to run code between fork
    // and exec, and a server outliving a killed test would hold its port and database.
    // SAFETY: the closure only calls prctl, which is async-signal-safe.
    #[allow(unsafe_code)]
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGTERM)
                .map_err(std::io::Error::from)
        });
    }
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", db_url);
    command
}

/// A replica that may not listen yet.
pub struct Starting {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// The lines read so far, for the message of a failed start.
    seen: Vec<String>,
}

impl Starting {
    /// The first log line containing `text` within `wait` (None: none came).
    pub fn line_with(&mut self, text: &str, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for the server to listen (its printed GraphQL endpoint).
    pub fn ready(mut self, wait: Duration) -> Replica {
        let Some(line) = self.line_with("GraphQL endpoint:", wait) else {
            panic!(
                "the replica did not start within {wait:?}; its log:\n{}",
                self.seen.join("\n")
            );
        };
        let url = line.split("GraphQL endpoint:").nth(1).unwrap_or_default();
        let base = url.trim().trim_end_matches("/graphql").to_string();
        // Later lines are read and dropped, so the child never blocks on a full pipe.
        let lines = self.lines;
        std::thread::spawn(move || while lines.recv().is_ok() {});
        Replica {
            child: self.child,
            base,
        }
    }
}

pub struct Replica {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl Replica {
    pub fn spawn(db_url: &str, env: &[(&str, &str)]) -> Replica {
        Replica::launch(db_url, env).ready(Duration::from_secs(60))
    }

    /// Starts the process without waiting for it to listen: its log lines (at `info`,
    /// unless `env` says otherwise) can be read while it starts.
    pub fn launch(db_url: &str, env: &[(&str, &str)]) -> Starting {
        let mut child = serve_command(db_url)
            .env("TICKETGATE_LOG", "warn")
            .env("TICKETGATE_WORKERS", "2")
            // Tests send bursts with one key; the limit has a test of its own.
            .env("TICKETGATE_RATE_LIMIT_PER_SECOND", "0")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ticketgate");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Starting {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    pub fn graphql(&self) -> String {
        format!("{}/graphql", self.base)
    }

    pub fn ws(&self) -> String {
        format!("{}/graphql", self.base.replacen("http", "ws", 1))
    }

    /// `host:port`
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Sends SIGTERM, as an orchestrator does to stop a replica.
    pub fn terminate(&self) {
        self.signal(nix::sys::signal::Signal::SIGTERM);
    }

    /// The exit status, once the process ended within `wait` (None: still running).
    pub async fn exited_within(&mut self, wait: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, signal);
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        // A process already reaped has no pid any more (it may be someone else's by now).
        if matches!(self.child.try_wait(), Ok(None)) {
            self.signal(nix::sys::signal::Signal::SIGINT);
            let _ = self.child.wait();
        }
    }
}
