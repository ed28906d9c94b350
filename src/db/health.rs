//! Whether the database is reachable, decided once for the whole process.
//!
//! After PostgreSQL restarts, every pooled connection is dead, and r2d2 alone recovers
//! slowly under load: it hands out dead connections (checking each on checkout would cost
//! a round trip per request), and the connections it opens while the server is down retry
//! with a growing back-off, holding the pool's slots, so the first request to succeed came
//! 6–11 s after the database was back when eight clients were writing (issue 20).
//!
//! Instead: the first request that loses its connection marks the database down. While it
//! is down, requests fail at once with `DB_UNAVAILABLE` (no one waits out the checkout
//! timeout) and one prober opens a fresh connection every [`PROBE_EVERY`]. As soon as one
//! answers, the pool is replaced by a new, empty one — no dead connection, no back-off
//! left over — and requests flow again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::result::{DatabaseErrorKind, Error as DieselError};

use crate::error::AppError;

/// How often a down database is tried again.
pub const PROBE_EVERY: Duration = Duration::from_millis(100);

/// The database's state as this process last saw it.
#[derive(Default)]
pub struct Health {
    down: AtomicBool,
    /// Set while a prober runs (one at a time).
    probing: AtomicBool,
    since: Mutex<Option<Instant>>,
}

impl Health {
    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::Acquire)
    }

    /// Marks the database down; true for the caller that should start the prober.
    pub fn mark_down(&self) -> bool {
        if !self.down.swap(true, Ordering::AcqRel) {
            if let Ok(mut since) = self.since.lock() {
                *since = Some(Instant::now());
            }
            tracing::warn!("lost the database: failing requests fast until it answers again");
        }
        !self.probing.swap(true, Ordering::AcqRel)
    }

    pub fn mark_up(&self) {
        let since = self.since.lock().ok().and_then(|mut since| since.take());
        self.down.store(false, Ordering::Release);
        self.probing.store(false, Ordering::Release);
        if let Some(since) = since {
            tracing::info!(
                down_for_ms = since.elapsed().as_millis() as u64,
                "the database answers again"
            );
        }
    }
}

/// True when `err` says the connection to the database is gone (rather than a statement
/// that failed or took too long on a live one).
pub fn is_connection_loss(err: &AppError) -> bool {
    let AppError::DbUnavailable(source) = err else {
        return false;
    };
    if source.downcast_ref::<r2d2::Error>().is_some()
        || source.downcast_ref::<diesel::ConnectionError>().is_some()
    {
        return true;
    }
    matches!(
        source.downcast_ref::<DieselError>(),
        Some(DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        ))
    )
}

/// `url` with a short connect timeout, so a probe of an unreachable host returns quickly.
pub fn with_connect_timeout(url: &str) -> String {
    if url.contains("connect_timeout") {
        return url.to_string();
    }
    match (url.contains("://"), url.contains('?')) {
        (true, true) => format!("{url}&connect_timeout=2"),
        (true, false) => format!("{url}?connect_timeout=2"),
        // A key=value connection string.
        (false, _) => format!("{url} connect_timeout=2"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_prober_at_a_time_and_up_again() {
        let health = Health::default();
        assert!(health.is_up());
        assert!(health.mark_down(), "the first to see the loss probes");
        assert!(!health.mark_down(), "later ones do not");
        assert!(!health.is_up());
        health.mark_up();
        assert!(health.is_up());
        assert!(health.mark_down(), "a new outage gets a new prober");
    }

    #[test]
    fn only_lost_connections_count() {
        let closed = DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection,
            Box::new("server closed the connection unexpectedly".to_string()),
        );
        assert!(is_connection_loss(&AppError::DbUnavailable(Box::new(
            closed
        ))));
        let timeout = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new("canceling statement due to statement timeout".to_string()),
        );
        assert!(!is_connection_loss(&AppError::DbUnavailable(Box::new(
            timeout
        ))));
        assert!(!is_connection_loss(&AppError::NotFound("ticket")));
    }

    #[test]
    fn the_probe_url_gets_a_connect_timeout() {
        assert_eq!(
            with_connect_timeout("postgres://a@h/db"),
            "postgres://a@h/db?connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://a@h/db?sslmode=disable"),
            "postgres://a@h/db?sslmode=disable&connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("host=h dbname=db"),
            "host=h dbname=db connect_timeout=2"
        );
    }
}
