//! Presence: who is viewing or typing on a ticket, right now. Ephemeral by design: no
//! table and not the outbox. A heartbeat is a NOTIFY on its own channel
//! (`PRESENCE_CHANNEL`, `announce`); every replica's listener hands each one to its
//! `Presence` board, which keeps, per ticket, each participant's activity until its
//! time to live runs out (the sender's, carried in the signal) or a `Left` arrives. A
//! board tells its subscribers which ticket's set changed; they read the set themselves.
//!
//! A replica that starts (or whose listener reconnects) knows nothing of presence until
//! the next heartbeats: clients repeat theirs well within the time to live.
//!
//! Heartbeats are rate limited per participant and ticket, on each replica
//! (`admit`): a participant spread over replicas by a load balancer gets each one's
//! allowance.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Text;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use uuid::Uuid;

use crate::db::Db;

/// The NOTIFY channel presence travels on.
pub const PRESENCE_CHANNEL: &str = "ticketgate_presence";
/// The default time to live of a heartbeat.
pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
/// The longest time to live a signal may ask for.
const MAX_TTL: Duration = Duration::from_secs(600);
/// Heartbeats per participant and ticket: a burst of this many…
pub const HEARTBEAT_BURST: u32 = 10;
/// …then this many a second, on each replica.
pub const HEARTBEATS_PER_SECOND: u32 = 2;
/// Heartbeats per participant over all tickets: a burst of this many, then
/// `PERSON_HEARTBEATS_PER_SECOND`, on each replica (many tickets open at once are fine,
/// a flood spread over the team's tickets is not).
pub const PERSON_HEARTBEAT_BURST: u32 = 60;
pub const PERSON_HEARTBEATS_PER_SECOND: u32 = 20;

/// What a participant is doing on a ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    Viewing,
    Typing,
    /// Gone (an explicit leave, or its websocket closed).
    Left,
}

/// Who is present: an agent (the API key's user, or the key itself when it has no user)
/// or the ticket's customer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Participant {
    User(Uuid),
    Key(Uuid),
    Customer(String),
}

/// One heartbeat (or leave), as NOTIFY carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    pub team: Uuid,
    pub ticket: Uuid,
    pub who: Participant,
    pub activity: Activity,
    /// How long the activity holds without another heartbeat, in milliseconds.
    pub ttl_ms: u64,
}

/// Sends a signal to every replica (this one included), at once: NOTIFY outside any
/// transaction.
pub fn announce(conn: &mut PgConnection, signal: &Signal) -> QueryResult<()> {
    let payload = serde_json::to_string(signal)
        .map_err(|err| diesel::result::Error::SerializationError(Box::new(err)))?;
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(PRESENCE_CHANNEL)
        .bind::<Text, _>(payload)
        .execute(conn)
        .map(|_| ())
}

struct Entry {
    activity: Activity,
    expires: Instant,
}

#[derive(Default)]
struct TicketBoard {
    entries: HashMap<Participant, Entry>,
}

/// This replica's view of presence on every ticket, and the rate limit of heartbeats.
pub struct Presence {
    board: Mutex<HashMap<Uuid, TicketBoard>>,
    changes: broadcast::Sender<Uuid>,
    ttl_ms: AtomicU64,
    limiter: DefaultKeyedRateLimiter<(Participant, Uuid)>,
    per_person: DefaultKeyedRateLimiter<Participant>,
}

impl Default for Presence {
    fn default() -> Self {
        let (changes, _) = broadcast::channel(1024);
        let quota = |per_second: u32, burst: u32| {
            let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
            Quota::per_second(rate).allow_burst(NonZeroU32::new(burst).unwrap_or(rate))
        };
        Presence {
            board: Mutex::new(HashMap::new()),
            changes,
            ttl_ms: AtomicU64::new(DEFAULT_TTL.as_millis() as u64),
            limiter: RateLimiter::keyed(quota(HEARTBEATS_PER_SECOND, HEARTBEAT_BURST)),
            per_person: RateLimiter::keyed(quota(
                PERSON_HEARTBEATS_PER_SECOND,
                PERSON_HEARTBEAT_BURST,
            )),
        }
    }
}

impl Presence {
    /// How long this replica's heartbeats hold.
    pub fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms.load(Ordering::Relaxed))
    }

    pub fn set_ttl(&self, ttl: Duration) {
        let ttl = ttl.clamp(Duration::from_millis(100), MAX_TTL);
        self.ttl_ms.store(ttl.as_millis() as u64, Ordering::Relaxed);
    }

    /// Whether this heartbeat is within the participant's allowance on this ticket, and
    /// over all tickets.
    pub fn admit(&self, who: &Participant, ticket: Uuid) -> bool {
        self.limiter.check_key(&(who.clone(), ticket)).is_ok()
            && self.per_person.check_key(who).is_ok()
    }

    /// The ids of tickets whose presence changed, as they change.
    pub fn changes(&self) -> broadcast::Receiver<Uuid> {
        self.changes.subscribe()
    }

    /// Who is on `ticket` now, and doing what (in participant order).
    pub fn current(&self, ticket: Uuid) -> BTreeMap<Participant, Activity> {
        let now = Instant::now();
        let board = self.board.lock().unwrap_or_else(|e| e.into_inner());
        board
            .get(&ticket)
            .map(|t| {
                t.entries
                    .iter()
                    .filter(|(_, e)| e.expires > now)
                    .map(|(who, e)| (who.clone(), e.activity))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A signal from any replica (through the listener).
    pub fn apply(&self, signal: Signal) {
        let now = Instant::now();
        let changed = {
            let mut board = self.board.lock().unwrap_or_else(|e| e.into_inner());
            let ticket = board.entry(signal.ticket).or_default();
            let changed = match signal.activity {
                Activity::Left => ticket.entries.remove(&signal.who).is_some(),
                activity => {
                    let ttl = Duration::from_millis(signal.ttl_ms).min(MAX_TTL);
                    let previous = ticket.entries.insert(
                        signal.who,
                        Entry {
                            activity,
                            expires: now + ttl,
                        },
                    );
                    previous.is_none_or(|p| p.activity != activity || p.expires <= now)
                }
            };
            if ticket.entries.is_empty() {
                board.remove(&signal.ticket);
            }
            changed
        };
        if changed {
            let _ = self.changes.send(signal.ticket);
        }
    }

    /// Forgets what expired (announcing the tickets that changed) and idle rate limits.
    pub fn sweep(&self) {
        let now = Instant::now();
        let mut changed = Vec::new();
        {
            let mut board = self.board.lock().unwrap_or_else(|e| e.into_inner());
            board.retain(|ticket, t| {
                let before = t.entries.len();
                t.entries.retain(|_, e| e.expires > now);
                if t.entries.len() != before {
                    changed.push(*ticket);
                }
                !t.entries.is_empty()
            });
        }
        for ticket in changed {
            let _ = self.changes.send(ticket);
        }
        self.limiter.retain_recent();
        self.per_person.retain_recent();
    }

    /// Sweeps every `every` until the process ends.
    pub async fn sweep_every(self: Arc<Self>, every: Duration) {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            self.sweep();
        }
    }
}

/// What one websocket connection made present: when the connection ends (closed by
/// either side, or dropped), each of its participants leaves each of its tickets, on
/// every replica. Lives in the connection's data.
pub struct ConnectionPresence {
    db: Db,
    joined: Mutex<HashSet<(Uuid, Uuid, Participant)>>,
}

impl ConnectionPresence {
    pub fn new(db: Db) -> ConnectionPresence {
        ConnectionPresence {
            db,
            joined: Mutex::new(HashSet::new()),
        }
    }

    /// `who` is present on `ticket` (of `team`) through this connection.
    pub fn joined(&self, team: Uuid, ticket: Uuid, who: Participant) {
        self.joined
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((team, ticket, who));
    }
}

impl Drop for ConnectionPresence {
    fn drop(&mut self) {
        let joined = std::mem::take(self.joined.get_mut().unwrap_or_else(|e| e.into_inner()));
        if joined.is_empty() {
            return;
        }
        // Without a runtime (a test dropping it), the entries simply expire.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let db = self.db.clone();
        runtime.spawn(async move {
            let left = db
                .run(move |conn| {
                    for (team, ticket, who) in joined {
                        let signal = Signal {
                            team,
                            ticket,
                            who,
                            activity: Activity::Left,
                            ttl_ms: 0,
                        };
                        announce(conn, &signal)?;
                    }
                    Ok(())
                })
                .await;
            if let Err(err) = left {
                tracing::debug!(error = %err, "presence not ended at once; it expires");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(who: Participant, activity: Activity, ttl_ms: u64) -> Signal {
        Signal {
            team: Uuid::nil(),
            ticket: Uuid::nil(),
            who,
            activity,
            ttl_ms,
        }
    }

    #[tokio::test]
    async fn heartbeats_keep_presence_and_silence_ends_it() {
        let presence = Presence::default();
        let mut changes = presence.changes();
        let ann = Participant::User(Uuid::now_v7());
        presence.apply(signal(ann.clone(), Activity::Viewing, 200));
        assert_eq!(changes.try_recv().unwrap(), Uuid::nil());
        presence.apply(signal(ann.clone(), Activity::Viewing, 200));
        assert!(
            changes.try_recv().is_err(),
            "a heartbeat alone changes nothing"
        );
        presence.apply(signal(ann.clone(), Activity::Typing, 200));
        assert_eq!(presence.current(Uuid::nil())[&ann], Activity::Typing);
        assert!(changes.try_recv().is_ok());
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(presence.current(Uuid::nil()).is_empty());
        presence.sweep();
        assert!(changes.try_recv().is_ok(), "the expiry is announced");
        presence.apply(signal(ann.clone(), Activity::Viewing, 60_000));
        presence.apply(signal(ann, Activity::Left, 0));
        assert!(presence.current(Uuid::nil()).is_empty());
    }

    #[test]
    fn heartbeats_past_the_burst_are_refused() {
        let presence = Presence::default();
        let who = Participant::Customer("c".into());
        let admitted = (0..50)
            .filter(|_| presence.admit(&who, Uuid::nil()))
            .count();
        assert!(
            (HEARTBEAT_BURST as usize..HEARTBEAT_BURST as usize + 3).contains(&admitted),
            "{admitted}"
        );
        assert!(presence.admit(&who, Uuid::now_v7()), "per ticket");
        // Spread over many tickets, the person's own allowance runs out.
        let spread = (0..200)
            .filter(|_| presence.admit(&who, Uuid::now_v7()))
            .count();
        assert!(spread < PERSON_HEARTBEAT_BURST as usize, "{spread}");
    }

    #[test]
    fn signals_round_trip_as_json() {
        let s = signal(
            Participant::Customer("v-1".into()),
            Activity::Typing,
            30_000,
        );
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Signal>(&json).unwrap(), s);
    }
}
