//! Programs from Debian packages that some tests need (Chromium for the browser tests,
//! PgBouncer for the pooler tests): found where the package puts them, installed by the
//! test itself when it runs as root, and a clear failure naming the package otherwise.
//! A missing tool never skips a test: `cargo test` is the whole test suite.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// Debian's Chromium, the browser the Playwright scripts in `tests/node` drive.
pub fn chromium() -> &'static Path {
    static CHROMIUM: OnceLock<PathBuf> = OnceLock::new();
    CHROMIUM.get_or_init(|| debian_program("/usr/bin/chromium", "chromium"))
}

/// `program` (an absolute path) from Debian package `package`, installed with apt-get when
/// it is missing and we are root. Panics, naming the admin command, when it is missing and
/// we are not.
pub fn debian_program(program: &str, package: &str) -> PathBuf {
    let path = PathBuf::from(program);
    if path.exists() {
        return path;
    }
    assert!(
        is_root(),
        "{program} is missing: the tests need Debian's `{package}` package. \
         Ask an admin to run `sudo apt-get install -y {package}`, then run `cargo test` again."
    );
    // One apt at a time (dpkg's lock would make a second one fail), and the package lists
    // fetched once per run: each program's own OnceLock only covers its own package.
    static APT: Mutex<bool> = Mutex::new(false);
    let mut updated = APT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if !path.exists() {
        if !*updated {
            apt_get(&["update"], package);
            *updated = true;
        }
        apt_get(&["install", "-y", package], package);
    }
    assert!(
        path.exists(),
        "`apt-get install {package}` succeeded but {program} is still missing"
    );
    path
}

fn apt_get(args: &[&str], package: &str) {
    eprintln!("installing Debian package `{package}` for the tests: apt-get {args:?}");
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .unwrap_or_else(|err| panic!("cannot run apt-get to install `{package}`: {err}"));
    assert!(
        status.success(),
        "`apt-get {}` failed ({status}) while installing `{package}` for the tests",
        args.join(" ")
    );
}

/// Whether this process runs as root (`id -u` prints 0): only root may run apt-get.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}
