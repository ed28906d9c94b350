//! A response's budget of bytes, spent while the response is built.
//!
//! The depth, complexity and alias limits bound how many fields a response has, not how
//! big their values are: twenty aliases of `messages(first: 500) { nodes { content } }`
//! over 64 KiB messages built a 654 MB answer (2.4 GB of memory) within every one of
//! them. Each list charges the text and JSON it puts into the response as it builds it
//! (see `lists::resolve_objects`); the first charge past the budget fails the field with
//! `RESPONSE_TOO_LARGE`, every later one too, and the `Gateway` then answers the request
//! with that error alone, dropping what was built. Big rows (message pages) are charged
//! when read as well (`hold`): the budget bounds what the request holds, rows and
//! response together, not only what it sends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use async_graphql::{ServerError, Value};
use uuid::Uuid;

use crate::error::ErrorCode;

/// What a scalar costs beyond its text: the `Value` that holds it and its JSON syntax.
const PER_VALUE: usize = 16;

/// One request's budget (in its data; absent: no budget).
pub struct ResponseBudget {
    limit: usize,
    spent: AtomicUsize,
    /// What all requests of the same credential hold together, and its limit.
    shared: Option<(Arc<AtomicUsize>, usize)>,
}

/// Who a request's bytes count against beyond the request itself: its API key, or, for
/// customer tokens (which anyone with the support widget can get), the team's customers
/// together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Holder {
    Key(Uuid),
    CustomersOf(Uuid),
}

/// The bytes each credential's requests in flight hold together. Without it one key
/// could hold its budget once per concurrent request (six twenty-alias queries at once
/// peaked at 7.4 GB before the budget existed).
pub struct HeldBytes {
    limit: usize,
    by_holder: Mutex<HashMap<Holder, Weak<AtomicUsize>>>,
}

impl HeldBytes {
    /// `limit` bytes per credential (0: none).
    pub fn new(limit: usize) -> Self {
        HeldBytes {
            limit,
            by_holder: Mutex::default(),
        }
    }

    /// A budget of `limit` bytes for one request of `holder`.
    pub fn budget(&self, limit: usize, holder: Option<Holder>) -> ResponseBudget {
        let shared = holder
            .filter(|_| self.limit > 0)
            .map(|holder| (self.counter(holder), self.limit));
        ResponseBudget {
            limit,
            spent: AtomicUsize::new(0),
            shared,
        }
    }

    fn counter(&self, holder: Holder) -> Arc<AtomicUsize> {
        let mut by_holder = self
            .by_holder
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(counter) = by_holder.get(&holder).and_then(Weak::upgrade) {
            return counter;
        }
        // Entries of credentials with nothing in flight are dropped now and then.
        if by_holder.len() >= 4096 {
            by_holder.retain(|_, counter| counter.strong_count() > 0);
        }
        let counter = Arc::new(AtomicUsize::new(0));
        by_holder.insert(holder, Arc::downgrade(&counter));
        counter
    }
}

impl Drop for ResponseBudget {
    /// What the request held is let go with it.
    fn drop(&mut self) {
        if let Some((held, _)) = &self.shared {
            held.fetch_sub(*self.spent.get_mut(), Ordering::Relaxed);
        }
    }
}

impl ResponseBudget {
    /// What the request may still take before it, or its credential's requests together,
    /// pass their limit. Statements that read big rows stop there (`hold`'s rows are
    /// charged only once read: without this, every concurrent request of a key could read
    /// a full page before the first charge refused them).
    pub fn room(&self) -> usize {
        let own = self
            .limit
            .saturating_sub(self.spent.load(Ordering::Relaxed));
        match &self.shared {
            Some((held, limit)) => own.min(limit.saturating_sub(held.load(Ordering::Relaxed))),
            None => own,
        }
    }

    /// Spends `bytes`; an error once the total passes the limit.
    pub fn charge(&self, bytes: usize) -> Result<(), ServerError> {
        match self.spend(bytes) {
            true => Ok(()),
            false => Err(ErrorCode::ResponseTooLarge.server_error(self.refusal(), None)),
        }
    }

    /// Spends `bytes` for rows a resolver holds while the response is built from them
    /// (the response copies their text: at its peak a request holds both). Charged as soon
    /// as they are read, so twenty aliases of one big page are refused before any of them
    /// is copied into the response, and memory stays within about the budget.
    pub fn hold(&self, bytes: usize) -> async_graphql::Result<()> {
        match self.spend(bytes) {
            true => Ok(()),
            false => Err(ErrorCode::ResponseTooLarge.error(self.refusal())),
        }
    }

    /// False once the request's total, or its credential's, passes its limit.
    fn spend(&self, bytes: usize) -> bool {
        let spent = self
            .spent
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        let shared_ok = self.shared.as_ref().is_none_or(|(held, limit)| {
            held.fetch_add(bytes, Ordering::Relaxed)
                .saturating_add(bytes)
                <= *limit
        });
        spent <= self.limit && shared_ok
    }

    fn refusal(&self) -> String {
        let spent = self.spent.load(Ordering::Relaxed);
        match &self.shared {
            Some((_, limit)) if spent <= self.limit => format!(
                "this credential's requests in flight would hold more than {limit} bytes \
                 together: wait for them, or ask for fewer or smaller items"
            ),
            _ => format!(
                "the response would carry more than {} bytes: ask for fewer or smaller items",
                self.limit
            ),
        }
    }
}

/// What `value` weighs in the response: its text plus a little per value. Walked with an
/// explicit stack (JSON values nest as deep as the stored document does).
pub fn weight(value: &Value) -> usize {
    let mut total = 0usize;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        total = total.saturating_add(PER_VALUE);
        match value {
            Value::String(text) => total = total.saturating_add(text.len()),
            Value::Enum(name) => total = total.saturating_add(name.len()),
            Value::List(items) => stack.extend(items),
            Value::Object(fields) => {
                for (key, item) in fields {
                    total = total.saturating_add(key.len());
                    stack.push(item);
                }
            }
            _ => {}
        }
    }
    total
}

/// True when the response failed for its size: it is then answered with that error only.
pub fn exceeded(response: &async_graphql::Response) -> Option<ServerError> {
    response
        .errors
        .iter()
        .find(|error| {
            error
                .extensions
                .as_ref()
                .and_then(|extensions| extensions.get("code"))
                .is_some_and(|code| {
                    *code == Value::String(ErrorCode::ResponseTooLarge.as_str().into())
                })
        })
        .map(|error| {
            let mut error = error.clone();
            error.path.clear();
            error.locations.clear();
            error
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charges_add_up_until_the_limit() {
        let budget = HeldBytes::new(0).budget(100, None);
        assert!(budget.charge(60).is_ok());
        assert!(budget.charge(40).is_ok());
        assert!(budget.charge(1).is_err());
        assert!(budget.charge(0).is_err());
    }

    #[test]
    fn one_credentials_requests_share_a_limit_until_they_end() {
        let held = HeldBytes::new(100);
        let key = Some(Holder::Key(Uuid::now_v7()));
        let first = held.budget(80, key);
        let second = held.budget(80, key);
        let other = held.budget(80, Some(Holder::Key(Uuid::now_v7())));
        assert!(first.hold(60).is_ok());
        let refused = second.hold(60).unwrap_err();
        assert!(
            refused.message.contains("requests in flight"),
            "{}",
            refused.message
        );
        assert!(other.hold(60).is_ok(), "another key has its own share");
        drop((first, second));
        let third = held.budget(80, key);
        assert!(third.hold(60).is_ok(), "what ended was let go");
        assert!(
            third.charge(30).is_err(),
            "the request's own limit still holds"
        );
    }

    #[test]
    fn room_is_what_is_left_of_the_request_and_its_credential() {
        let held = HeldBytes::new(100);
        let key = Some(Holder::Key(Uuid::now_v7()));
        let first = held.budget(80, key);
        assert_eq!(first.room(), 80, "the request's own limit first");
        first.hold(30).unwrap();
        assert_eq!(first.room(), 50);
        let second = held.budget(80, key);
        assert_eq!(
            second.room(),
            70,
            "the key's allowance less what the first holds"
        );
        drop(first);
        assert_eq!(second.room(), 80);
        assert_eq!(HeldBytes::new(0).budget(10, key).room(), 10, "no allowance");
    }

    #[test]
    fn weight_counts_text_keys_and_values() {
        let value = Value::from_json(serde_json::json!({"a": "xyz", "b": [1, "hi"]})).unwrap();
        // 5 values (object, "xyz", list, 1, "hi") + keys "a", "b" + text.
        assert_eq!(weight(&value), 5 * PER_VALUE + 2 + 3 + 2);
    }
}
