//! Where a subscriber is in the stream of events, as an opaque string it can hand back to
//! resume (`after:` on a subscription; the same string serves as an SSE event id).
//!
//! Why not just the last `seq`: `seq` is taken when a transaction inserts its event, not
//! when it commits, so events commit (and are delivered) out of `seq` order. After
//! delivering seq 12, an event with seq 11 may still be in flight and arrive later. A
//! position is therefore "every seq up to `high`, except `gaps`": the gaps are the seqs
//! below `high` not delivered yet (in flight, or rolled back and never coming). Resuming
//! replays the events after `high` and those in the gaps, and nothing else: exactly what
//! was missed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::AppError;

/// The events delivered so far: all seqs `<= high` except `gaps` (sorted, all below
/// `high`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Position {
    pub high: i64,
    pub gaps: Vec<i64>,
}

impl Position {
    /// Whether the event with this seq was delivered before this position.
    pub fn covers(&self, seq: i64) -> bool {
        seq <= self.high && self.gaps.binary_search(&seq).is_err()
    }

    /// Everything either position covers.
    pub fn join(&self, other: &Position) -> Position {
        let (low, high) = match self.high <= other.high {
            true => (self, other),
            false => (other, self),
        };
        // Up to the lower high a seq is missing only if both miss it; above, if the
        // higher misses it.
        let gaps = high
            .gaps
            .iter()
            .copied()
            .filter(|gap| *gap > low.high || low.gaps.binary_search(gap).is_ok())
            .collect();
        Position {
            high: high.high,
            gaps,
        }
    }
}

/// Which stream a position belongs to: positions are only valid for the subscription
/// (and the arguments) that produced them, since each delivers a different subset of the
/// team's events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamKey {
    pub team: Uuid,
    /// The subscription field and what narrows it (a ticket id, a filter fingerprint).
    pub field: &'static str,
    pub narrowed_by: String,
}

#[derive(Serialize, Deserialize)]
struct Body {
    /// Format version.
    v: u8,
    t: Uuid,
    f: String,
    n: String,
    h: i64,
    /// Gaps as distances below `h`: small numbers, a short string.
    g: Vec<i64>,
    c: String,
}

fn checksum_of(team: &Uuid, field: &str, narrowed_by: &str, position: &Position) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"ticketgate-position-v1");
    hasher.update(team.as_bytes());
    for part in [field, narrowed_by] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher.update(position.high.to_be_bytes());
    for gap in &position.gaps {
        hasher.update(gap.to_be_bytes());
    }
    hex::encode(&hasher.finalize()[..8])
}

pub fn encode(key: &StreamKey, position: &Position) -> String {
    let body = Body {
        v: 1,
        t: key.team,
        f: key.field.to_string(),
        n: key.narrowed_by.clone(),
        h: position.high,
        g: position
            .gaps
            .iter()
            .map(|gap| position.high - gap)
            .collect(),
        c: checksum_of(&key.team, key.field, &key.narrowed_by, position),
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// The position `text` names, if it was made for `key`'s stream; `argument` names the
/// argument in errors.
pub fn decode(argument: &str, key: &StreamKey, text: &str) -> Result<Position, AppError> {
    let invalid = || AppError::bad_input(argument, "invalid event position");
    if text.len() > 4096 {
        return Err(invalid());
    }
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.as_bytes())
        .map_err(|_| invalid())?;
    let body: Body = serde_json::from_slice(&json).map_err(|_| invalid())?;
    if body.v != 1 || body.h < 0 || body.g.iter().any(|d| *d <= 0 || *d > body.h) {
        return Err(invalid());
    }
    let mut gaps: Vec<i64> = body.g.iter().map(|d| body.h - d).collect();
    gaps.sort_unstable();
    gaps.dedup();
    let position = Position { high: body.h, gaps };
    if body.c != checksum_of(&body.t, &body.f, &body.n, &position) {
        return Err(invalid());
    }
    if body.f != key.field {
        return Err(AppError::bad_input(
            argument,
            format!("this position belongs to another subscription ({})", body.f),
        ));
    }
    if body.t != key.team {
        return Err(AppError::bad_input(
            argument,
            "this position belongs to another team",
        ));
    }
    if body.n != key.narrowed_by {
        return Err(AppError::bad_input(
            argument,
            "this position belongs to another subscription of this field (different \
             ticket or filter)",
        ));
    }
    Ok(position)
}

/// How long a seq may stay missing before it is taken for rolled back: the same bound the
/// listener's replay relies on (a transaction commits within this long of inserting its
/// event).
pub const IN_FLIGHT_LIMIT: Duration = Duration::from_secs(30);

/// At most this many missing seqs are remembered (the oldest are let go first).
const MAX_GAPS: usize = 4096;

/// The seqs one process has seen, as a `Position`: updated as events are delivered.
#[derive(Default)]
pub struct Horizon {
    high: Option<i64>,
    missing: BTreeMap<i64, Instant>,
}

impl Horizon {
    /// A horizon that has seen what `position` covers.
    pub fn starting_at(position: &Position, now: Instant) -> Horizon {
        Horizon {
            high: Some(position.high),
            missing: position.gaps.iter().map(|gap| (*gap, now)).collect(),
        }
    }

    /// Records that every seq up to `last_taken` was taken, without delivering one: those
    /// not seen yet are in flight (or rolled back) and become gaps. A horizon that has
    /// seen nothing yet starts at `newest_committed` (the newest event already stored).
    pub fn extend_to(&mut self, newest_committed: Option<i64>, last_taken: i64, now: Instant) {
        let Some(high) = self.high.or(newest_committed) else {
            self.high = Some(last_taken);
            return;
        };
        if last_taken > high {
            let first_missing = (high + 1).max(last_taken - MAX_GAPS as i64);
            for missing in first_missing..=last_taken {
                self.missing.insert(missing, now);
            }
        }
        self.high = Some(high.max(last_taken));
    }

    /// Records that `seq` was delivered and returns the position after it.
    pub fn advance(&mut self, seq: i64, now: Instant) -> Position {
        match self.high {
            None => self.high = Some(seq),
            Some(high) if seq > high => {
                let first_missing = (high + 1).max(seq - MAX_GAPS as i64);
                for missing in first_missing..seq {
                    self.missing.insert(missing, now);
                }
                self.high = Some(seq);
            }
            Some(_) => {
                self.missing.remove(&seq);
            }
        }
        self.missing
            .retain(|_, since| now.duration_since(*since) < IN_FLIGHT_LIMIT);
        while self.missing.len() > MAX_GAPS {
            self.missing.pop_first();
        }
        self.position()
    }

    pub fn position(&self) -> Position {
        Position {
            high: self.high.unwrap_or(0),
            gaps: self.missing.keys().copied().collect(),
        }
    }
}

/// Where a transport that names its events learns each delivered event's position (the
/// `id:` of a Server-Sent Event), as request data: the subscription sets it just before
/// it yields the event, and the transport reads it as it sends that event.
#[derive(Clone, Default)]
pub struct Announced(std::sync::Arc<std::sync::Mutex<Option<std::sync::Arc<str>>>>);

impl Announced {
    pub fn set(&self, position: std::sync::Arc<str>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(position);
        }
    }

    pub fn take(&self) -> Option<std::sync::Arc<str>> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// A position a reconnecting client sent outside the operation (SSE's `Last-Event-ID`), as
/// request data: a subscription without its own `after` resumes from it.
#[derive(Clone, Debug)]
pub struct ResumeFrom(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    fn key(field: &'static str, narrowed_by: &str, team: Uuid) -> StreamKey {
        StreamKey {
            team,
            field,
            narrowed_by: narrowed_by.into(),
        }
    }

    #[test]
    fn positions_round_trip() {
        let team = Uuid::now_v7();
        let k = key("messageAdded", "t1", team);
        let position = Position {
            high: 1_000_000,
            gaps: vec![999_990, 999_999],
        };
        let text = encode(&k, &position);
        assert_eq!(decode("after", &k, &text).unwrap(), position);
        assert!(position.covers(999_998) && position.covers(1_000_000));
        assert!(!position.covers(999_999) && !position.covers(1_000_001));
    }

    #[test]
    fn foreign_edited_and_garbled_positions_are_refused_with_a_reason() {
        let (team, other_team) = (Uuid::now_v7(), Uuid::now_v7());
        let position = Position {
            high: 42,
            gaps: vec![40],
        };
        let text = encode(&key("messageAdded", "t1", team), &position);
        let refusal = |k: &StreamKey, text: &str| match decode("after", k, text) {
            Err(AppError::BadUserInput { message, field }) => {
                assert_eq!(field, "after");
                message
            }
            other => panic!("{other:?}"),
        };
        assert!(refusal(&key("messageAdded", "t1", other_team), &text).contains("another team"));
        assert!(refusal(&key("ticketChanged", "t1", team), &text)
            .contains("another subscription (messageAdded)"));
        assert!(refusal(&key("messageAdded", "t2", team), &text).contains("different ticket"));
        for garbled in ["", "not a position", "eyJ2IjoxfQ", &text[..text.len() - 2]] {
            assert_eq!(
                refusal(&key("messageAdded", "t1", team), garbled),
                "invalid event position"
            );
        }
        // An edited high or gap breaks the checksum.
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .unwrap();
        let edited = String::from_utf8(json)
            .unwrap()
            .replace("\"h\":42", "\"h\":43");
        let edited = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(edited);
        assert_eq!(
            refusal(&key("messageAdded", "t1", team), &edited),
            "invalid event position"
        );
    }

    #[test]
    fn the_horizon_reports_seqs_still_in_flight_as_gaps() {
        let mut horizon = Horizon::default();
        let now = Instant::now();
        assert_eq!(horizon.advance(10, now).gaps, Vec::<i64>::new());
        // 11 and 12 are taken but not committed yet when 13 arrives.
        let at_13 = horizon.advance(13, now);
        assert_eq!((at_13.high, at_13.gaps.clone()), (13, vec![11, 12]));
        assert!(at_13.covers(10) && !at_13.covers(11) && at_13.covers(13));
        // 12 commits late: still high 13, one gap left.
        assert_eq!(horizon.advance(12, now).gaps, vec![11]);
        // 11 never comes (rolled back): forgotten once it cannot be in flight any more.
        let later = now + IN_FLIGHT_LIMIT + Duration::from_secs(1);
        assert_eq!(horizon.advance(14, later).gaps, Vec::<i64>::new());
    }

    #[test]
    fn a_join_covers_what_either_covers() {
        let a = Position {
            high: 10,
            gaps: vec![5, 8],
        };
        let b = Position {
            high: 14,
            gaps: vec![8, 9, 12],
        };
        let joined = a.join(&b);
        assert_eq!(joined, b.join(&a));
        assert_eq!(
            joined,
            Position {
                high: 14,
                gaps: vec![8, 12]
            }
        );
        for seq in 0..20 {
            assert_eq!(joined.covers(seq), a.covers(seq) || b.covers(seq), "{seq}");
        }
    }

    #[test]
    fn seqs_taken_before_a_replica_saw_them_are_gaps() {
        let mut horizon = Horizon::default();
        let now = Instant::now();
        horizon.advance(7, now);
        horizon.extend_to(Some(9), 9, now);
        assert_eq!(
            horizon.position(),
            Position {
                high: 9,
                gaps: vec![8, 9]
            }
        );
        assert_eq!(horizon.advance(9, now).gaps, vec![8]);
        // A fresh horizon starts at the newest stored event; later seqs are in flight.
        let mut fresh = Horizon::default();
        fresh.extend_to(Some(28), 30, now);
        assert_eq!(
            fresh.position(),
            Position {
                high: 30,
                gaps: vec![29, 30]
            }
        );
    }

    #[test]
    fn a_huge_jump_remembers_a_bounded_number_of_gaps() {
        let mut horizon = Horizon::default();
        let now = Instant::now();
        horizon.advance(1, now);
        let position = horizon.advance(1_000_000, now);
        assert_eq!(position.gaps.len(), MAX_GAPS);
        assert_eq!(position.gaps.last(), Some(&999_999));
    }
}
