//! At most N websocket connections per API key (or customer) on this replica: an open
//! connection holds a slot until it ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::auth::Viewer;

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

    /// A slot for the viewer's credential, or None when all are taken.
    pub fn acquire(&self, viewer: &Viewer) -> Option<Slot> {
        let key = match (&viewer.customer, viewer.key_id) {
            (Some(distinct_id), _) => format!("c:{}:{distinct_id}", viewer.team_id),
            (None, key_id) => format!("k:{}", key_id.unwrap_or_default()),
        };
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
        let viewer = Viewer {
            team_id: uuid::Uuid::now_v7(),
            user_id: None,
            key_id: Some(uuid::Uuid::now_v7()),
            scopes: Vec::new(),
            customer: None,
            expires_at: None,
        };
        let first = slots.acquire(&viewer).unwrap();
        let _second = slots.acquire(&viewer).unwrap();
        assert!(slots.acquire(&viewer).is_none());
        drop(first);
        assert!(slots.acquire(&viewer).is_some());
    }
}
