//! Reading ahead: the nested look-ups a page of tickets will ask its loaders for (person,
//! assignee, tags), fetched in the same trip to the database as the page itself.
//!
//! Without it a page costs two trips to the blocking pool, one after the other: the page,
//! then — once every ticket's resolver has asked — the loaders' statements. Each trip is
//! a hand-off to a blocking thread and back, about as costly in CPU as the statements it
//! carries. The page's resolver knows from the selection what will be asked (async-graphql's
//! look-ahead), runs the very statements the loaders would run, and leaves the answers with
//! the request's loader, which hands them out instead of querying (each answer once: what
//! is read ahead is never served to a later batch of the same request).

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use async_graphql::Lookahead;
use diesel::PgConnection;

use super::loaders::{AssigneeOf, TagsOf};
use crate::assignments::{self, Assignment};
use crate::error::AppError;
use crate::persons::queries::{self as persons, PersonKey};
use crate::persons::Person;
use crate::tickets::{Ticket, TicketScope};

/// Which look-ups a selection of tickets makes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadAhead {
    pub persons: bool,
    pub assignees: bool,
    pub tags: bool,
}

impl ReadAhead {
    /// What the tickets of a `TicketConnection` selection look up (through `nodes` or
    /// `edges.node`, aliases and fragments included).
    pub fn of_connection(connection: &Lookahead<'_>) -> ReadAhead {
        let mut wants = ReadAhead::default();
        for ticket in [
            connection.field("nodes"),
            connection.field("edges").field("node"),
        ] {
            wants.persons |= ticket.field("person").exists();
            wants.assignees |= ticket.field("assignee").exists();
            wants.tags |= ticket.field("tags").exists();
        }
        wants
    }

    /// Runs the loaders' statements for `tickets` (on the page's connection).
    pub fn fetch(
        self,
        conn: &mut PgConnection,
        scope: &TicketScope,
        tickets: &[Ticket],
    ) -> Result<Primed, AppError> {
        let mut primed = Primed::default();
        if tickets.is_empty() {
            return Ok(primed);
        }
        let ids: Vec<_> = tickets.iter().map(|ticket| ticket.id).collect();
        if self.persons {
            let keys: Vec<PersonKey> = tickets.iter().map(Ticket::person_key).collect();
            let mut found = persons::for_keys(conn, scope.team_id, &keys)?;
            primed.persons = answers(keys, |key| found.remove(key));
        }
        if self.assignees {
            let mut found = assignments::queries::for_tickets(conn, &ids)?;
            primed.assignees = answers(ids.iter().map(|id| AssigneeOf(*id)), |key| {
                found.remove(&key.0)
            });
        }
        if self.tags {
            let mut found = crate::tags::queries::for_tickets(conn, &ids)?;
            primed.tags = answers(ids.iter().map(|id| TagsOf(*id)), |key| found.remove(&key.0));
        }
        Ok(primed)
    }
}

/// Every key's answer, a missing one included (`None`: nothing there, do not ask again),
/// each key answered once (tickets of one customer share their person's key).
fn answers<K: Hash + Eq, V>(
    keys: impl IntoIterator<Item = K>,
    mut answer: impl FnMut(&K) -> Option<V>,
) -> HashMap<K, Option<V>> {
    let mut answers = HashMap::new();
    for key in keys {
        if let std::collections::hash_map::Entry::Vacant(slot) = answers.entry(key) {
            let value = answer(slot.key());
            slot.insert(value);
        }
    }
    answers
}

/// How long answers read ahead may wait for their page's lists (which ask within
/// milliseconds). Loaders can outlive a request — a websocket connection keeps its own
/// for all its operations — and an operation cancelled between its page and its lists
/// would otherwise leave answers behind for a later one.
const FRESH_FOR: Duration = Duration::from_secs(2);

/// Answers read ahead, waiting for the loader.
pub struct Primed {
    persons: HashMap<PersonKey, Option<Person>>,
    assignees: HashMap<AssigneeOf, Option<Assignment>>,
    tags: HashMap<TagsOf, Option<Vec<String>>>,
    read_at: Instant,
}

impl Default for Primed {
    fn default() -> Self {
        Primed {
            persons: HashMap::new(),
            assignees: HashMap::new(),
            tags: HashMap::new(),
            read_at: Instant::now(),
        }
    }
}

impl Primed {
    /// Forgets what waited too long (see `FRESH_FOR`).
    pub fn forget_stale(&mut self) {
        if self.read_at.elapsed() > FRESH_FOR {
            *self = Primed::default();
        }
    }

    pub fn merge(&mut self, more: Primed) {
        self.read_at = more.read_at;
        self.persons.extend(more.persons);
        self.assignees.extend(more.assignees);
        self.tags.extend(more.tags);
    }

    pub fn take_persons(&mut self, keys: &[PersonKey]) -> Taken<PersonKey, Person> {
        take(&mut self.persons, keys)
    }

    pub fn take_assignees(&mut self, keys: &[AssigneeOf]) -> Taken<AssigneeOf, Assignment> {
        take(&mut self.assignees, keys)
    }

    pub fn take_tags(&mut self, keys: &[TagsOf]) -> Taken<TagsOf, Vec<String>> {
        take(&mut self.tags, keys)
    }
}

/// What was read ahead for some keys, and the keys still to be asked.
pub struct Taken<K, V> {
    pub found: HashMap<K, V>,
    pub missing: Vec<K>,
}

fn take<K: Hash + Eq + Clone, V>(store: &mut HashMap<K, Option<V>>, keys: &[K]) -> Taken<K, V> {
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
        primed
            .tags
            .insert(TagsOf(uuid::Uuid::nil()), Some(vec!["x".into()]));
        primed.forget_stale();
        assert_eq!(primed.tags.len(), 1, "fresh answers stay");
        primed.read_at = Instant::now() - FRESH_FOR - Duration::from_millis(1);
        primed.forget_stale();
        let taken = primed.take_tags(&[TagsOf(uuid::Uuid::nil())]);
        assert!(taken.found.is_empty());
        assert_eq!(taken.missing.len(), 1);
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
