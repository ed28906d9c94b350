//! The files of a data directory: its mode, where `pgdata` lives, the password, the locks.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use rand::distr::{Alphanumeric, SampleString};
use sha2::{Digest, Sha256};

use crate::error::{errno, io};
use crate::user::ClusterUser;
use crate::LocalPgError;

pub(crate) fn create_private_dir(dir: &Path, user: &ClusterUser) -> Result<(), LocalPgError> {
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

/// `DATA_DIR/pgdata`, unless we are root and the cluster's user cannot reach it (a data
/// directory under a private home folder): then the cluster lives under
/// `relocation_root/<hash of DATA_DIR>` and `DATA_DIR/pgdata` is a symlink to it.
pub(crate) fn pgdata_location(
    data_dir: &Path,
    user: &ClusterUser,
    relocation_root: &Path,
) -> Result<PathBuf, LocalPgError> {
    let link = data_dir.join("pgdata");
    if let Ok(target) = fs::read_link(&link) {
        return Ok(target);
    }
    if link.exists() || user.can_traverse(data_dir) {
        return Ok(link);
    }
    let home = relocation_root.join(relocation_name(data_dir));
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

/// 16 hex digits of the data directory's path: one home per data directory.
fn relocation_name(data_dir: &Path) -> String {
    Sha256::digest(data_dir.as_os_str().as_encoded_bytes())[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

pub(crate) fn read_or_create_password(data_dir: &Path) -> Result<String, LocalPgError> {
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

pub(crate) fn write_secret(path: &Path, secret: &str) -> Result<(), LocalPgError> {
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

/// Opens (creating) `path` and takes a `flock` on it, waiting for it unless `how` says not.
pub(crate) fn lock(path: &Path, how: FlockArg) -> Result<Flock<File>, LocalPgError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)
        .map_err(io(format!("opening {}", path.display())))?;
    Flock::lock(file, how).map_err(|(_, e)| errno(format!("locking {}", path.display()))(e))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn the_password_is_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = read_or_create_password(dir.path()).unwrap();
        assert_eq!(first.len(), 32);
        assert!(first.chars().all(|c| c.is_ascii_alphanumeric()));
        let mode = fs::metadata(dir.path().join("password")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read_or_create_password(dir.path()).unwrap(), first);
    }

    #[test]
    fn a_data_directory_of_our_own_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        create_private_dir(&data, &ClusterUser::Current).unwrap();
        assert_eq!(fs::metadata(&data).unwrap().mode() & 0o777, 0o700);
    }

    #[test]
    fn pgdata_stays_in_a_reachable_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let relocation = dir.path().join("elsewhere");
        let pgdata = pgdata_location(dir.path(), &ClusterUser::Current, &relocation).unwrap();
        assert_eq!(pgdata, dir.path().join("pgdata"));
        assert!(!relocation.exists());
    }

    #[test]
    fn relocation_names_differ_per_data_directory() {
        let a = relocation_name(Path::new("/srv/a"));
        assert_eq!(a.len(), 16);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a, relocation_name(Path::new("/srv/a")));
        assert_ne!(a, relocation_name(Path::new("/srv/b")));
    }

    #[test]
    fn shared_locks_coexist_and_exclude_an_exclusive_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clients.lock");
        let first = lock(&path, FlockArg::LockShared).unwrap();
        let second = lock(&path, FlockArg::LockShared).unwrap();
        assert!(lock(&path, FlockArg::LockExclusiveNonblock).is_err());
        drop(first);
        // The last holder can turn its shared lock into an exclusive one.
        assert!(second.relock(FlockArg::LockExclusiveNonblock).is_ok());
    }
}
