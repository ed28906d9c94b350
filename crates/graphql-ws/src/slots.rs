//! At most N websocket connections per credential (an API key, a customer…) on this
//! process: an open connection holds a slot until it ends. The caller names the key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone)]
pub struct ConnectionSlots {
    open: Arc<Mutex<HashMap<String, usize>>>,
    max_per_key: usize,
}

/// A held slot; dropping it frees the slot.
pub struct Slot {
    open: Arc<Mutex<HashMap<String, usize>>>,
    key: String,
}

impl ConnectionSlots {
    pub fn new(max_per_key: usize) -> ConnectionSlots {
        ConnectionSlots {
            open: Arc::default(),
            max_per_key,
        }
    }

    /// A slot for this credential, or None when all are taken.
    pub fn acquire(&self, key: String) -> Option<Slot> {
        let mut open = self.open.lock().ok()?;
        let count = open.entry(key.clone()).or_insert(0);
        if *count >= self.max_per_key {
            return None;
        }
        *count += 1;
        Some(Slot {
            open: self.open.clone(),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock() {
            if let Some(count) = open.get_mut(&self.key) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&self.key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_key_and_freed() {
        let slots = ConnectionSlots::new(2);
        let key = || "k:ada".to_string();
        let first = slots.acquire(key()).unwrap();
        let _second = slots.acquire(key()).unwrap();
        assert!(slots.acquire(key()).is_none());
        assert!(slots.acquire("k:grace".into()).is_some());
        drop(first);
        assert!(slots.acquire(key()).is_some());
    }
}
