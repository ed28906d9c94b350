//! Relay page arguments and opaque keyset cursors: the one place both are decided.
//!
//! A cursor is `base64url(json)` where the json holds the sort key of a row, its id, a
//! fingerprint of the query it came from (filter + order) and a checksum. A cursor from
//! another query, or one edited by hand, is refused with BAD_USER_INPUT instead of
//! silently returning a wrong page.

use async_graphql::Lookahead;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::AppError;

/// Page-size limits, from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct PageLimits {
    pub default_size: i32,
    pub max_size: i32,
}

impl Default for PageLimits {
    fn default() -> Self {
        PageLimits {
            default_size: 50,
            max_size: 500,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `first`/`after`: rows after the cursor, in the query's order.
    Forward,
    /// `last`/`before`: rows before the cursor, read in reverse and flipped back.
    Backward,
}

/// Where a page starts: a row's sort key (as JSON, typed by the query) and its id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub key: serde_json::Value,
    pub id: Uuid,
}

#[derive(Clone, Debug)]
pub struct PageRequest {
    pub size: i64,
    pub direction: Direction,
    pub from: Option<Position>,
}

#[derive(Serialize, Deserialize)]
struct CursorBody {
    q: String,
    k: serde_json::Value,
    i: Uuid,
    c: String,
}

/// A short fingerprint of anything serialisable (the query's filter and order).
pub fn fingerprint(query: &impl Serialize) -> String {
    let json = serde_json::to_vec(query).unwrap_or_default();
    hex::encode(&Sha256::digest(&json)[..8])
}

fn checksum(query: &str, key: &serde_json::Value, id: &Uuid) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"ticketgate-cursor-v1");
    hasher.update(query.as_bytes());
    hasher.update(key.to_string().as_bytes());
    hasher.update(id.as_bytes());
    hex::encode(&hasher.finalize()[..8])
}

/// Which edges of a page need their cursor: each of them when the selection asks for
/// `edges { cursor }` (aliases and fragments included), else only the first and the last,
/// for `pageInfo`'s start and end. A `nodes` page of 50 then encodes 2 cursors, not 50
/// (each a SHA-256 and a base64 of some JSON); the others are left empty, never read.
#[derive(Clone, Copy, Debug)]
pub struct CursorsWanted {
    every: bool,
    len: usize,
}

impl CursorsWanted {
    /// For a page of `len` edges of the connection selected by `connection`.
    pub fn of(connection: &Lookahead<'_>, len: usize) -> CursorsWanted {
        CursorsWanted {
            every: connection.field("edges").field("cursor").exists(),
            len,
        }
    }

    pub fn at(self, index: usize) -> bool {
        self.every || index == 0 || index + 1 == self.len
    }
}

pub fn encode_cursor(query: &str, position: &Position) -> String {
    let body = CursorBody {
        q: query.to_string(),
        k: position.key.clone(),
        i: position.id,
        c: checksum(query, &position.key, &position.id),
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

pub fn decode_cursor(argument: &str, query: &str, cursor: &str) -> Result<Position, AppError> {
    let invalid = || AppError::bad_input(argument, "invalid cursor");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| invalid())?;
    let body: CursorBody = serde_json::from_slice(&json).map_err(|_| invalid())?;
    if body.c != checksum(&body.q, &body.k, &body.i) {
        return Err(invalid());
    }
    if body.q != query {
        return Err(AppError::bad_input(
            argument,
            "this cursor belongs to another query (different filter or order)",
        ));
    }
    Ok(Position {
        key: body.k,
        id: body.i,
    })
}

/// What a page costs in the complexity budget: its size (50 when not given, never below
/// 1 so that `first: 0` still pays for its fields), times what each item selects.
pub fn page_cost(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let size = first.or(last).unwrap_or(50).clamp(1, i32::MAX) as usize;
    size.saturating_mul(child_complexity).saturating_add(1)
}

/// Validates Relay arguments into one page request.
pub fn page_request(
    limits: PageLimits,
    query: &str,
    first: Option<i32>,
    after: Option<&str>,
    last: Option<i32>,
    before: Option<&str>,
) -> Result<PageRequest, AppError> {
    if first.is_some() && last.is_some() {
        return Err(AppError::bad_input(
            "last",
            "use either `first` or `last`, not both",
        ));
    }
    if after.is_some() && before.is_some() {
        return Err(AppError::bad_input(
            "before",
            "use either `after` or `before`, not both",
        ));
    }
    let check = |name: &str, size: i32| {
        if size < 0 {
            Err(AppError::bad_input(name, "must not be negative"))
        } else if size > limits.max_size {
            Err(AppError::bad_input(
                name,
                format!("must be at most {}", limits.max_size),
            ))
        } else {
            Ok(i64::from(size))
        }
    };
    let backward = last.is_some() || (before.is_some() && first.is_none());
    let (size, direction) = match (first, last) {
        (Some(n), None) => (check("first", n)?, Direction::Forward),
        (None, Some(n)) => (check("last", n)?, Direction::Backward),
        _ if backward => (i64::from(limits.default_size), Direction::Backward),
        _ => (i64::from(limits.default_size), Direction::Forward),
    };
    let from = match (after, before) {
        (Some(cursor), _) => Some(decode_cursor("after", query, cursor)?),
        (_, Some(cursor)) => Some(decode_cursor("before", query, cursor)?),
        _ => None,
    };
    if direction == Direction::Forward && before.is_some() {
        return Err(AppError::bad_input("before", "`before` goes with `last`"));
    }
    if direction == Direction::Backward && after.is_some() {
        return Err(AppError::bad_input("after", "`after` goes with `first`"));
    }
    Ok(PageRequest {
        size,
        direction,
        from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_other_queries_and_edits() {
        let position = Position {
            key: serde_json::json!(1_700_000_000_000_000i64),
            id: Uuid::nil(),
        };
        let cursor = encode_cursor("q1", &position);
        assert_eq!(decode_cursor("after", "q1", &cursor).unwrap(), position);
        assert!(decode_cursor("after", "q2", &cursor).is_err());
        let mut forged = cursor.clone().into_bytes();
        forged[5] = if forged[5] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        assert!(decode_cursor("after", "q1", &forged).is_err());
        assert!(decode_cursor("after", "q1", "not a cursor").is_err());
    }

    #[test]
    fn page_arguments_are_validated() {
        let limits = PageLimits::default();
        assert_eq!(
            page_request(limits, "q", None, None, None, None)
                .unwrap()
                .size,
            50
        );
        assert!(page_request(limits, "q", Some(-1), None, None, None).is_err());
        assert!(page_request(limits, "q", Some(501), None, None, None).is_err());
        assert!(page_request(limits, "q", Some(1), None, Some(1), None).is_err());
        let back = page_request(limits, "q", None, None, Some(3), None).unwrap();
        assert_eq!((back.size, back.direction), (3, Direction::Backward));
    }
}
