use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use tokio::sync::broadcast;
use uuid::Uuid;

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
    sender: broadcast::Sender<Arc<Event>>,
    seen: Mutex<Seen>,
    /// API keys revoked anywhere: their websocket connections close.
    revoked: broadcast::Sender<Uuid>,
}

impl Broker {
    pub fn new(queue: usize) -> Arc<Broker> {
        let (sender, _) = broadcast::channel(queue.max(16));
        let (revoked, _) = broadcast::channel(256);
        Arc::new(Broker {
            sender,
            revoked,
            seen: Mutex::new(Seen {
                order: VecDeque::new(),
                set: HashSet::new(),
                capacity: 100_000,
            }),
        })
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.sender.subscribe()
    }

    pub fn revoke(&self, key_id: Uuid) {
        let _ = self.revoked.send(key_id);
    }

    pub fn revocations(&self) -> broadcast::Receiver<Uuid> {
        self.revoked.subscribe()
    }

    /// Hands an event to every current subscription, once: false for a repeat.
    pub fn deliver(&self, event: Event) -> bool {
        let fresh = self
            .seen
            .lock()
            .map(|mut seen| seen.insert(event.seq))
            .unwrap_or(true);
        if fresh {
            // No subscriber is not an error: the event simply has no audience here.
            let _ = self.sender.send(Arc::new(event));
        }
        fresh
    }
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
        }
    }

    #[test]
    fn delivers_each_event_once() {
        let broker = Broker::new(16);
        let mut receiver = broker.subscribe();
        assert!(broker.deliver(event(1)));
        assert!(!broker.deliver(event(1)));
        assert!(broker.deliver(event(2)));
        assert_eq!(receiver.try_recv().unwrap().seq, 1);
        assert_eq!(receiver.try_recv().unwrap().seq, 2);
        assert!(receiver.try_recv().is_err());
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
