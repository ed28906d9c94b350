//! Closing connections from outside: when their credential stops being valid (the caller
//! decides) and when the server stops (`GoingAway`).

use std::sync::Arc;

use futures_util::FutureExt;
use tokio::sync::{oneshot, watch};

use crate::connection::Shutdown;
use crate::protocol::{close, CloseFrame};

/// The server's graceful stop, as websockets see it. Announced once, before the server
/// stops accepting connections: every open connection then stops its operations and
/// closes with 1001. Without it, open websockets would hold the stop for the HTTP
/// server's whole shutdown timeout, then be dropped without a close frame.
#[derive(Clone, Debug)]
pub struct GoingAway(Arc<watch::Sender<bool>>);

impl Default for GoingAway {
    fn default() -> Self {
        GoingAway(Arc::new(watch::Sender::new(false)))
    }
}

impl GoingAway {
    pub fn announce(&self) {
        self.0.send_replace(true);
    }

    pub fn is_announced(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once announced: at once if it already was (other transports, such as
    /// Server-Sent Events, end their streams on it too).
    pub fn announced(&self) -> impl std::future::Future<Output = ()> + 'static {
        let mut stopping = self.0.subscribe();
        async move {
            // An error means the sender is gone: nothing will be announced.
            if stopping.wait_for(|stopping| *stopping).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// The reason of the close frame every connection gets when the server stops.
pub const SHUTTING_DOWN: &str = "Server shutting down";

/// A way to close a connection from outside: the sender goes to whoever watches the
/// credential, the `Shutdown` to the connection loop. The server's graceful stop closes it
/// too (1001), whatever the state of the connection, even before `connection_init`.
pub fn closer(going_away: &GoingAway) -> (oneshot::Sender<CloseFrame>, Shutdown) {
    let (close, closed) = oneshot::channel();
    let server_stops = going_away.announced();
    let shutdown = async move {
        let told = async move {
            match closed.await {
                Ok(frame) => frame,
                // The credential is no longer watched (never admitted, or refused).
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = told => frame,
            () = server_stops => CloseFrame::new(close::GOING_AWAY, SHUTTING_DOWN),
        }
    }
    .boxed_local();
    (close, shutdown)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::timeout;

    use super::*;

    async fn resolves(shutdown: &mut Shutdown) -> Option<CloseFrame> {
        timeout(Duration::from_millis(50), shutdown).await.ok()
    }

    #[tokio::test]
    async fn the_announcement_closes_every_connection_with_1001() {
        let going_away = GoingAway::default();
        let (_close, mut open) = closer(&going_away);
        // Never admitted: nobody watches its credential.
        let (unwatched, mut uninitialised) = closer(&going_away);
        drop(unwatched);
        assert_eq!(resolves(&mut open).await, None);
        assert_eq!(resolves(&mut uninitialised).await, None);

        going_away.announce();
        let frame = Some(CloseFrame::new(close::GOING_AWAY, SHUTTING_DOWN));
        assert_eq!(resolves(&mut open).await, frame);
        assert_eq!(resolves(&mut uninitialised).await, frame);
        // A connection that starts afterwards is closed at once.
        assert!(going_away.is_announced());
        assert_eq!(resolves(&mut closer(&going_away).1).await, frame);
    }

    #[tokio::test]
    async fn a_revoked_credential_still_closes_4403() {
        let going_away = GoingAway::default();
        let (close, mut shutdown) = closer(&going_away);
        let revoked = CloseFrame::new(close::FORBIDDEN, "Forbidden: the API key was revoked");
        assert!(close.send(revoked.clone()).is_ok());
        assert_eq!(resolves(&mut shutdown).await, Some(revoked));
        assert!(!going_away.is_announced());
    }
}
