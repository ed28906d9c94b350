//! Answers read ahead with a page, waiting for the request's loader (see
//! `tickets::read_ahead` for why). The store knows no domain: it keeps one map per key
//! type, `K → Option<V>` (`None`: nothing there, do not ask again), and hands each answer
//! out once.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// How long answers read ahead may wait for their page's lists (which ask within
/// milliseconds). Loaders can outlive a request — a websocket connection keeps its own
/// for all its operations — and an operation cancelled between its page and its lists
/// would otherwise leave answers behind for a later one.
const FRESH_FOR: Duration = Duration::from_secs(2);

/// The answers of one key type.
type Answers<K, V> = HashMap<K, Option<V>>;

/// One key type's answers, behind a type-erased box.
trait Store: Send {
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// Takes in `more`, a store of the same type.
    fn absorb(&mut self, more: Box<dyn Store>);
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<K: Hash + Eq + Send + 'static, V: Send + 'static> Store for Answers<K, V> {
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn absorb(&mut self, more: Box<dyn Store>) {
        if let Ok(more) = more.into_any().downcast::<Answers<K, V>>() {
            self.extend(*more);
        }
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// Answers read ahead, by key type.
pub struct Primed {
    stores: HashMap<TypeId, Box<dyn Store>>,
    read_at: Instant,
}

impl Default for Primed {
    fn default() -> Self {
        Primed {
            stores: HashMap::new(),
            read_at: Instant::now(),
        }
    }
}

impl Primed {
    /// Adds every key's answer (see [`answers`]).
    pub fn insert<K, V>(&mut self, answers: Answers<K, V>)
    where
        K: Hash + Eq + Send + 'static,
        V: Send + 'static,
    {
        self.absorb(TypeId::of::<Answers<K, V>>(), Box::new(answers));
    }

    fn absorb(&mut self, type_id: TypeId, more: Box<dyn Store>) {
        match self.stores.get_mut(&type_id) {
            Some(store) => store.absorb(more),
            None => {
                self.stores.insert(type_id, more);
            }
        }
    }

    /// Forgets what waited too long (see `FRESH_FOR`).
    pub fn forget_stale(&mut self) {
        if self.read_at.elapsed() > FRESH_FOR {
            *self = Primed::default();
        }
    }

    pub fn merge(&mut self, more: Primed) {
        self.read_at = more.read_at;
        for (type_id, store) in more.stores {
            self.absorb(type_id, store);
        }
    }

    /// The answers read ahead for `keys` (handed out once), and the keys still to ask.
    pub fn take<K, V>(&mut self, keys: &[K]) -> Taken<K, V>
    where
        K: Hash + Eq + Clone + Send + 'static,
        V: Send + 'static,
    {
        let store = self
            .stores
            .get_mut(&TypeId::of::<Answers<K, V>>())
            .and_then(|store| store.as_any_mut().downcast_mut::<Answers<K, V>>());
        match store {
            Some(store) => take(store, keys),
            None => Taken {
                found: HashMap::new(),
                missing: keys.to_vec(),
            },
        }
    }
}

/// Every key's answer, a missing one included (`None`: nothing there, do not ask again),
/// each key answered once (tickets of one customer share their person's key).
pub fn answers<K: Hash + Eq, V>(
    keys: impl IntoIterator<Item = K>,
    mut answer: impl FnMut(&K) -> Option<V>,
) -> Answers<K, V> {
    let mut answers = HashMap::new();
    for key in keys {
        if let std::collections::hash_map::Entry::Vacant(slot) = answers.entry(key) {
            let value = answer(slot.key());
            slot.insert(value);
        }
    }
    answers
}

/// What was read ahead for some keys, and the keys still to be asked.
pub struct Taken<K, V> {
    pub found: HashMap<K, V>,
    pub missing: Vec<K>,
}

fn take<K: Hash + Eq + Clone, V>(store: &mut Answers<K, V>, keys: &[K]) -> Taken<K, V> {
    let mut taken = Taken {
        found: HashMap::new(),
        missing: Vec::new(),
    };
    for key in keys {
        match store.remove(key) {
            Some(Some(value)) => {
                taken.found.insert(key.clone(), value);
            }
            Some(None) => {}
            None => taken.missing.push(key.clone()),
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_left_waiting_too_long_are_forgotten() {
        let mut primed = Primed::default();
        primed.insert(HashMap::from([(7_u32, Some("x".to_string()))]));
        primed.forget_stale();
        let kept = primed.take::<u32, String>(&[7]);
        assert_eq!(kept.found.len(), 1, "fresh answers stay");
        primed.insert(HashMap::from([(7_u32, Some("x".to_string()))]));
        primed.read_at = Instant::now() - FRESH_FOR - Duration::from_millis(1);
        primed.forget_stale();
        let taken = primed.take::<u32, String>(&[7]);
        assert!(taken.found.is_empty());
        assert_eq!(taken.missing, vec![7]);
    }

    #[test]
    fn key_types_do_not_mix_and_merges_add_up() {
        let mut primed = Primed::default();
        primed.insert(answers([1_u32], |_| Some("one".to_string())));
        let mut more = Primed::default();
        more.insert(answers([2_u32], |_| Some("two".to_string())));
        more.insert(answers([1_u64], |_| Some(10_u64)));
        primed.merge(more);
        let strings = primed.take::<u32, String>(&[1, 2]);
        assert_eq!(strings.found.len(), 2);
        let numbers = primed.take::<u64, u64>(&[1]);
        assert_eq!(numbers.found, HashMap::from([(1, 10)]));
        let other = primed.take::<u32, u64>(&[1]);
        assert_eq!(
            other.missing,
            vec![1],
            "another value type is another store"
        );
    }

    #[test]
    fn a_repeated_key_keeps_its_first_answer() {
        let mut found = HashMap::from([("ada", 1)]);
        let store = answers(["ada", "bob", "ada"], |key| found.remove(key));
        assert_eq!(store, HashMap::from([("ada", Some(1)), ("bob", None)]));
    }

    #[test]
    fn read_ahead_answers_are_handed_out_once_missing_ones_included() {
        let mut store = answers([1, 2, 3], |key| (*key != 2).then_some(key * 10));
        let first = take(&mut store, &[1, 2, 4]);
        assert_eq!(first.found, HashMap::from([(1, 10)]));
        assert_eq!(first.missing, vec![4]);
        let again = take(&mut store, &[1, 3]);
        assert_eq!(again.found, HashMap::from([(3, 30)]));
        assert_eq!(again.missing, vec![1]);
    }
}
