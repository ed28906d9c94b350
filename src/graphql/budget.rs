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

use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::{ServerError, Value};

use crate::error::ErrorCode;

/// What a scalar costs beyond its text: the `Value` that holds it and its JSON syntax.
const PER_VALUE: usize = 16;

/// One request's budget (in its data; absent: no budget).
pub struct ResponseBudget {
    limit: usize,
    spent: AtomicUsize,
}

impl ResponseBudget {
    pub fn new(limit: usize) -> Self {
        ResponseBudget {
            limit,
            spent: AtomicUsize::new(0),
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

    /// False once the total passes the limit.
    fn spend(&self, bytes: usize) -> bool {
        let spent = self
            .spent
            .fetch_add(bytes, Ordering::Relaxed)
            .saturating_add(bytes);
        spent <= self.limit
    }

    fn refusal(&self) -> String {
        format!(
            "the response would carry more than {} bytes: ask for fewer or smaller items",
            self.limit
        )
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
        let budget = ResponseBudget::new(100);
        assert!(budget.charge(60).is_ok());
        assert!(budget.charge(40).is_ok());
        assert!(budget.charge(1).is_err());
        assert!(budget.charge(0).is_err());
    }

    #[test]
    fn weight_counts_text_keys_and_values() {
        let value = Value::from_json(serde_json::json!({"a": "xyz", "b": [1, "hi"]})).unwrap();
        // 5 values (object, "xyz", list, 1, "hi") + keys "a", "b" + text.
        assert_eq!(weight(&value), 5 * PER_VALUE + 2 + 3 + 2);
    }
}
