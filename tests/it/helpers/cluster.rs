use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use diesel::prelude::*;
use ticketgate::db::local_pg::{self, LocalCluster};

/// Where test databases are made: a server URL without the database name, and the name of
/// the migrated template every test database is cloned from.
struct TestServerInfo {
    /// `postgres://user:pw@host:port/` — a database name goes after it.
    base: String,
    /// Connection parameters after the database name (`?sslmode=disable`), or nothing.
    params: String,
    template: String,
    /// Clones from one template must not overlap (CREATE DATABASE … TEMPLATE refuses
    /// while the template has other sessions).
    clone_lock: Mutex<()>,
}

static SERVER: OnceLock<TestServerInfo> = OnceLock::new();
static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn server() -> &'static TestServerInfo {
    SERVER.get_or_init(|| {
        // Tests run in parallel, each with servers, clients and connections: an ordinary
        // user's default soft limit of 1,024 files is not enough (the server raises its own
        // the same way).
        ticketgate::app::raise_open_file_limit();
        let url = match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => start_throwaway_cluster(),
        };
        let (before_params, params) = match url.find('?') {
            Some(i) => (&url[..i], url[i..].to_string()),
            None => (url.as_str(), String::new()),
        };
        let cut = before_params
            .rfind('/')
            .map(|i| i + 1)
            .unwrap_or(before_params.len());
        let base = before_params[..cut].to_string();
        let template = format!("tg_template_{}", std::process::id());
        let mut admin = PgConnection::establish(&format!("{base}postgres{params}"))
            .expect("connect to postgres");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {template}"))
            .execute(&mut admin)
            .expect("drop old template");
        diesel::sql_query(format!("CREATE DATABASE {template}"))
            .execute(&mut admin)
            .expect("create template");
        {
            let mut conn = PgConnection::establish(&format!("{base}{template}{params}"))
                .expect("connect to template");
            ticketgate::db::migrations::run_pending(&mut conn).expect("migrate template");
        }
        TestServerInfo {
            base,
            params,
            template,
            clone_lock: Mutex::new(()),
        }
    })
}

/// A private cluster in a temporary folder, removed by a watcher when this process ends.
fn start_throwaway_cluster() -> String {
    let dir = tempfile::Builder::new()
        .prefix("ticketgate-test-")
        .tempdir_in("/tmp")
        .expect("temp dir")
        .keep();
    let cluster = LocalCluster::start_or_attach(&dir, &local_pg::cluster_options(true))
        .expect("start the test PostgreSQL");
    cluster
        .remove_when_process_exits(std::process::id())
        .expect("cleanup watcher");
    let url = cluster.url("");
    // The cluster must outlive every test: it is stopped by the watcher, not by Drop.
    std::mem::forget(cluster);
    url
}

/// A database of its own for one test, dropped at the end of the test.
pub struct TestDb {
    pub url: String,
    name: String,
}

pub fn test_db() -> TestDb {
    let server = server();
    let name = format!(
        "tg_test_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    );
    let _serial = server.clone_lock.lock().unwrap_or_else(|e| e.into_inner());
    let mut admin = PgConnection::establish(&server_url("postgres")).expect("connect");
    diesel::sql_query(format!(
        "CREATE DATABASE {name} TEMPLATE {}",
        server.template
    ))
    .execute(&mut admin)
    .expect("clone the template database");
    TestDb {
        url: server_url(&name),
        name,
    }
}

/// The server's URL for another database name (e.g. `postgres`).
pub fn server_url(database: &str) -> String {
    let server = server();
    format!("{}{database}{}", server.base, server.params)
}

impl TestDb {
    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to the test database")
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Removes the database now, with its open connections (for outage tests).
    pub fn drop_now(&self) {
        if let Ok(mut admin) = PgConnection::establish(&server_url("postgres")) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut admin);
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.drop_now();
    }
}
