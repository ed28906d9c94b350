//! One LISTEN connection per process (tokio-postgres: it wakes on a notification instead
//! of polling). After losing the connection it reconnects with backoff, LISTENs again and
//! replays from the `events` table what was committed meanwhile; the broker drops repeats.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::poll_fn;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, Config, NoTls};

use super::broker::{Broker, Event, EventKind};
use super::outbox::{CHANNEL, REVOKED_CHANNEL};
use super::presence::{Signal, PRESENCE_CHANNEL};

/// How far back a replay reaches before the last event seen: covers transactions that
/// inserted their event shortly before the connection dropped but committed after.
const REPLAY_MARGIN: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
enum ListenError {
    #[error("{0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("tls: {0}")]
    Tls(#[from] openssl::error::ErrorStack),
    #[error("the notification stream ended")]
    Ended,
}

/// Listens until the process ends. `url` is the same database URL the pool uses.
/// `listening` is told once the first LISTEN is in place, so the server can wait for it
/// before taking subscribers: an event committed before that would reach nobody.
pub async fn run(url: String, broker: Arc<Broker>, listening: tokio::sync::oneshot::Sender<()>) {
    let mut listening = Some(listening);
    let config = match Config::from_str(&url) {
        Ok(config) => config,
        Err(err) => {
            tracing::error!(error = %err, "cannot listen for events: bad database URL");
            return;
        }
    };
    let mut last_seen: Option<DateTime<Utc>> = None;
    let mut backoff = Duration::from_millis(100);
    loop {
        match listen(&config, &broker, &mut last_seen, &mut listening).await {
            Ok(()) => backoff = Duration::from_millis(100),
            Err(err) => tracing::warn!(error = %err, "event listener disconnected; reconnecting"),
        }
        // Key changes go unnoticed until the next LISTEN: caches must not be trusted.
        broker.set_listening(false);
        tokio::time::sleep(backoff).await;
        // At most 1 s: live events resume within a second of the database coming back.
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
}

async fn listen(
    config: &Config,
    broker: &Broker,
    last_seen: &mut Option<DateTime<Utc>>,
    listening: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), ListenError> {
    let (client, notifications) = connect(config).await?;
    let mut notifications = notifications;
    client
        .batch_execute(&format!(
            "LISTEN {CHANNEL}; LISTEN {REVOKED_CHANNEL}; LISTEN {PRESENCE_CHANNEL}"
        ))
        .await?;
    broker.set_listening(true);
    // On the first connection too: the broker then knows which recent seqs are still in
    // flight, and the positions it hands out list them as gaps (see `position`).
    let replayed = replay(&client, broker, last_seen.unwrap_or_else(Utc::now)).await?;
    if last_seen.is_some() {
        tracing::info!(replayed, "event listener reconnected");
    }
    // Subscribers are taken after the first replay, which they must not receive.
    if let Some(listening) = listening.take() {
        let _ = listening.send(());
    }
    *last_seen = Some(Utc::now());
    while let Some((channel, payload)) = notifications.recv().await {
        if channel == REVOKED_CHANNEL {
            if let Ok(key_id) = uuid::Uuid::parse_str(&payload) {
                broker.revoke(key_id);
            }
            continue;
        }
        if channel == PRESENCE_CHANNEL {
            match serde_json::from_str::<Signal>(&payload) {
                Ok(signal) => broker.presence().apply(signal),
                Err(err) => tracing::warn!(error = %err, "unreadable presence notification"),
            }
            continue;
        }
        *last_seen = Some(Utc::now());
        match serde_json::from_str::<Event>(&payload) {
            Ok(event) => {
                broker.deliver(event);
            }
            Err(err) => tracing::warn!(error = %err, "unreadable event notification"),
        }
    }
    Err(ListenError::Ended)
}

/// Connects and drives the connection in a task of its own, forwarding notification
/// payloads (tokio-postgres only surfaces them through `poll_message`).
async fn connect(
    config: &Config,
) -> Result<
    (
        tokio_postgres::Client,
        mpsc::UnboundedReceiver<(String, String)>,
    ),
    ListenError,
> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let client = match config.get_ssl_mode() {
        tokio_postgres::config::SslMode::Disable => {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(drive(connection, sender));
            client
        }
        _ => {
            let tls = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())?;
            let tls = postgres_openssl::MakeTlsConnector::new(tls.build());
            let (client, connection) = config.connect(tls).await?;
            tokio::spawn(drive(connection, sender));
            client
        }
    };
    Ok((client, receiver))
}

async fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    sender: mpsc::UnboundedSender<(String, String)>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(message) = poll_fn(|cx| connection.poll_message(cx)).await {
        match message {
            Ok(AsyncMessage::Notification(notification)) => {
                let message = (
                    notification.channel().to_string(),
                    notification.payload().to_string(),
                );
                if sender.send(message).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, "event connection failed");
                return;
            }
        }
    }
}

/// Delivers the events committed since shortly before `since`, in order.
async fn replay(
    client: &tokio_postgres::Client,
    broker: &Broker,
    since: DateTime<Utc>,
) -> Result<usize, ListenError> {
    let from = since - chrono::Duration::from_std(REPLAY_MARGIN).unwrap_or_default();
    // Read before the replay: seqs taken by then and not replayed are still in flight.
    let extent = client
        .query_one(
            "SELECT (SELECT max(seq) FROM events), \
                    pg_sequence_last_value(pg_get_serial_sequence('events', 'seq'))",
            &[],
        )
        .await?;
    let (newest_committed, last_taken): (Option<i64>, Option<i64>) =
        (extent.try_get(0)?, extent.try_get(1)?);
    let rows = client
        .query(
            "SELECT seq, team_id, kind, ticket_id, message_id, trace_parent FROM events \
             WHERE created_at >= $1 ORDER BY seq",
            &[&from],
        )
        .await?;
    let mut delivered = 0;
    for row in rows {
        let kind: String = row.try_get(2)?;
        let Some(kind) = EventKind::from_db(&kind) else {
            continue;
        };
        let event = Event {
            seq: row.try_get(0)?,
            team: row.try_get(1)?,
            kind,
            ticket: row.try_get(3)?,
            message: row.try_get(4)?,
            trace: row.try_get(5)?,
        };
        if broker.deliver(event) {
            delivered += 1;
        }
    }
    broker.note_taken(newest_committed, last_taken.unwrap_or(0));
    Ok(delivered)
}
