//! A primary and a hot standby of its own (streaming replication, made with
//! `pg_basebackup -R`), for the read-replica tests: both are ticketgate's local clusters
//! (the `local-pg` crate), in temporary folders, removed when the test process ends.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use ticketgate::db::local_pg::{self, LocalCluster};

pub struct Replication {
    pub primary: LocalCluster,
    standby: Option<LocalCluster>,
    standby_dir: PathBuf,
}

impl Replication {
    /// A fresh primary with database `database` (migrated by the first replica that
    /// starts on it) and a streaming standby of it.
    pub fn start(database: &str) -> Replication {
        let primary_dir = temp_dir("ticketgate-primary-");
        // Not ephemeral: pg_basebackup needs full_page_writes.
        let options = local_pg::cluster_options(false);
        let primary = LocalCluster::start_or_attach(&primary_dir, &options).expect("primary");
        primary
            .remove_when_process_exits(std::process::id())
            .expect("cleanup watcher");
        let mut admin = PgConnection::establish(&primary.url("postgres")).expect("primary");
        diesel::sql_query(format!("CREATE DATABASE {database}"))
            .execute(&mut admin)
            .expect("create the database");
        let standby_dir = temp_dir("ticketgate-standby-");
        base_backup(&primary, &primary_dir, &standby_dir);
        let mut replication = Replication {
            primary,
            standby: None,
            standby_dir,
        };
        replication.start_standby();
        replication
    }

    pub fn standby(&self) -> &LocalCluster {
        self.standby.as_ref().expect("the standby runs")
    }

    /// Stops the standby (its postmaster exits).
    pub fn stop_standby(&mut self) {
        drop(self.standby.take());
    }

    /// Starts the standby again, on the port it had.
    pub fn start_standby(&mut self) {
        let standby =
            LocalCluster::start_or_attach(&self.standby_dir, &local_pg::cluster_options(false))
                .expect("start the standby");
        standby
            .remove_when_process_exits(std::process::id())
            .expect("cleanup watcher");
        self.standby = Some(standby);
    }

    /// Waits until the standby has replayed everything the primary has written so far.
    pub fn caught_up(&self, database: &str) {
        let mut primary = PgConnection::establish(&self.primary.url(database)).expect("primary");
        let mut standby = PgConnection::establish(&self.standby().url(database)).expect("standby");
        let target: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
            "pg_current_wal_lsn()::text",
        ))
        .get_result(&mut primary)
        .expect("primary position");
        let started = Instant::now();
        loop {
            let replayed: bool = diesel::select(diesel::dsl::sql::<diesel::sql_types::Bool>(
                &format!("pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"),
            ))
            .get_result(&mut standby)
            .expect("standby position");
            if replayed {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the standby did not catch up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// `pg_basebackup -R` of `primary` into `standby_dir`'s pgdata, with the same password.
fn base_backup(primary: &LocalCluster, primary_dir: &Path, standby_dir: &Path) {
    std::fs::copy(primary_dir.join("password"), standby_dir.join("password")).expect("password");
    let password = std::fs::read_to_string(primary_dir.join("password")).expect("password");
    let pgdata = standby_dir.join("pgdata");
    let bin = server_bin_dir();
    let conninfo = format!(
        "host=127.0.0.1 port={} user=postgres password={}",
        primary.port(),
        password.trim()
    );
    let status = Command::new(bin.join("pg_basebackup"))
        .arg("-d")
        .arg(&conninfo)
        .arg("-D")
        .arg(&pgdata)
        .args(["-R", "-X", "stream", "-c", "fast"])
        .status()
        .expect("run pg_basebackup");
    assert!(status.success(), "pg_basebackup failed");
    if super::browser::is_root() {
        // The cluster runs as `postgres` when we are root.
        for dir in [&pgdata, &standby_dir.to_path_buf()] {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown the standby's files");
        }
    }
}

/// The folder of the PostgreSQL server binaries (pg_basebackup beside postgres).
fn server_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(local_pg::PG_BIN_ENV) {
        return PathBuf::from(dir);
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries under /usr/lib/postgresql")
        .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
        .filter(|bin| bin.join("pg_basebackup").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("pg_basebackup under /usr/lib/postgresql/*/bin")
}

fn temp_dir(prefix: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in("/tmp")
        .expect("temp dir")
        .keep()
}
