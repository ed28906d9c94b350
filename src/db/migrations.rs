//! Migrations are embedded in the binary and run at start-up and by `ticketgate migrate`.

use diesel::pg::PgConnection;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::error::{AppError, AppResult};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Applies every pending migration, then builds any index an interrupted `seed` left
/// dropped (see `bulk_load`); returns the versions applied.
pub fn run_pending(conn: &mut PgConnection) -> AppResult<Vec<String>> {
    // Several replicas may start at once: serialise them on an advisory lock so only one
    // applies the migrations and the others find nothing left to do.
    use diesel::RunQueryDsl;
    diesel::sql_query("SELECT pg_advisory_lock(7316812019)").execute(conn)?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(|v| v.to_string()).collect())
        .map_err(AppError::Internal);
    diesel::sql_query("SELECT pg_advisory_unlock(7316812019)").execute(conn)?;
    let applied = applied?;
    super::bulk_load::restore_dropped(conn)?;
    Ok(applied)
}

/// Reverts every applied migration (used by the reversibility test).
pub fn revert_all(conn: &mut PgConnection) -> AppResult<()> {
    conn.revert_all_migrations(MIGRATIONS)
        .map(|_| ())
        .map_err(AppError::Internal)
}
