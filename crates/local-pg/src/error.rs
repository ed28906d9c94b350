/// Why a cluster could not be started, joined or left.
#[derive(Debug, thiserror::Error)]
pub enum LocalPgError {
    #[error(
        "the PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH, under \
         /usr/lib/postgresql/*/bin or in Homebrew's opt/postgresql*/bin. Install the PostgreSQL \
         server (Debian/Ubuntu: `apt install postgresql`, macOS: `brew install postgresql`)"
    )]
    BinariesNotFound,
    #[error(
        "running as root, the local PostgreSQL must run as the unprivileged `postgres` OS user, \
         which does not exist here. Create it (`useradd --system postgres`) or run as an \
         ordinary user"
    )]
    NoUnprivilegedUser,
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
}

/// Wraps an I/O error with what we were doing.
pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LocalPgError {
    let context = context.into();
    move |source| LocalPgError::Io { context, source }
}

/// Wraps a failed system call with what we were doing.
pub(crate) fn errno(context: impl Into<String>) -> impl FnOnce(nix::errno::Errno) -> LocalPgError {
    let context = context.into();
    move |errno| LocalPgError::Io {
        context,
        source: errno.into(),
    }
}
