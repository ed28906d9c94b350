//! Waiting out a database outage while reading an event's rows.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::AppError;

/// The first wait before an event's rows are read again, and the longest.
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_millis(500);

/// Reads an event's rows, waiting out a database outage: a read that fails because the
/// database is unavailable is tried again, with back-off, for up to `grace`. The event
/// then reaches its subscribers late but in order (each subscription handles its events
/// one after the other), rather than as an error that ends the subscription. Past the
/// grace the subscription ends with DB_UNAVAILABLE: its client must subscribe again.
pub(super) async fn riding_out<T, F, Fut>(
    grace: Duration,
    mut read: F,
) -> std::result::Result<T, AppError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, AppError>>,
{
    let started = Instant::now();
    let mut wait = RETRY_FIRST;
    loop {
        match read().await {
            Err(AppError::DbUnavailable(_)) if started.elapsed() + wait < grace => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_MAX);
            }
            Err(AppError::DbUnavailable(_)) => {
                return Err(AppError::DbUnavailable(
                    format!(
                        "the database was unavailable for more than {} s: this subscription \
                         ends, subscribe again",
                        grace.as_secs()
                    )
                    .into(),
                ))
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn unavailable() -> AppError {
        AppError::DbUnavailable("the database is unreachable (reconnecting)".into())
    }

    #[tokio::test]
    async fn an_outage_shorter_than_the_grace_only_delays_the_read() {
        let mut tries = 0;
        let read = riding_out(Duration::from_secs(30), || {
            tries += 1;
            let result = match tries {
                1..=3 => Err(unavailable()),
                _ => Ok(tries),
            };
            async move { result }
        })
        .await;
        assert_eq!(read.ok(), Some(4));
    }

    #[tokio::test]
    async fn an_outage_past_the_grace_ends_with_db_unavailable() {
        let started = Instant::now();
        let read: std::result::Result<(), AppError> =
            riding_out(Duration::from_millis(400), || async { Err(unavailable()) }).await;
        let err = read.err().map(|err| (err.code(), err.to_string()));
        assert_eq!(err.map(|(code, _)| code), Some(ErrorCode::DbUnavailable));
        let waited = started.elapsed();
        // Waits of 50, 100 and 200 ms; the next would pass the grace.
        assert!(waited >= Duration::from_millis(350), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let mut tries = 0;
        let read: std::result::Result<(), AppError> = riding_out(Duration::from_secs(30), || {
            tries += 1;
            async { Err(AppError::NotFound("message")) }
        })
        .await;
        assert!(matches!(read, Err(AppError::NotFound(_))));
        assert_eq!(tries, 1);
    }
}
