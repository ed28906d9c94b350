//! What the tests share: a workspace, options, `psql`, and looks at the postmaster.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use local_pg::{ClusterOptions, LocalCluster, PgBinaries};
use nix::sys::signal::kill;
use nix::unistd::{Pid, Uid, User};

/// A temporary folder the cluster's user may traverse, and a data directory in it.
pub struct Workspace {
    pub root: tempfile::TempDir,
    pub data_dir: PathBuf,
}

pub fn workspace() -> Workspace {
    let root = tempfile::Builder::new()
        .prefix("local-pg-it-")
        .tempdir_in("/tmp")
        .unwrap();
    // As root the cluster runs as `postgres`, which must reach the data directory.
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let data_dir = root.path().join("data");
    Workspace { root, data_dir }
}

/// Throwaway options naming this test suite, relocating (if ever) into `root/relocated`.
pub fn options(root: &Path) -> ClusterOptions {
    ClusterOptions {
        ephemeral: true,
        label: "local-pg-it".into(),
        relocation_root: root.join("relocated"),
        ..ClusterOptions::default()
    }
}

impl Workspace {
    pub fn options(&self) -> ClusterOptions {
        options(self.root.path())
    }

    pub fn start(&self) -> LocalCluster {
        LocalCluster::start_or_attach(&self.data_dir, &self.options())
            .expect("start or attach the cluster")
    }

    /// Where the cluster's files are, following the relocation symlink.
    pub fn pgdata(&self) -> PathBuf {
        fs::read_link(self.data_dir.join("pgdata")).unwrap_or_else(|_| self.data_dir.join("pgdata"))
    }
}

/// Runs `sql` with `psql` on `url`; its rows, unaligned, `|` between columns.
pub fn psql(url: &str, sql: &str) -> String {
    let output = psql_command()
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("run psql");
    assert!(
        output.status.success(),
        "psql {sql:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// Whether `psql` can connect at all.
pub fn connects(url: &str) -> bool {
    psql_command()
        .args(["-X", "-A", "-t", "-d", url, "-c", "SELECT 1"])
        .output()
        .is_ok_and(|output| output.status.success())
}

/// `psql` beside the server binaries (Debian's versioned folder), else from PATH.
fn psql_command() -> Command {
    let beside = PgBinaries::find(None).map(|bins| bins.path("psql"));
    match beside {
        Ok(path) if path.is_file() => Command::new(path),
        _ => Command::new("psql"),
    }
}

/// The pid in the cluster's `postmaster.pid`, while that file exists.
pub fn postmaster_pid(pgdata: &Path) -> Option<i32> {
    fs::read_to_string(pgdata.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The postmaster is not our child (pg_ctl detaches it), so no zombie to mistake for it;
/// it is ours or (as root) anyone's to signal.
pub fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
}

/// Whether the cluster is gone within `within`: its postmaster exited and its port
/// refuses connections.
pub fn gone_within(postmaster: i32, port: u16, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let refused = std::net::TcpStream::connect(("127.0.0.1", port)).is_err();
        if !alive(postmaster) && refused {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The user id a process runs as, from `ps` (Linux and macOS alike).
pub fn uid_of(pid: i32) -> u32 {
    let output = Command::new("ps")
        .args(["-o", "uid=", "-p", &pid.to_string()])
        .output()
        .expect("run ps");
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no process {pid}: {output:?}"))
}

/// Who the cluster must run as: `postgres` when we are root, else ourselves.
pub fn cluster_uid() -> u32 {
    if Uid::effective().is_root() {
        User::from_name("postgres")
            .unwrap()
            .expect("the postgres OS user")
            .uid
            .as_raw()
    } else {
        Uid::effective().as_raw()
    }
}

/// The postmaster runs as the right user, and the files are private and owned as they
/// should be.
pub fn assert_owned_and_private(cluster: &LocalCluster) {
    let postmaster = postmaster_pid(cluster.pgdata()).expect("a running cluster");
    assert_eq!(uid_of(postmaster), cluster_uid(), "who runs the postmaster");
    let me = Uid::effective().as_raw();
    let data_dir = fs::metadata(cluster.data_dir()).unwrap();
    assert_eq!(data_dir.uid(), me, "the data directory is ours");
    // Root lets `postgres` pass through (execute) to pgdata, and nothing more.
    let mode = if me == 0 { 0o711 } else { 0o700 };
    assert_eq!(data_dir.mode() & 0o777, mode, "the data directory's mode");
    let password = fs::metadata(cluster.data_dir().join("password")).unwrap();
    assert_eq!((password.uid(), password.mode() & 0o777), (me, 0o600));
    let pgdata = fs::metadata(cluster.pgdata()).unwrap();
    assert_eq!(
        pgdata.uid(),
        cluster_uid(),
        "pgdata belongs to the cluster's user"
    );
    assert_eq!(pgdata.mode() & 0o077, 0, "pgdata is private");
}
