//! The OS user the cluster runs as.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::unistd::{Gid, Uid, User};

use crate::error::errno;
use crate::LocalPgError;

/// Ourselves, or `postgres` when we are root (PostgreSQL refuses to run as root).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ClusterUser {
    Current,
    Other { uid: Uid, gid: Gid },
}

impl ClusterUser {
    pub(crate) fn detect() -> Result<ClusterUser, LocalPgError> {
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

    /// A command that runs `program` as this user, without the caller's libpq settings.
    pub(crate) fn command(&self, program: PathBuf) -> Command {
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

    /// Hands `path` over to this user (nothing to do when that is us).
    pub(crate) fn give(&self, path: &Path) -> Result<(), LocalPgError> {
        if let ClusterUser::Other { uid, gid } = *self {
            nix::unistd::chown(path, Some(uid), Some(gid))
                .map_err(errno(format!("chown {}", path.display())))?;
        }
        Ok(())
    }

    /// Can this user walk down to `path`? Checks the execute bit of every ancestor.
    pub(crate) fn can_traverse(&self, path: &Path) -> bool {
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn root_runs_the_cluster_as_postgres_and_others_as_themselves() {
        let user = ClusterUser::detect().unwrap();
        if Uid::effective().is_root() {
            let postgres = User::from_name("postgres").unwrap().unwrap();
            assert_eq!(
                user,
                ClusterUser::Other {
                    uid: postgres.uid,
                    gid: postgres.gid
                }
            );
        } else {
            assert_eq!(user, ClusterUser::Current);
        }
    }

    #[test]
    fn traversal_needs_the_execute_bit_of_every_ancestor() {
        // Under /tmp: TMPDIR may be private to us (macOS), and so not traversable at all.
        let root = tempfile::tempdir_in("/tmp").unwrap();
        let deep = root.path().join("a").join("b");
        fs::create_dir_all(&deep).unwrap();
        // Someone who owns nothing here, whoever runs the test.
        let stranger = ClusterUser::Other {
            uid: Uid::from_raw(u32::MAX - 2),
            gid: Gid::from_raw(u32::MAX - 2),
        };
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o711)).unwrap();
        fs::set_permissions(root.path().join("a"), fs::Permissions::from_mode(0o711)).unwrap();
        assert!(stranger.can_traverse(&deep));
        fs::set_permissions(root.path().join("a"), fs::Permissions::from_mode(0o700)).unwrap();
        assert!(!stranger.can_traverse(&deep));
        assert!(ClusterUser::Current.can_traverse(&deep));
    }
}
