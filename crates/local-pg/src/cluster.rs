//! Starting, joining and leaving the cluster of a data directory.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::fcntl::{Flock, FlockArg};

use crate::error::io;
use crate::files::{
    create_private_dir, lock, pgdata_location, read_or_create_password, write_secret,
};
use crate::guard::{Guard, GuardCommand};
use crate::user::ClusterUser;
use crate::{postmaster, LocalPgError, PgBinaries};

/// How a cluster is found, made and looked after. Everything application-specific
/// (names, environment variables, the guard's command line) is given here.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// A throwaway cluster (tests, benchmarks): no fsync, more connections. Only read when
    /// the cluster is created.
    pub ephemeral: bool,
    /// The folder of the server binaries when the caller was told it (say, by an
    /// environment variable); searched first, see [`PgBinaries::find`].
    pub pg_bin: Option<PathBuf>,
    /// Who owns the cluster, in the comment added to `postgresql.conf` and the name of the
    /// cleanup watcher's process.
    pub label: String,
    /// Where a cluster goes when we are root and the `postgres` OS user cannot reach the
    /// data directory (under a private home folder, say): `relocation_root/<hash>/pgdata`,
    /// with `DATA_DIR/pgdata` a symlink to it.
    pub relocation_root: PathBuf,
    /// How to start a guard, the process that stops the cluster should this one die without
    /// leaving it (see [`crate::guard`]). None: no guard.
    pub guard: Option<GuardCommand>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            ephemeral: false,
            pg_bin: None,
            label: "local-pg".into(),
            relocation_root: PathBuf::from("/var/lib/local-pg"),
            guard: None,
        }
    }
}

/// A running cluster this process is registered with. Dropping it leaves the cluster,
/// stopping it when this was the last process using it.
pub struct LocalCluster {
    pub(crate) data_dir: PathBuf,
    pub(crate) pgdata: PathBuf,
    pub(crate) port: u16,
    pub(crate) password: String,
    pub(crate) bins: PgBinaries,
    pub(crate) user: ClusterUser,
    pub(crate) label: String,
    pub(crate) clients: Option<Flock<File>>,
    /// Releases our place should we die without `leave` (None without a guard).
    pub(crate) guard: Option<Guard>,
}

impl std::fmt::Debug for LocalCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCluster")
            .field("data_dir", &self.data_dir)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl LocalCluster {
    /// Starts the cluster of `data_dir` (creating it the first time), or joins it when
    /// another process already runs it.
    pub fn start_or_attach(
        data_dir: &Path,
        options: &ClusterOptions,
    ) -> Result<LocalCluster, LocalPgError> {
        let bins = PgBinaries::find(options.pg_bin.clone())?;
        let user = ClusterUser::detect()?;
        create_private_dir(data_dir, &user)?;
        let data_dir = fs::canonicalize(data_dir).map_err(io("resolving the data directory"))?;

        let starting = lock(&data_dir.join("cluster.lock"), FlockArg::LockExclusive)?;
        let clients = lock(&data_dir.join("clients.lock"), FlockArg::LockShared)?;
        let pgdata = pgdata_location(&data_dir, &user, &options.relocation_root)?;
        let password = read_or_create_password(&data_dir)?;
        // Guarded before anything starts: dying half-way through `pg_ctl start` must not
        // leave a postmaster behind either.
        let guard = match &options.guard {
            Some(command) => Some(Guard::spawn(command, &data_dir, &pgdata, &bins)?),
            None => None,
        };
        let mut cluster = LocalCluster {
            data_dir,
            pgdata,
            port: 0,
            password,
            bins,
            user,
            label: options.label.clone(),
            clients: Some(clients),
            guard,
        };
        let port = cluster.init_and_run(options);
        // Released before `cluster` may drop on an error: its `leave` takes this lock too.
        drop(starting);
        cluster.port = port?;
        Ok(cluster)
    }

    /// Creates the cluster the first time, starts it unless it runs; gives its port.
    fn init_and_run(&self, options: &ClusterOptions) -> Result<u16, LocalPgError> {
        if !self.pgdata.join("PG_VERSION").exists() {
            self.init(options)?;
        }
        match self.running_port() {
            Some(port) => Ok(port),
            None => self.start(),
        }
    }

    /// The loopback port the cluster listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The data directory, resolved (no symlinks).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The cluster's own directory (PostgreSQL's data directory): `DATA_DIR/pgdata`, or
    /// where that links to.
    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    /// A libpq/Diesel URL for `database` on this cluster, as the `postgres` role. Loopback
    /// only, so no TLS: libpq then never loads OpenSSL, whose exit-time cleanup can race
    /// connection threads.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{}?sslmode=disable",
            self.password, self.port, database
        )
    }

    fn init(&self, options: &ClusterOptions) -> Result<(), LocalPgError> {
        tracing::info!(pgdata = %self.pgdata.display(), "creating a local PostgreSQL cluster");
        let pwfile = self.pgdata.with_file_name("initdb.pw");
        write_secret(&pwfile, &self.password)?;
        self.user.give(&pwfile)?;
        // C.UTF-8 gives Unicode-aware lower()/ILIKE; fall back to C where it is missing.
        let mut outcome = Ok(());
        for locale in ["C.UTF-8", "C"] {
            self.prepare_empty_pgdata()?;
            outcome = self.run(
                self.user
                    .command(self.bins.path("initdb"))
                    .arg("-D")
                    .arg(&self.pgdata)
                    .args(["-U", "postgres", "-E", "UTF8", "--auth=scram-sha-256"])
                    .arg(format!("--locale={locale}"))
                    .arg(format!("--pwfile={}", pwfile.display())),
                "initdb",
            );
            if outcome.is_ok() {
                break;
            }
        }
        let _ = fs::remove_file(&pwfile);
        outcome?;
        let mut settings = format!(
            "\n# {}: a private cluster, reachable on loopback only.\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\n",
            options.label
        );
        if options.ephemeral {
            settings.push_str(
                "max_connections = 400\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            );
        } else {
            settings.push_str("max_connections = 200\n");
        }
        OpenOptions::new()
            .append(true)
            .open(self.pgdata.join("postgresql.conf"))
            .and_then(|mut conf| conf.write_all(settings.as_bytes()))
            .map_err(io("writing postgresql.conf"))
    }

    /// An empty, private `pgdata` owned by the cluster's user (its parent may not be
    /// writable by that user, so we create it for initdb).
    fn prepare_empty_pgdata(&self) -> Result<(), LocalPgError> {
        let _ = fs::remove_dir_all(&self.pgdata);
        fs::create_dir_all(&self.pgdata).map_err(io("creating pgdata"))?;
        fs::set_permissions(&self.pgdata, fs::Permissions::from_mode(0o700))
            .map_err(io("setting the mode of pgdata"))?;
        self.user.give(&self.pgdata)
    }

    /// The port of the cluster when its postmaster is alive (see `postmaster`).
    fn running_port(&self) -> Option<u16> {
        postmaster::running_port(&self.pgdata)
    }

    fn start(&self) -> Result<u16, LocalPgError> {
        let port = self.choose_port()?;
        tracing::info!(port, "starting the local PostgreSQL");
        let log = self.pgdata.join("server.log");
        self.run(
            self.user
                .command(self.bins.path("pg_ctl"))
                .arg("start")
                .arg("-D")
                .arg(&self.pgdata)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", "60", "-o"])
                .arg(format!("-p {port}")),
            "starting PostgreSQL (pg_ctl start)",
        )
        .map_err(|err| with_log_tail(err, &log))?;
        fs::write(self.data_dir.join("port"), port.to_string()).map_err(io("writing the port"))?;
        Ok(port)
    }

    /// The port used last time when it is still free (stable URLs), else a new free one.
    fn choose_port(&self) -> Result<u16, LocalPgError> {
        let previous = fs::read_to_string(self.data_dir.join("port"))
            .ok()
            .and_then(|p| p.trim().parse::<u16>().ok());
        if let Some(port) = previous {
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                return Ok(port);
            }
        }
        let probe = std::net::TcpListener::bind(("127.0.0.1", 0))
            .map_err(io("finding a free loopback port"))?;
        Ok(probe
            .local_addr()
            .map_err(io("finding a free port"))?
            .port())
    }

    fn stop(&self) -> Result<(), LocalPgError> {
        tracing::info!("stopping the local PostgreSQL");
        self.run(
            self.user
                .command(self.bins.path("pg_ctl"))
                .arg("stop")
                .arg("-D")
                .arg(&self.pgdata)
                .args(["-m", "fast", "-w", "-t", "60"]),
            "stopping PostgreSQL (pg_ctl stop)",
        )
    }

    fn run(&self, cmd: &mut Command, what: &str) -> Result<(), LocalPgError> {
        let output = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(io(format!("running {what}")))?;
        if output.status.success() {
            return Ok(());
        }
        Err(LocalPgError::Command {
            what: what.to_string(),
            detail: format!(
                "{}\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        })
    }

    /// Leaves the cluster now; stops it when no other process uses it. Dropping does the
    /// same, logging what goes wrong; this says it.
    pub fn leave(&mut self) -> Result<(), LocalPgError> {
        let Some(clients) = self.clients.take() else {
            return Ok(());
        };
        // Our own lock still holds our place while the guard lets go of its one.
        if let Some(guard) = self.guard.take() {
            guard.stand_down();
        }
        let _stopping = lock(&self.data_dir.join("cluster.lock"), FlockArg::LockExclusive)?;
        // Nobody else holds a shared lock exactly when ours converts to exclusive.
        let last = clients.relock(FlockArg::LockExclusiveNonblock).is_ok();
        drop(clients);
        if last && self.running_port().is_some() {
            self.stop()?;
        }
        Ok(())
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if let Err(err) = self.leave() {
            tracing::warn!(error = %err, "could not stop the local PostgreSQL");
        }
    }
}

fn with_log_tail(err: LocalPgError, log: &Path) -> LocalPgError {
    let tail = fs::read_to_string(log)
        .map(|text| {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        })
        .unwrap_or_default();
    match err {
        LocalPgError::Command { what, detail } => LocalPgError::Command {
            what,
            detail: format!("{detail}\nserver log ({}):\n{tail}", log.display()),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_name_no_application() {
        let options = ClusterOptions::default();
        assert!(!options.ephemeral);
        assert_eq!(options.label, "local-pg");
        assert_eq!(options.relocation_root, Path::new("/var/lib/local-pg"));
        assert!(options.pg_bin.is_none() && options.guard.is_none());
    }

    #[test]
    fn a_failed_start_shows_the_end_of_the_server_log() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("server.log");
        let lines: Vec<String> = (0..40).map(|i| format!("line {i}")).collect();
        fs::write(&log, lines.join("\n")).unwrap();
        let err = LocalPgError::Command {
            what: "pg_ctl".into(),
            detail: "exit status: 1".into(),
        };
        let message = with_log_tail(err, &log).to_string();
        assert!(
            message.contains("line 39") && message.contains("line 25"),
            "{message}"
        );
        assert!(!message.contains("line 24\n"), "{message}");
    }
}
