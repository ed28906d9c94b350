//! A real PgBouncer (Debian's `pgbouncer`) in transaction pooling mode in front of the
//! test cluster, started by the test that needs it and stopped with it. PgBouncer refuses
//! to run as root: as root it runs as the `postgres` user (the cluster's own).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::browser::{debian_program, is_root};

pub struct PgBouncer {
    child: Child,
    port: u16,
    /// The server's user and password, for client URLs.
    credentials: String,
    dir: PathBuf,
}

impl PgBouncer {
    /// Pools every database of the server `db_url` points at, per transaction.
    pub fn start(db_url: &str) -> PgBouncer {
        let program = debian_program("/usr/sbin/pgbouncer", "pgbouncer");
        let (credentials, server_port) = parse(db_url);
        let (user, password) = credentials.split_once(':').expect("user:password");
        let port = free_port();
        let dir = tempfile::Builder::new()
            .prefix("ticketgate-pgbouncer-")
            .tempdir_in("/tmp")
            .expect("temp dir")
            .keep();
        let config = format!(
            "[databases]\n\
             * = host=127.0.0.1 port={server_port} user={user} password={password}\n\
             [pgbouncer]\n\
             listen_addr = 127.0.0.1\n\
             listen_port = {port}\n\
             unix_socket_dir =\n\
             auth_type = trust\n\
             auth_file = {dir}/users.txt\n\
             admin_users = {user}\n\
             pool_mode = transaction\n\
             max_client_conn = 1000\n\
             default_pool_size = 20\n\
             ignore_startup_parameters = extra_float_digits,options\n\
             logfile = {dir}/pgbouncer.log\n\
             pidfile = {dir}/pgbouncer.pid\n",
            dir = dir.display()
        );
        std::fs::write(dir.join("pgbouncer.ini"), config).expect("pgbouncer.ini");
        std::fs::write(dir.join("users.txt"), format!("\"{user}\" \"\"\n")).expect("users");
        let mut command = Command::new(&program);
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown the PgBouncer directory");
            command.args(["-u", "postgres"]);
        }
        let child = command
            .arg(dir.join("pgbouncer.ini"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pgbouncer");
        let bouncer = PgBouncer {
            child,
            port,
            credentials,
            dir,
        };
        bouncer.wait_until_listening();
        bouncer
    }

    /// A URL of `database` through PgBouncer.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{}@127.0.0.1:{}/{database}?sslmode=disable",
            self.credentials, self.port
        )
    }

    /// PgBouncer's `SHOW <what>` from its admin console (psql's unaligned output).
    pub fn show(&self, what: &str) -> String {
        let user = self.credentials.split(':').next().unwrap_or("postgres");
        let output = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", user])
            .args(["-d", "pgbouncer", "-A", "-c", &format!("SHOW {what}")])
            .output()
            .expect("psql (the PostgreSQL client) is needed for PgBouncer's console");
        assert!(
            output.status.success(),
            "SHOW {what}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Transactions PgBouncer has passed to `database` (from `SHOW STATS`).
    pub fn transactions(&self, database: &str) -> u64 {
        let stats = self.show("STATS");
        let mut lines = stats.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().split('|').collect();
        let column = header
            .iter()
            .position(|name| *name == "total_xact_count")
            .expect("total_xact_count in SHOW STATS");
        lines
            .map(|line| line.split('|').collect::<Vec<_>>())
            .find(|fields| fields.first() == Some(&database))
            .and_then(|fields| fields.get(column)?.parse().ok())
            .unwrap_or(0)
    }

    fn wait_until_listening(&self) {
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let log = std::fs::read_to_string(self.dir.join("pgbouncer.log")).unwrap_or_default();
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "PgBouncer did not listen on {} within 10 s:\n{log}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `user:password` and the port of a `postgres://user:password@127.0.0.1:port/db` URL.
fn parse(url: &str) -> (String, u16) {
    let rest = url.strip_prefix("postgres://").expect("a postgres:// URL");
    let (credentials, rest) = rest.split_once('@').expect("credentials in the URL");
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let port = host
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse().ok())
        .unwrap_or(5432);
    (credentials.to_string(), port)
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}
