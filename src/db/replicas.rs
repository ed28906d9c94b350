//! Reads on streaming-replication standbys (`DATABASE_READ_URL`), with read-your-writes.
//!
//! Queries over HTTP may run on a standby; everything else (mutations, subscriptions and
//! their event reads and resume replays, websockets, jobs) stays on the primary. A caller
//! that has just written reads from the primary until a standby has replayed past its
//! write: after each write the primary's WAL position is kept per caller (`wrote`), and
//! each standby's replay position is kept here by a monitor that asks every
//! `CHECK_EVERY` — so routing a read costs no query. The same monitor takes a standby out
//! of rotation when it does not answer within `CHECK_TIMEOUT` or falls further behind than
//! the allowed lag (`TICKETGATE_MAX_REPLICA_LAG`), and back in once it is healthy.

use std::collections::VecDeque;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use lru::LruCache;
use prometheus::{GaugeVec, IntGaugeVec};

use super::{Db, PoolOptions};

/// How often each standby (and the primary's position) is looked at.
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// A standby that takes longer to answer is out of rotation.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);
/// Callers whose last write position is kept (the oldest are forgotten: by then every
/// standby has long replayed their writes, or reads of theirs go to the primary anyway).
const CALLERS: usize = 100_000;

/// A WAL position, as a number (`16/B374D848` → 0x16_B374D848).
pub type Lsn = u64;

pub fn parse_lsn(text: &str) -> Option<Lsn> {
    let (high, low) = text.split_once('/')?;
    Some((u64::from_str_radix(high, 16).ok()? << 32) | u64::from_str_radix(low, 16).ok()?)
}

/// One standby and what the monitor last saw of it.
struct Standby {
    /// `host:port`, as metrics and `/readyz` name it (never the password).
    name: String,
    db: Db,
    seen: Mutex<Seen>,
}

#[derive(Clone, Debug, Default)]
struct Seen {
    in_rotation: bool,
    replayed: Lsn,
    /// Seconds since the primary was where this standby is now (0 when caught up).
    lag_seconds: f64,
    why_out: Option<String>,
}

/// The standbys and the routing of reads.
pub struct ReadReplicas {
    primary: Db,
    standbys: Vec<Standby>,
    max_lag: Duration,
    next: AtomicUsize,
    /// Where each caller's last write left the primary.
    written: Mutex<LruCache<String, Lsn>>,
    /// The primary's recent positions, oldest first, to tell how far behind a standby is.
    primary_positions: Mutex<VecDeque<(Instant, Lsn)>>,
    lag: GaugeVec,
    up: IntGaugeVec,
}

impl ReadReplicas {
    /// The standbys of `urls` (comma-separated), each with a pool like the primary's.
    pub fn new(
        primary: Db,
        urls: &str,
        options: &PoolOptions,
        max_lag: Duration,
        metrics: (GaugeVec, IntGaugeVec),
        statements: prometheus::IntCounter,
        trips: prometheus::IntCounter,
    ) -> Arc<ReadReplicas> {
        let standbys = urls
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|url| Standby {
                name: host_port(url),
                db: Db::connect(url, options, statements.clone(), trips.clone()),
                seen: Mutex::new(Seen {
                    why_out: Some("not checked yet".into()),
                    ..Seen::default()
                }),
            })
            .collect();
        let capacity = NonZeroUsize::new(CALLERS).unwrap_or(NonZeroUsize::MIN);
        Arc::new(ReadReplicas {
            primary,
            standbys,
            max_lag,
            next: AtomicUsize::new(0),
            written: Mutex::new(LruCache::new(capacity)),
            primary_positions: Mutex::new(VecDeque::new()),
            lag: metrics.0,
            up: metrics.1,
        })
    }

    /// Where `caller`'s read goes: a standby in rotation that has replayed the caller's
    /// last write (round robin), else the primary.
    pub fn for_read(&self, caller: &str) -> Db {
        let needed = lock(&self.written).get(caller).copied().unwrap_or(0);
        let count = self.standbys.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..count)
            .map(|offset| &self.standbys[(start + offset) % count])
            .find(|standby| {
                let seen = lock(&standby.seen);
                seen.in_rotation && seen.replayed >= needed && standby.db.is_up()
            })
            .map_or_else(|| self.primary.clone(), |standby| standby.db.clone())
    }

    /// Records that `caller` wrote: its reads stay on the primary until a standby replays
    /// up to where the primary is now. One cheap query, only after writes.
    pub async fn wrote(&self, caller: &str) {
        let position = self
            .primary
            .run(|conn| Ok(current_lsn(conn)?))
            .await
            .ok()
            .flatten();
        if let Some(position) = position {
            lock(&self.written).put(caller.to_string(), position);
        }
    }

    /// One line per standby for `/readyz`: its name and whether it is in rotation.
    pub fn report(&self) -> Vec<(String, Option<String>)> {
        self.standbys
            .iter()
            .map(|standby| (standby.name.clone(), lock(&standby.seen).why_out.clone()))
            .collect()
    }

    /// Checks every standby each `CHECK_EVERY`, for as long as the process lives.
    pub fn monitor(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            loop {
                self.check().await;
                tokio::time::sleep(CHECK_EVERY).await;
            }
        })
    }

    async fn check(&self) {
        let now = Instant::now();
        if let Ok(Ok(Some(position))) = tokio::time::timeout(
            CHECK_TIMEOUT,
            self.primary.run(|conn| Ok(current_lsn(conn)?)),
        )
        .await
        {
            let mut positions = lock(&self.primary_positions);
            positions.push_back((now, position));
            let keep = self.max_lag + Duration::from_secs(5);
            while positions
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > keep)
            {
                positions.pop_front();
            }
        }
        for standby in &self.standbys {
            let asked =
                tokio::time::timeout(CHECK_TIMEOUT, standby.db.run(|conn| Ok(replayed(conn)?)))
                    .await;
            let seen = match asked {
                Ok(Ok(Some(replayed))) => self.judge(replayed, now),
                Ok(Ok(None)) => out("not a standby in recovery"),
                Ok(Err(err)) => out(&format!("unreachable: {err}")),
                Err(_) => out("did not answer within 1 s"),
            };
            self.lag
                .with_label_values(&[&standby.name])
                .set(seen.lag_seconds);
            self.up
                .with_label_values(&[&standby.name])
                .set(i64::from(seen.in_rotation));
            let mut kept = lock(&standby.seen);
            if kept.in_rotation != seen.in_rotation {
                match &seen.why_out {
                    Some(why) => {
                        tracing::warn!(standby = %standby.name, %why, "standby out of rotation")
                    }
                    None => tracing::info!(standby = %standby.name, "standby in rotation"),
                }
            }
            *kept = seen;
        }
    }

    /// A standby that answered: in rotation unless it has not replayed what the primary
    /// had written `max_lag` ago.
    fn judge(&self, replayed: Lsn, now: Instant) -> Seen {
        let positions = lock(&self.primary_positions);
        // The oldest primary position the standby has not replayed yet: it is behind by
        // the time since then.
        let behind_since = positions
            .iter()
            .find(|(_, position)| *position > replayed)
            .map(|(at, _)| *at);
        let lag_seconds = behind_since.map_or(0.0, |at| now.duration_since(at).as_secs_f64());
        let too_far = lag_seconds > self.max_lag.as_secs_f64();
        Seen {
            in_rotation: !too_far,
            replayed,
            lag_seconds,
            why_out: too_far.then(|| format!("{lag_seconds:.1} s behind the primary")),
        }
    }
}

fn out(why: &str) -> Seen {
    Seen {
        in_rotation: false,
        why_out: Some(why.to_string()),
        ..Seen::default()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(QueryableByName)]
struct Position {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    lsn: Option<String>,
}

#[derive(QueryableByName)]
struct Replay {
    #[diesel(sql_type = Bool)]
    recovering: bool,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    lsn: Option<String>,
}

/// The primary's current WAL position.
fn current_lsn(conn: &mut PgConnection) -> QueryResult<Option<Lsn>> {
    let row: Position =
        diesel::sql_query("SELECT pg_current_wal_lsn()::text AS lsn").get_result(conn)?;
    Ok(row.lsn.as_deref().and_then(parse_lsn))
}

/// A standby's replayed WAL position (None: not a standby).
fn replayed(conn: &mut PgConnection) -> QueryResult<Option<Lsn>> {
    let row: Replay = diesel::sql_query(
        "SELECT pg_is_in_recovery() AS recovering, pg_last_wal_replay_lsn()::text AS lsn",
    )
    .get_result(conn)?;
    Ok(row
        .recovering
        .then_some(())
        .and(row.lsn.as_deref().and_then(parse_lsn)))
}

/// `host:port` of a `postgres://user:password@host:port/db?…` URL.
fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split(['/', '?'])
        .next()
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_names_are_read() {
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_B374_D848));
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("nope"), None);
        assert_eq!(
            host_port("postgres://u:p@127.0.0.1:5433/db?sslmode=disable"),
            "127.0.0.1:5433"
        );
    }
}
