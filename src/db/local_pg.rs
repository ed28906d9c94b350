//! ticketgate's zero-config local PostgreSQL: the `local-pg` crate, given ticketgate's
//! names. The cluster is shared by every `ticketgate` process that points at the same data
//! directory and stopped when the last of them exits (see the crate for how).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

pub use ::local_pg::{ClusterOptions, GuardCommand, LocalCluster, LocalPgError, PgBinaries};

/// The first argument that turns `ticketgate` into a cluster guard. Not a clap subcommand:
/// no user types it, and it must be recognised before any command-line parsing.
pub const GUARD_ARG: &str = "__ticketgate-cluster-guard";

/// The folder of the PostgreSQL server binaries, when they are not found by themselves.
pub const PG_BIN_ENV: &str = "TICKETGATE_PG_BIN";

/// Where the cluster lives when we are root and `postgres` cannot reach the data directory.
const RELOCATION_ROOT: &str = "/var/lib/ticketgate";

static GUARDED: AtomicBool = AtomicBool::new(false);

/// Declares that this executable dispatches `GUARD_ARG` to [`run_guard`] first thing in
/// `main`, so clusters joined from now on get a guard. A test harness using the library
/// cannot, and gets none.
pub fn enable_guard() {
    GUARDED.store(true, Ordering::SeqCst);
}

/// Runs the guard: `args` are those after `GUARD_ARG`.
pub fn run_guard(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    ::local_pg::guard::run(args)
}

/// The options of ticketgate's clusters: binaries from `TICKETGATE_PG_BIN` first, a guard
/// when `enable_guard` was called.
pub fn cluster_options(ephemeral: bool) -> ClusterOptions {
    ClusterOptions {
        ephemeral,
        pg_bin: std::env::var_os(PG_BIN_ENV).map(PathBuf::from),
        label: "ticketgate".into(),
        relocation_root: PathBuf::from(RELOCATION_ROOT),
        guard: GUARDED
            .load(Ordering::SeqCst)
            .then(|| GuardCommand::current_exe([GUARD_ARG])),
    }
}

/// The error as ticketgate says it: the local cluster is what it uses without a
/// DATABASE_URL, so that is the other way out.
pub fn explain(err: &LocalPgError) -> String {
    match err {
        LocalPgError::BinariesNotFound => format!(
            "no DATABASE_URL is set and {err}, or set DATABASE_URL to use an existing server."
        ),
        LocalPgError::NoUnprivilegedUser => "running as root, the local PostgreSQL must run as \
            the unprivileged `postgres` OS user, which does not exist here. Create it \
            (`useradd --system postgres`), run ticketgate as an ordinary user, or set \
            DATABASE_URL."
            .into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_say_what_to_do() {
        let message = explain(&LocalPgError::BinariesNotFound);
        assert!(message.contains("apt install postgresql"), "{message}");
        assert!(message.starts_with("no DATABASE_URL is set"), "{message}");
        assert!(message.contains("set DATABASE_URL"), "{message}");
        let message = explain(&LocalPgError::NoUnprivilegedUser);
        assert!(message.contains("useradd --system postgres"), "{message}");
        assert!(message.contains("set DATABASE_URL"), "{message}");
    }

    #[test]
    fn options_carry_ticketgates_names() {
        let options = cluster_options(true);
        assert!(options.ephemeral);
        assert_eq!(options.label, "ticketgate");
        assert_eq!(
            options.relocation_root,
            PathBuf::from("/var/lib/ticketgate")
        );
        // Unit tests never call `enable_guard`: the harness could not host a guard.
        assert!(options.guard.is_none());
    }
}
