use std::any::Any;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::future::{BoxFuture, FutureExt, Shared};

use serde::Deserialize;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::position::{Horizon, Position};
use super::presence::Presence;
use crate::error::AppError;

/// What happened, as recorded in the `events` table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    TicketCreated,
    TicketUpdated,
    TicketAssigned,
    MessageAdded,
    MessageDeleted,
    TicketRead,
}

impl EventKind {
    pub fn as_db(self) -> &'static str {
        match self {
            EventKind::TicketCreated => "ticket_created",
            EventKind::TicketUpdated => "ticket_updated",
            EventKind::TicketAssigned => "ticket_assigned",
            EventKind::MessageAdded => "message_added",
            EventKind::MessageDeleted => "message_deleted",
            EventKind::TicketRead => "ticket_read",
        }
    }

    pub fn from_db(value: &str) -> Option<EventKind> {
        serde_json::from_value(serde_json::Value::String(value.to_string())).ok()
    }
}

/// One committed change: ids only; subscribers read the rows themselves.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Event {
    pub seq: i64,
    pub team: Uuid,
    pub kind: EventKind,
    pub ticket: Uuid,
    pub message: Option<Uuid>,
    /// The publishing request's W3C `traceparent` (when traces were exported there).
    #[serde(default)]
    pub trace: Option<String>,
}

/// An event as this process delivered it, with the position a subscriber reaches by
/// receiving it (see `position`).
#[derive(Debug)]
pub struct Delivered {
    pub event: Event,
    pub position: Position,
}

type Loaded = Arc<dyn Any + Send + Sync>;
type Pending = Shared<BoxFuture<'static, Result<Loaded, Arc<AppError>>>>;

/// Reads shared between the subscriptions of one event; the oldest are forgotten.
#[derive(Default)]
struct Memo {
    entries: HashMap<(i64, String), Pending>,
    order: VecDeque<(i64, String)>,
}

impl Memo {
    const CAPACITY: usize = 4096;

    fn get_or_insert(&mut self, key: (i64, String), make: impl FnOnce() -> Pending) -> Pending {
        if let Some(pending) = self.entries.get(&key) {
            return pending.clone();
        }
        let pending = make();
        self.entries.insert(key.clone(), pending.clone());
        self.order.push_back(key);
        while self.order.len() > Self::CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
        pending
    }
}

/// Remembers the last events delivered, so a replay after a reconnect never delivers one
/// twice.
struct Seen {
    order: VecDeque<i64>,
    set: HashSet<i64>,
    capacity: usize,
}

impl Seen {
    fn insert(&mut self, seq: i64) -> bool {
        if !self.set.insert(seq) {
            return false;
        }
        self.order.push_back(seq);
        if self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// Fans events out to this process's subscriptions. Each subscription has a bounded
/// queue of its own (a broadcast receiver): a slow one falls behind and is told so, it
/// never slows the others or the listener.
pub struct Broker {
    sender: broadcast::Sender<Arc<Delivered>>,
    seen: Mutex<Seen>,
    horizon: Mutex<Horizon>,
    memo: Mutex<Memo>,
    /// API keys revoked anywhere: their websocket connections close.
    revoked: broadcast::Sender<Uuid>,
    /// Whether what is known about keys can be trusted (see `credentials_epoch`).
    credentials: CredentialsWatch,
    /// Who is on which ticket (see `presence`).
    presence: Arc<Presence>,
}

/// Tells caches of API keys whether they may trust what they hold: only while this
/// process listens for key changes, and only what they read since the last change or
/// reconnection (either bumps the epoch; a cache keeps an entry only for the epoch it was
/// read in). Before the first LISTEN and while reconnecting nothing may be trusted.
#[derive(Default)]
struct CredentialsWatch {
    listening: AtomicBool,
    epoch: AtomicU64,
}

impl Broker {
    pub fn new(queue: usize) -> Arc<Broker> {
        let (sender, _) = broadcast::channel(queue.max(16));
        let (revoked, _) = broadcast::channel(256);
        Arc::new(Broker {
            sender,
            revoked,
            credentials: CredentialsWatch::default(),
            presence: Arc::new(Presence::default()),
            memo: Mutex::new(Memo::default()),
            horizon: Mutex::new(Horizon::default()),
            seen: Mutex::new(Seen {
                order: VecDeque::new(),
                set: HashSet::new(),
                capacity: 100_000,
            }),
        })
    }

    /// This process's presence board, fed by the listener.
    pub fn presence(&self) -> &Arc<Presence> {
        &self.presence
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Delivered>> {
        self.sender.subscribe()
    }

    /// Where the events delivered so far leave a subscriber. Read before `subscribe`: an
    /// event delivered in between is then outside both, and a resume replays it.
    pub fn position(&self) -> Position {
        self.horizon
            .lock()
            .map(|horizon| horizon.position())
            .unwrap_or_default()
    }

    /// A key changed or went (revoked, re-scoped, deleted) somewhere.
    pub fn revoke(&self, key_id: Uuid) {
        self.credentials.epoch.fetch_add(1, Ordering::SeqCst);
        let _ = self.revoked.send(key_id);
    }

    /// The listener's state: key changes reach this process only while it listens.
    pub fn set_listening(&self, listening: bool) {
        // Ordered so that no reader pairs the new epoch with a stale "listening".
        let watch = &self.credentials;
        if listening {
            watch.epoch.fetch_add(1, Ordering::SeqCst);
            watch.listening.store(true, Ordering::SeqCst);
        } else {
            watch.listening.store(false, Ordering::SeqCst);
            watch.epoch.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// What keys read now are valid for: None while key changes could go unnoticed.
    pub fn credentials_epoch(&self) -> Option<u64> {
        // Epoch first: a reconnection between the two reads makes it stale, not trusted.
        let epoch = self.credentials.epoch.load(Ordering::SeqCst);
        self.credentials
            .listening
            .load(Ordering::SeqCst)
            .then_some(epoch)
    }

    pub fn revocations(&self) -> broadcast::Receiver<Uuid> {
        self.revoked.subscribe()
    }

    /// What `load` gives for this event and `key`, computed once in this process however
    /// many subscriptions ask: a message fanned out to a thousand subscribers of one
    /// ticket is read once, not a thousand times. Keys name what is read and for whom
    /// (the scope, the filter), so subscriptions share only what they would read alike.
    pub async fn once<T, F>(&self, seq: i64, key: String, load: F) -> Result<T, Arc<AppError>>
    where
        T: Clone + Send + Sync + 'static,
        F: Future<Output = Result<T, AppError>> + Send + 'static,
    {
        let pending = {
            let mut memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
            memo.get_or_insert((seq, key), || {
                async move {
                    load.await
                        .map(|value| Arc::new(value) as Loaded)
                        .map_err(Arc::new)
                }
                .boxed()
                .shared()
            })
        };
        let loaded = pending.await?;
        loaded
            .downcast_ref::<T>()
            .cloned()
            .ok_or_else(|| Arc::new(AppError::internal("event memo of another type")))
    }

    /// Every seq up to `last_taken` was taken (see `Horizon::extend_to`).
    pub fn note_taken(&self, newest_committed: Option<i64>, last_taken: i64) {
        if let Ok(mut horizon) = self.horizon.lock() {
            horizon.extend_to(newest_committed, last_taken, std::time::Instant::now());
        }
    }

    /// Hands an event to every current subscription, once: false for a repeat.
    pub fn deliver(&self, event: Event) -> bool {
        let fresh = self
            .seen
            .lock()
            .map(|mut seen| seen.insert(event.seq))
            .unwrap_or(true);
        if fresh {
            let span = delivery_span(&event);
            let _entered = span.enter();
            // Called by the listener alone, one event after another: positions follow the
            // order of the broadcast.
            let position = self
                .horizon
                .lock()
                .map(|mut horizon| horizon.advance(event.seq, std::time::Instant::now()))
                .unwrap_or_default();
            // No subscriber is not an error: the event simply has no audience here.
            let _ = self.sender.send(Arc::new(Delivered { event, position }));
        }
        fresh
    }
}

/// The delivery of an event on this replica, as a span of the trace that published it
/// (on whichever replica that was); none without traces.
fn delivery_span(event: &Event) -> tracing::Span {
    if !crate::telemetry::enabled() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "event.deliver",
        otel.kind = "consumer",
        event.kind = event.kind.as_db(),
        event.seq = event.seq,
    );
    crate::telemetry::follow(&span, event.trace.as_deref());
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64) -> Event {
        Event {
            seq,
            team: Uuid::nil(),
            kind: EventKind::MessageAdded,
            ticket: Uuid::nil(),
            message: None,
            trace: None,
        }
    }

    #[test]
    fn delivers_each_event_once() {
        let broker = Broker::new(16);
        let mut receiver = broker.subscribe();
        assert!(broker.deliver(event(1)));
        assert!(!broker.deliver(event(1)));
        assert!(broker.deliver(event(2)));
        assert_eq!(receiver.try_recv().unwrap().event.seq, 1);
        let second = receiver.try_recv().unwrap();
        assert_eq!((second.event.seq, second.position.high), (2, 2));
        assert!(receiver.try_recv().is_err());
    }

    #[tokio::test]
    async fn an_events_read_is_shared() {
        let broker = Broker::new(16);
        let reads = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let read = |reads: Arc<std::sync::atomic::AtomicUsize>| async move {
            reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, AppError>(42u32)
        };
        for _ in 0..3 {
            let value = broker
                .once(7, "k".into(), read(reads.clone()))
                .await
                .unwrap();
            assert_eq!(value, 42);
        }
        broker
            .once(7, "other".into(), read(reads.clone()))
            .await
            .unwrap();
        assert_eq!(reads.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn parses_notifications() {
        let json = r#"{"seq":7,"team":"00000000-0000-0000-0000-000000000000","kind":"message_added","ticket":"00000000-0000-0000-0000-000000000000","message":null}"#;
        let parsed: Event = serde_json::from_str(json).unwrap();
        assert_eq!(parsed.seq, 7);
        assert_eq!(parsed.kind, EventKind::MessageAdded);
        assert_eq!(
            EventKind::from_db("ticket_read"),
            Some(EventKind::TicketRead)
        );
    }
}
