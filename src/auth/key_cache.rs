//! The API keys this process saw recently, so that most requests need no key look-up.
//!
//! Looking a key up is a statement and a trip to the blocking pool on every request — on
//! a `sendMessage` half of its trips, on an inbox page one of two. A key is kept only while
//! the process listens for key changes, and only for the epoch it was read in (see
//! `Broker::credentials_epoch`): every change of any key — revocation, scopes, deletion,
//! by `ticketgate api-key revoke` or by plain SQL (a trigger announces it, migration
//! 000006) — and every reconnection of the listener empties it for all replicas at once. A
//! revoked key therefore stops working as soon as the announcement arrives, milliseconds
//! after the commit; and after `ttl` an entry is read again whatever happened, should an
//! announcement ever be lost on a connection that has not noticed it is dead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::api_keys::ApiKey;
use crate::events::Broker;

/// More live keys than this is not a cache any more; start again rather than grow.
const MAX_ENTRIES: usize = 10_000;

pub struct KeyCache {
    entries: Mutex<HashMap<Vec<u8>, Entry>>,
    watch: Arc<Broker>,
    /// Zero: no caching at all (every request looks its key up).
    ttl: Duration,
}

struct Entry {
    key: ApiKey,
    epoch: u64,
    read_at: Instant,
}

impl KeyCache {
    pub fn new(watch: Arc<Broker>, ttl: Duration) -> KeyCache {
        KeyCache {
            entries: Mutex::default(),
            watch,
            ttl,
        }
    }

    /// When a look-up starts: the epoch its result will belong to (None: do not keep it).
    pub fn epoch(&self) -> Option<u64> {
        match self.ttl.is_zero() {
            true => None,
            false => self.watch.credentials_epoch(),
        }
    }

    /// The live key with this hash, if it was read in the current epoch within `ttl`.
    pub fn get(&self, hash: &[u8]) -> Option<ApiKey> {
        let epoch = self.epoch()?;
        let entries = self.entries();
        let entry = entries.get(hash)?;
        (entry.epoch == epoch && entry.read_at.elapsed() < self.ttl).then(|| entry.key.clone())
    }

    /// Keeps a key read from the database in `epoch` (as `epoch()` said before the read).
    pub fn put(&self, hash: Vec<u8>, key: ApiKey, epoch: u64) {
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        let read_at = Instant::now();
        entries.insert(
            hash,
            Entry {
                key,
                epoch,
                read_at,
            },
        );
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use uuid::Uuid;

    fn key() -> ApiKey {
        ApiKey {
            id: Uuid::nil(),
            team_id: Uuid::nil(),
            user_id: None,
            name: "k".into(),
            key_prefix: "tg_".into(),
            scopes: vec!["read".into()],
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        }
    }

    fn cache_with(ttl: Duration) -> (Arc<Broker>, KeyCache) {
        let broker = Broker::new(16);
        let cache = KeyCache::new(broker.clone(), ttl);
        (broker, cache)
    }

    #[test]
    fn nothing_is_kept_before_the_listener_listens() {
        let (broker, cache) = cache_with(Duration::from_secs(60));
        assert_eq!(cache.epoch(), None);
        broker.set_listening(true);
        let epoch = cache.epoch().unwrap();
        cache.put(b"h".to_vec(), key(), epoch);
        assert!(cache.get(b"h").is_some());
        assert!(cache.get(b"other").is_none());
    }

    #[test]
    fn any_key_change_or_reconnection_forgets_every_key() {
        let (broker, cache) = cache_with(Duration::from_secs(60));
        broker.set_listening(true);
        let put = |cache: &KeyCache| {
            let epoch = cache.epoch().unwrap();
            cache.put(b"h".to_vec(), key(), epoch);
        };
        put(&cache);
        broker.revoke(Uuid::new_v4());
        assert!(cache.get(b"h").is_none(), "a change of another key too");
        put(&cache);
        broker.set_listening(false);
        assert!(cache.get(b"h").is_none());
        assert_eq!(cache.epoch(), None);
        broker.set_listening(true);
        assert!(cache.get(b"h").is_none(), "read before the reconnection");
    }

    #[test]
    fn a_read_that_straddles_a_change_is_not_trusted() {
        let (broker, cache) = cache_with(Duration::from_secs(60));
        broker.set_listening(true);
        let before = cache.epoch().unwrap();
        broker.revoke(Uuid::new_v4());
        cache.put(b"h".to_vec(), key(), before);
        assert!(cache.get(b"h").is_none());
    }

    #[test]
    fn entries_expire_and_a_zero_ttl_keeps_nothing() {
        let (broker, cache) = cache_with(Duration::from_millis(30));
        broker.set_listening(true);
        cache.put(b"h".to_vec(), key(), cache.epoch().unwrap());
        assert!(cache.get(b"h").is_some());
        std::thread::sleep(Duration::from_millis(40));
        assert!(cache.get(b"h").is_none());
        let (broker, off) = cache_with(Duration::ZERO);
        broker.set_listening(true);
        assert_eq!(off.epoch(), None);
    }
}
