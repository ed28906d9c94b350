//! Finding the installed PostgreSQL server binaries.

use std::fs;
use std::path::{Path, PathBuf};

use crate::LocalPgError;

/// Where the server binaries live: `initdb`, `pg_ctl` and `postgres` side by side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgBinaries {
    pub dir: PathBuf,
}

/// Parents of one folder per installed major version, with the prefix of those folders'
/// names before the version: Debian/Ubuntu (`/usr/lib/postgresql/15/bin`) and Homebrew,
/// whose versioned formulae are keg-only, so not on PATH
/// (`/opt/homebrew/opt/postgresql@15/bin`, `/usr/local/opt/…` on Intel Macs).
const VERSIONED_PARENTS: [(&str, &str); 3] = [
    ("/usr/lib/postgresql", ""),
    ("/opt/homebrew/opt", "postgresql"),
    ("/usr/local/opt", "postgresql"),
];

impl PgBinaries {
    /// `explicit` (a folder the caller was told, say by an environment variable), then
    /// `PATH`, then the installed versions, newest first (see `VERSIONED_PARENTS`).
    pub fn find(explicit: Option<PathBuf>) -> Result<PgBinaries, LocalPgError> {
        let on_path = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
            .unwrap_or_default();
        let versioned = VERSIONED_PARENTS
            .iter()
            .flat_map(|(parent, prefix)| newest_first(Path::new(parent), prefix));
        Self::find_in(explicit.into_iter().chain(on_path).chain(versioned))
    }

    /// The first of `dirs` that holds all three binaries.
    pub fn find_in(dirs: impl IntoIterator<Item = PathBuf>) -> Result<PgBinaries, LocalPgError> {
        dirs.into_iter()
            .find_map(|dir| Self::complete_in(&dir))
            .ok_or(LocalPgError::BinariesNotFound)
    }

    /// The directory holding all three binaries, following `pg_ctl` through symlinks
    /// (Debian links them into /usr/bin or /usr/local/bin).
    fn complete_in(dir: &Path) -> Option<PgBinaries> {
        let pg_ctl = fs::canonicalize(dir.join("pg_ctl")).ok()?;
        let real_dir = pg_ctl.parent()?.to_path_buf();
        [real_dir, dir.to_path_buf()]
            .into_iter()
            .find(|d| {
                ["initdb", "pg_ctl", "postgres"]
                    .iter()
                    .all(|b| d.join(b).is_file())
            })
            .map(|dir| PgBinaries { dir })
    }

    /// The path of one of the binaries (`pg_ctl`, …) in this folder.
    pub fn path(&self, binary: &str) -> PathBuf {
        self.dir.join(binary)
    }
}

/// `parent/<prefix><version>/bin` for each version folder, the newest version first
/// (`16` before `15` before `9.6`; `@` after the prefix is skipped, as in `postgresql@16`).
/// Folders without a version (Homebrew's unversioned `postgresql`) come last.
fn newest_first(parent: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let rest = name.to_str()?.strip_prefix(prefix)?;
            let version = rest.strip_prefix('@').unwrap_or(rest);
            if !rest.is_empty() && version.len() == rest.len() && !prefix.is_empty() {
                // `postgresql-common` and the like: not a server.
                return None;
            }
            let parsed: Option<Vec<u32>> = version.split('.').map(|p| p.parse().ok()).collect();
            Some((parsed.unwrap_or_default(), entry.path().join("bin")))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, dir)| dir).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_install(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        for binary in ["initdb", "pg_ctl", "postgres"] {
            fs::write(dir.join(binary), "").unwrap();
        }
    }

    #[test]
    fn missing_binaries_say_what_to_do() {
        let empty = tempfile::tempdir().unwrap();
        let err = PgBinaries::find_in([empty.path().to_path_buf()]).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("apt install postgresql"), "{message}");
        assert!(message.contains("brew install postgresql"), "{message}");
    }

    #[test]
    fn finds_the_installed_binaries() {
        // The machines this project runs on have PostgreSQL's server installed.
        let bins = PgBinaries::find(None).expect("PostgreSQL server binaries");
        assert!(bins.path("postgres").is_file());
        assert!(bins.path("initdb").is_file());
    }

    #[test]
    fn an_explicit_folder_comes_first() {
        let root = tempfile::tempdir().unwrap();
        fake_install(root.path());
        let bins = PgBinaries::find(Some(root.path().to_path_buf())).unwrap();
        assert_eq!(bins.dir, root.path());
    }

    #[test]
    fn an_incomplete_folder_is_skipped() {
        let root = tempfile::tempdir().unwrap();
        let partial = root.path().join("partial");
        fs::create_dir_all(&partial).unwrap();
        fs::write(partial.join("pg_ctl"), "").unwrap();
        let complete = root.path().join("complete");
        fake_install(&complete);
        let bins = PgBinaries::find_in([partial, complete.clone()]).unwrap();
        assert_eq!(bins.dir, complete);
    }

    #[test]
    fn debian_versions_newest_first() {
        let root = tempfile::tempdir().unwrap();
        for version in ["9.6", "15", "16", "10"] {
            fs::create_dir_all(root.path().join(version).join("bin")).unwrap();
        }
        let order: Vec<PathBuf> = newest_first(root.path(), "");
        let names: Vec<&str> = order
            .iter()
            .filter_map(|p| p.parent()?.file_name()?.to_str())
            .collect();
        assert_eq!(names, ["16", "15", "10", "9.6"]);
    }

    #[test]
    fn homebrew_kegs_newest_first() {
        let root = tempfile::tempdir().unwrap();
        for keg in [
            "postgresql@14",
            "postgresql",
            "postgresql@17",
            "postgresql-common",
            "redis",
        ] {
            fs::create_dir_all(root.path().join(keg)).unwrap();
        }
        let names: Vec<String> = newest_first(root.path(), "postgresql")
            .iter()
            .filter_map(|p| Some(p.parent()?.file_name()?.to_str()?.to_string()))
            .collect();
        assert_eq!(names, ["postgresql@17", "postgresql@14", "postgresql"]);
    }

    #[test]
    fn a_missing_parent_gives_nothing() {
        assert!(newest_first(Path::new("/nonexistent/postgresql"), "").is_empty());
    }
}
