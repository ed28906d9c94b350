//! A zero-config local PostgreSQL: a private cluster in a data directory, made from the
//! machine's installed server binaries, shared by every process that points at the same
//! data directory and stopped when the last of them leaves.
//!
//! Written by hand because no maintained crate does what is needed here: use the system's
//! binaries (no download), run as the `postgres` OS user when we are root, and share one
//! cluster between processes. The layout of the data directory:
//!
//! ```text
//! DATA_DIR/
//!   pgdata/        the cluster (or a symlink to it, see `ClusterOptions::relocation_root`)
//!   cluster.lock   exclusive while a process starts or stops the cluster
//!   clients.lock   every process using the cluster holds a shared lock on it
//!   port           the loopback port the cluster listens on
//!   password       the `postgres` role's password (mode 0600)
//! ```
//!
//! Locks are `flock`s, so a process that dies releases them: a crashed process never blocks
//! the next start and never counts as a user again (no list of pids to go stale). What a
//! dead process cannot do is stop a cluster it was the last user of: its guard (see
//! [`guard`]) does that.
//!
//! The crate knows nothing of the application using it: names, environment variables and
//! the command line of the guard are the caller's, given in [`ClusterOptions`].
//!
//! ```no_run
//! use local_pg::{ClusterOptions, LocalCluster};
//!
//! # fn main() -> Result<(), local_pg::LocalPgError> {
//! let cluster = LocalCluster::start_or_attach("./data".as_ref(), &ClusterOptions::default())?;
//! println!("{}", cluster.url("postgres"));
//! // Dropping `cluster` leaves it, and stops it when no other process uses it.
//! # Ok(())
//! # }
//! ```
//!
//! Unix only (Linux and macOS): it relies on `flock`, process ownership and signals.

#![forbid(unsafe_code)]

mod binaries;
mod cluster;
mod error;
mod files;
pub mod guard;
mod postmaster;
mod reaper;
mod user;

pub use binaries::PgBinaries;
pub use cluster::{ClusterOptions, LocalCluster};
pub use error::LocalPgError;
pub use guard::GuardCommand;
