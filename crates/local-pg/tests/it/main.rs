//! local-pg against real clusters: each test makes its own in a temporary folder, with the
//! machine's PostgreSQL server binaries, connects to it with `psql`, and checks who runs
//! it and that it stops with its last user.
//!
//! As root the cluster runs as `postgres`; as anyone else, as themselves: the tests check
//! whichever applies, and pass either way.
//!
//! Its own `main` (no built-in harness): this executable is re-invoked as a guard
//! (`GUARD_ARG`) and as a second process sharing a cluster (`HOLDER_ARG`), before the
//! harness would parse the command line.

// Test code: a failed unwrap is a failed test, with its line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::ExitCode;

use libtest_mimic::{Arguments, Trial};

mod lifecycle;
mod processes;
mod support;

/// Makes this executable a cluster guard (see `local_pg::guard`).
const GUARD_ARG: &str = "__local-pg-it-guard";
/// Makes this executable a process holding a cluster (see `processes::hold`).
const HOLDER_ARG: &str = "__local-pg-it-holder";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    match args.next() {
        Some(arg) if arg == GUARD_ARG => return local_pg::guard::run(args),
        Some(arg) if arg == HOLDER_ARG => return processes::hold(args),
        _ => {}
    }
    let tests: Vec<(&str, fn())> = vec![
        (
            "lifecycle::a_new_cluster_serves_and_stops_with_its_handle",
            lifecycle::a_new_cluster_serves_and_stops_with_its_handle,
        ),
        (
            "lifecycle::two_handles_share_one_cluster_until_the_last_leaves",
            lifecycle::two_handles_share_one_cluster_until_the_last_leaves,
        ),
        (
            "lifecycle::a_stale_postmaster_pid_does_not_block_the_next_start",
            lifecycle::a_stale_postmaster_pid_does_not_block_the_next_start,
        ),
        (
            "lifecycle::an_unreachable_data_directory_is_handled_for_root",
            lifecycle::an_unreachable_data_directory_is_handled_for_root,
        ),
        (
            "processes::two_processes_share_the_cluster_until_the_last_leaves",
            processes::two_processes_share_the_cluster_until_the_last_leaves,
        ),
        (
            "processes::a_killed_process_does_not_leave_its_cluster_running",
            processes::a_killed_process_does_not_leave_its_cluster_running,
        ),
        (
            "processes::a_killed_process_leaves_the_cluster_to_the_other_one",
            processes::a_killed_process_leaves_the_cluster_to_the_other_one,
        ),
        (
            "processes::a_throwaway_cluster_is_removed_with_its_process",
            processes::a_throwaway_cluster_is_removed_with_its_process,
        ),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            Trial::test(name, move || {
                test();
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}
