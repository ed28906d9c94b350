//! The zero-config local PostgreSQL: a private cluster in the data directory, made from the
//! machine's installed server binaries, shared by every `ticketgate` process that points at
//! the same data directory and stopped when the last of them exits.
//!
//! Written by hand because no maintained crate does what is needed here: use the system's
//! binaries (no download), run as the `postgres` OS user when we are root, and share one
//! cluster between processes. The layout of the data directory:
//!
//! ```text
//! DATA_DIR/
//!   pgdata/        the cluster (or a symlink to it, see `pgdata_location`)
//!   cluster.lock   exclusive while a process starts or stops the cluster
//!   clients.lock   every process using the cluster holds a shared lock on it
//!   port           the loopback port the cluster listens on
//!   password       the `postgres` role's password (mode 0600)
//! ```
//!
//! Locks are `flock`s, so a process that dies releases them: a crashed server never blocks
//! the next start and never counts as a user again (no list of pids to go stale). What a
//! dead process cannot do is stop a cluster it was the last user of: its guard (see
//! `guard`) does that.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::fcntl::{Flock, FlockArg};
use nix::unistd::{Gid, Uid, User};
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

pub mod guard;
mod reaper;

#[derive(Debug, thiserror::Error)]
pub enum LocalPgError {
    #[error(
        "no DATABASE_URL is set and the PostgreSQL server binaries (initdb, pg_ctl, postgres) were not \
         found on PATH or under /usr/lib/postgresql/*/bin. Install the PostgreSQL server (Debian/Ubuntu: \
         `apt install postgresql`, macOS: `brew install postgresql`), or set DATABASE_URL to use an \
         existing server."
    )]
    BinariesNotFound,
    #[error(
        "running as root, the local PostgreSQL must run as the unprivileged `postgres` OS user, which \
         does not exist here. Create it (`useradd --system postgres`), run ticketgate as an ordinary \
         user, or set DATABASE_URL."
    )]
    NoUnprivilegedUser,
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalPgError {
    let context = context.into();
    move |source| LocalPgError::Io { context, source }
}

/// Where the server binaries live: `initdb`, `pg_ctl` and `postgres` side by side.
#[derive(Clone, Debug)]
pub struct PgBinaries {
    pub dir: PathBuf,
}

impl PgBinaries {
    /// `TICKETGATE_PG_BIN`, then `PATH`, then the newest `/usr/lib/postgresql/*/bin`.
    pub fn find() -> Result<PgBinaries, LocalPgError> {
        let explicit = std::env::var_os("TICKETGATE_PG_BIN").map(PathBuf::from);
        let on_path = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .unwrap_or_default();
        let mut versioned: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
            .map(|dirs| dirs.flatten().map(|d| d.path().join("bin")).collect())
            .unwrap_or_default();
        versioned.sort_by_key(|dir| {
            let version = dir
                .parent()
                .and_then(|v| v.file_name())
                .and_then(|v| v.to_str());
            std::cmp::Reverse(version.and_then(|v| v.parse::<u32>().ok()).unwrap_or(0))
        });
        Self::find_in(explicit.into_iter().chain(on_path).chain(versioned))
    }

    /// The first of `dirs` that holds all three binaries.
    pub fn find_in(dirs: impl IntoIterator<Item = PathBuf>) -> Result<PgBinaries, LocalPgError> {
        dirs.into_iter()
            .find_map(|dir| Self::complete_in(&dir))
            .ok_or(LocalPgError::BinariesNotFound)
    }

    /// The directory holding all three binaries, following `pg_ctl` through symlinks
    /// (Debian links them into /usr/bin or /usr/local/bin).
    fn complete_in(dir: &Path) -> Option<PgBinaries> {
        let pg_ctl = fs::canonicalize(dir.join("pg_ctl")).ok()?;
        let real_dir = pg_ctl.parent()?.to_path_buf();
        [real_dir, dir.to_path_buf()]
            .into_iter()
            .find(|d| {
                ["initdb", "pg_ctl", "postgres"]
                    .iter()
                    .all(|b| d.join(b).is_file())
            })
            .map(|dir| PgBinaries { dir })
    }

    fn path(&self, binary: &str) -> PathBuf {
        self.dir.join(binary)
    }
}

/// The OS user the cluster runs as: ourselves, or `postgres` when we are root
/// (PostgreSQL refuses to run as root).
#[derive(Clone, Copy, Debug)]
enum ClusterUser {
    Current,
    Other { uid: Uid, gid: Gid },
}

impl ClusterUser {
    fn detect() -> Result<ClusterUser, LocalPgError> {
        if !Uid::effective().is_root() {
            return Ok(ClusterUser::Current);
        }
        let user = User::from_name("postgres")
            .ok()
            .flatten()
            .ok_or(LocalPgError::NoUnprivilegedUser)?;
        Ok(ClusterUser::Other {
            uid: user.uid,
            gid: user.gid,
        })
    }

    fn command(&self, program: PathBuf) -> Command {
        let mut cmd = Command::new(program);
        if let ClusterUser::Other { uid, gid } = *self {
            // Our working directory may be private to root: start from `/`.
            cmd.uid(uid.as_raw()).gid(gid.as_raw()).current_dir("/");
        }
        cmd.env_remove("PGDATA")
            .env_remove("PGPORT")
            .env_remove("PGHOST");
        cmd
    }

    fn give(&self, path: &Path) -> Result<(), LocalPgError> {
        if let ClusterUser::Other { uid, gid } = *self {
            nix::unistd::chown(path, Some(uid), Some(gid)).map_err(|errno| LocalPgError::Io {
                context: format!("chown {}", path.display()),
                source: errno.into(),
            })?;
        }
        Ok(())
    }

    /// Can this user walk down to `path`? Checks the execute bit of every ancestor.
    fn can_traverse(&self, path: &Path) -> bool {
        let ClusterUser::Other { uid, gid } = *self else {
            return true;
        };
        path.ancestors().all(|dir| match fs::metadata(dir) {
            Ok(meta) => {
                let mode = meta.mode();
                if meta.uid() == uid.as_raw() {
                    mode & 0o100 != 0
                } else if meta.gid() == gid.as_raw() {
                    mode & 0o010 != 0
                } else {
                    mode & 0o001 != 0
                }
            }
            Err(_) => true,
        })
    }
}

/// How a new cluster is tuned.
#[derive(Clone, Copy, Debug, Default)]
pub struct ClusterOptions {
    /// A throwaway cluster (tests, benchmarks): no fsync, more connections.
    pub ephemeral: bool,
}

/// A running cluster this process is registered with. Dropping it leaves the cluster,
/// stopping it when this was the last process using it.
pub struct LocalCluster {
    data_dir: PathBuf,
    pgdata: PathBuf,
    port: u16,
    password: String,
    bins: PgBinaries,
    user: ClusterUser,
    clients: Option<Flock<File>>,
    /// Releases our place should we die without `leave` (None where no guard can run).
    guard: Option<guard::Guard>,
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
        options: ClusterOptions,
    ) -> Result<LocalCluster, LocalPgError> {
        let bins = PgBinaries::find()?;
        let user = ClusterUser::detect()?;
        create_private_dir(data_dir, &user)?;
        let data_dir = fs::canonicalize(data_dir).map_err(io("resolving the data directory"))?;

        let starting = lock(&data_dir.join("cluster.lock"), FlockArg::LockExclusive)?;
        let clients = lock(&data_dir.join("clients.lock"), FlockArg::LockShared)?;
        let pgdata = pgdata_location(&data_dir, &user)?;
        let password = read_or_create_password(&data_dir)?;
        // Guarded before anything starts: dying half-way through `pg_ctl start` must not
        // leave a postmaster behind either.
        let guard = guard::Guard::spawn(&data_dir, &pgdata, &bins)?;
        let mut cluster = LocalCluster {
            data_dir,
            pgdata,
            port: 0,
            password,
            bins,
            user,
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
    fn init_and_run(&self, options: ClusterOptions) -> Result<u16, LocalPgError> {
        if !self.pgdata.join("PG_VERSION").exists() {
            self.init(options)?;
        }
        match self.running_port() {
            Some(port) => Ok(port),
            None => self.start(),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// A libpq/Diesel URL for `database` on this cluster. Loopback only, so no TLS: libpq
    /// then never loads OpenSSL, whose exit-time cleanup can race connection threads.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{}@127.0.0.1:{}/{}?sslmode=disable",
            self.password, self.port, database
        )
    }

    fn init(&self, options: ClusterOptions) -> Result<(), LocalPgError> {
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
        let mut settings = String::from(
            "\n# ticketgate: a private cluster, reachable on loopback only.\n\
             listen_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\n",
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

    /// The port of the cluster when its postmaster is alive. A `postmaster.pid` left by a
    /// killed server (or a recycled pid) is removed so the next start is not blocked.
    fn running_port(&self) -> Option<u16> {
        let pid_file = self.pgdata.join("postmaster.pid");
        let contents = fs::read_to_string(&pid_file).ok()?;
        let mut lines = contents.lines();
        let pid = lines.next()?.trim();
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() != "postgres" {
            tracing::info!("removing a stale postmaster.pid");
            let _ = fs::remove_file(&pid_file);
            return None;
        }
        let port = lines.nth(2)?.trim().parse().ok()?;
        Some(port)
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

    /// Leaves the cluster now; stops it when no other process uses it.
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

fn create_private_dir(dir: &Path, user: &ClusterUser) -> Result<(), LocalPgError> {
    fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    // Private to us; when the cluster runs as another user, that user may pass through
    // (execute) to reach `pgdata`, but not list or read what else is here.
    let mode = match user {
        ClusterUser::Current => 0o700,
        ClusterUser::Other { .. } => 0o711,
    };
    fs::set_permissions(dir, fs::Permissions::from_mode(mode))
        .map_err(io(format!("setting the mode of {}", dir.display())))
}

/// `DATA_DIR/pgdata`, unless we are root and the `postgres` user cannot reach it (a data
/// directory under a private home folder): then the cluster lives under
/// `/var/lib/ticketgate/<hash>` and `DATA_DIR/pgdata` is a symlink to it.
fn pgdata_location(data_dir: &Path, user: &ClusterUser) -> Result<PathBuf, LocalPgError> {
    let link = data_dir.join("pgdata");
    if let Ok(target) = fs::read_link(&link) {
        return Ok(target);
    }
    if link.exists() || user.can_traverse(data_dir) {
        return Ok(link);
    }
    let hash = hex::encode(&Sha256::digest(data_dir.as_os_str().as_encoded_bytes())[..8]);
    let home = Path::new("/var/lib/ticketgate").join(hash);
    tracing::warn!(
        data_dir = %data_dir.display(),
        cluster = %home.display(),
        "the postgres OS user cannot reach the data directory; keeping the cluster elsewhere"
    );
    fs::create_dir_all(&home).map_err(io(format!("creating {}", home.display())))?;
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700))
        .map_err(io("setting cluster directory mode"))?;
    user.give(&home)?;
    let target = home.join("pgdata");
    std::os::unix::fs::symlink(&target, &link).map_err(io("linking the cluster directory"))?;
    Ok(target)
}

fn read_or_create_password(data_dir: &Path) -> Result<String, LocalPgError> {
    let path = data_dir.join("password");
    if let Ok(mut file) = File::open(&path) {
        let mut password = String::new();
        file.read_to_string(&mut password)
            .map_err(io("reading the cluster password"))?;
        return Ok(password.trim().to_string());
    }
    let password = Alphanumeric.sample_string(&mut rand::rng(), 32);
    write_secret(&path, &password)?;
    Ok(password)
}

fn write_secret(path: &Path, secret: &str) -> Result<(), LocalPgError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("writing {}", path.display())))?;
    file.write_all(secret.as_bytes())
        .map_err(io(format!("writing {}", path.display())))
}

fn lock(path: &Path, how: FlockArg) -> Result<Flock<File>, LocalPgError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("opening {}", path.display())))?;
    Flock::lock(file, how).map_err(|(_, errno)| LocalPgError::Io {
        context: format!("locking {}", path.display()),
        source: errno.into(),
    })
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
    fn missing_binaries_say_what_to_do() {
        let empty = std::env::temp_dir().join(format!("tg-empty-{}", std::process::id()));
        let _ = fs::create_dir_all(&empty);
        let err = PgBinaries::find_in([empty.clone()]).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("apt install postgresql"), "{message}");
        assert!(message.contains("DATABASE_URL"), "{message}");
        let _ = fs::remove_dir_all(empty);
    }

    #[test]
    fn finds_the_installed_binaries() {
        // The machines this project runs on have PostgreSQL's server installed.
        let bins = PgBinaries::find().expect("PostgreSQL server binaries");
        assert!(bins.path("postgres").is_file());
    }
}
