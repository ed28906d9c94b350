//! One process: creating, using, sharing between handles, stopping, restarting.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use local_pg::LocalCluster;
use nix::unistd::Uid;

use crate::support::{
    assert_owned_and_private, connects, gone_within, postmaster_pid, psql, workspace,
};

const STOPS: Duration = Duration::from_secs(15);

pub fn a_new_cluster_serves_and_stops_with_its_handle() {
    let ws = workspace();
    let mut cluster = ws.start();
    assert_eq!(cluster.data_dir(), fs::canonicalize(&ws.data_dir).unwrap());
    assert_eq!(cluster.pgdata(), cluster.data_dir().join("pgdata"));
    assert_owned_and_private(&cluster);

    let url = cluster.url("postgres");
    assert!(url.ends_with(&format!(":{}/postgres?sslmode=disable", cluster.port())));
    // Ephemeral settings, loopback only, our label in postgresql.conf.
    let settings = psql(
        &url,
        "SELECT current_user, current_setting('fsync'), current_setting('listen_addresses'), \
         current_setting('max_connections')",
    );
    assert_eq!(settings, "postgres|off|127.0.0.1|400");
    let conf = fs::read_to_string(cluster.pgdata().join("postgresql.conf")).unwrap();
    assert!(conf.contains("# local-pg-it: a private cluster"), "{conf}");
    // Only the password gets in.
    let wrong = url.replacen("postgres:", "postgres:wrong", 1);
    assert!(!connects(&wrong), "a wrong password is refused");
    psql(
        &url,
        "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)",
    );

    let port = cluster.port();
    let postmaster = postmaster_pid(cluster.pgdata()).unwrap();
    cluster.leave().unwrap();
    assert!(
        gone_within(postmaster, port, STOPS),
        "the last user stops it"
    );
    assert!(postmaster_pid(cluster.pgdata()).is_none());
    cluster.leave().unwrap();
    drop(cluster);

    // Started again: the same port when it is free, the data kept.
    let again = ws.start();
    assert_eq!(again.port(), port);
    assert_eq!(psql(&again.url("postgres"), "SELECT n FROM kept"), "42");
    let postmaster = postmaster_pid(again.pgdata()).unwrap();
    drop(again);
    assert!(gone_within(postmaster, port, STOPS), "dropping leaves too");
}

pub fn two_handles_share_one_cluster_until_the_last_leaves() {
    let ws = workspace();
    let first = ws.start();
    let second = ws.start();
    assert_eq!(first.port(), second.port());
    assert_eq!(first.url("x"), second.url("x"), "one password");
    let postmaster = postmaster_pid(first.pgdata()).unwrap();

    drop(first);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        crate::support::alive(postmaster),
        "still used by the second"
    );
    assert_eq!(psql(&second.url("postgres"), "SELECT 1"), "1");
    // A third joins the running cluster without restarting it.
    let third = ws.start();
    assert_eq!(postmaster_pid(third.pgdata()), Some(postmaster));

    let port = second.port();
    drop(second);
    assert!(connects(&third.url("postgres")));
    drop(third);
    assert!(
        gone_within(postmaster, port, STOPS),
        "stops with its last user"
    );
}

pub fn a_stale_postmaster_pid_does_not_block_the_next_start() {
    let ws = workspace();
    let cluster = ws.start();
    psql(&cluster.url("postgres"), "CREATE TABLE kept (n int)");
    let port = cluster.port();
    drop(cluster);
    let pid_file = ws.pgdata().join("postmaster.pid");

    // A dead postmaster's pid (a crash), then a pid recycled by a live process of ours that
    // is no postmaster (this test itself), naming the old port.
    let dead = {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    };
    for pid in [dead, std::process::id()] {
        let data_dir = ws.data_dir.display();
        fs::write(
            &pid_file,
            format!("{pid}\n{data_dir}\n0\n{port}\n\n127.0.0.1\n"),
        )
        .unwrap();
        let again = ws.start();
        assert_eq!(
            psql(&again.url("postgres"), "SELECT count(*) FROM kept"),
            "0"
        );
        let postmaster = postmaster_pid(again.pgdata()).unwrap();
        assert_ne!(postmaster, pid as i32);
        let port = again.port();
        drop(again);
        assert!(gone_within(postmaster, port, STOPS));
    }
}

/// A data directory whose parent is private (mode 0700, as a home folder). Root's cluster
/// runs as `postgres`, who cannot reach it: it lives in the relocation root instead, linked
/// from the data directory. Anyone else runs the cluster as themselves, right there.
pub fn an_unreachable_data_directory_is_handled_for_root() {
    let ws = workspace();
    let private = ws.root.path().join("home");
    fs::create_dir(&private).unwrap();
    fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
    let data_dir = private.join("data");
    let options = ws.options();
    let cluster = LocalCluster::start_or_attach(&data_dir, &options).unwrap();
    let link = cluster.data_dir().join("pgdata");
    if Uid::effective().is_root() {
        let target = fs::read_link(&link).expect("pgdata is a symlink");
        assert!(
            target.starts_with(&options.relocation_root),
            "{}",
            target.display()
        );
        assert_eq!(cluster.pgdata(), target);
    } else {
        assert!(fs::symlink_metadata(&link).unwrap().is_dir());
        assert!(!options.relocation_root.exists());
    }
    assert_owned_and_private(&cluster);
    assert_eq!(psql(&cluster.url("postgres"), "SELECT 1"), "1");
    let (postmaster, port) = (postmaster_pid(cluster.pgdata()).unwrap(), cluster.port());
    drop(cluster);
    assert!(gone_within(postmaster, port, STOPS));

    // Joined again, it is found where it was put.
    let again = LocalCluster::start_or_attach(&data_dir, &options).unwrap();
    assert_eq!(psql(&again.url("postgres"), "SELECT 2"), "2");
}
