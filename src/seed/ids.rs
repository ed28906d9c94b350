//! Run-unique, sequential uuids for bulk-inserted rows.
//!
//! Every id is the run's UUIDv7 prefix (timestamp + random bits, taken once) followed by
//! a kind tag and a counter. Two runs never share a prefix, so ids stay unique when a team
//! is seeded twice; within a run ids only grow, so each primary-key index is appended to
//! at its right edge instead of being split at random places — much faster for COPY of
//! millions of rows than random v4 ids.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use uuid::Uuid;

/// The prefix of the last run started in this process.
static LAST_PREFIX: Mutex<u128> = Mutex::new(0);

/// What an id is for: each kind counts on its own, so all kinds stay sequential.
#[derive(Clone, Copy, Debug)]
pub enum IdKind {
    Person = 1,
    Ticket = 2,
    Message = 3,
    Assignment = 4,
    DistinctId = 5,
    Session = 6,
}

const KINDS: usize = 7;
/// The low 62 bits of a v7 uuid are random (after the 2 variant bits); here they hold a
/// 6-bit kind tag, a 32-bit counter (4 billion rows per kind and run), and 24 bits
/// hashed from the counter — so ids still sort in creation order but do not end in
/// long runs of zeros like `…-000000000c2a`.
const RAND_B_BITS: u32 = 62;
const KIND_SHIFT: u32 = 56;
const COUNTER_SHIFT: u32 = 24;
const NOISE_MASK: u64 = (1 << COUNTER_SHIFT) - 1;

pub struct IdGen {
    prefix: u128,
    next: [u32; KINDS],
}

impl IdGen {
    /// A fresh prefix: call once per run.
    ///
    /// Several runs in one process (`seed --teams N`) may start within a millisecond,
    /// and the uuid crate then keeps the top bits of `now_v7` (it counts in the low ones
    /// we replace): so each prefix must be above the last one this process handed out,
    /// waiting for the next millisecond if need be.
    pub fn for_new_run() -> Self {
        loop {
            let prefix = Uuid::now_v7().as_u128() & !((1u128 << RAND_B_BITS) - 1);
            let mut last = LAST_PREFIX.lock().unwrap_or_else(PoisonError::into_inner);
            if prefix > *last {
                *last = prefix;
                return IdGen {
                    prefix,
                    next: [0; KINDS],
                };
            }
            drop(last);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    pub fn next(&mut self, kind: IdKind) -> Uuid {
        let slot = kind as usize;
        let counter = self.next[slot];
        self.next[slot] = counter.wrapping_add(1);
        let counter = u64::from(counter);
        let noise = splitmix64(counter ^ (self.prefix >> 64) as u64) & NOISE_MASK;
        let low = ((kind as u64) << KIND_SHIFT) | (counter << COUNTER_SHIFT) | noise;
        Uuid::from_u128(self.prefix | u128::from(low))
    }
}

/// A cheap, well-mixing hash (SplitMix64's finaliser).
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_v7_sequential_and_distinct_per_kind() {
        let mut ids = IdGen::for_new_run();
        let a = ids.next(IdKind::Ticket);
        let b = ids.next(IdKind::Ticket);
        let c = ids.next(IdKind::Message);
        assert!(a < b);
        let many: Vec<Uuid> = (0..1000).map(|_| ids.next(IdKind::Person)).collect();
        assert!(many.windows(2).all(|w| w[0] < w[1]));
        assert_ne!(a, c);
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(c.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn runs_started_at_once_get_distinct_prefixes() {
        let firsts: Vec<Uuid> = (0..20)
            .map(|_| IdGen::for_new_run().next(IdKind::Ticket))
            .collect();
        assert!(firsts.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn two_runs_do_not_collide() {
        let a = IdGen::for_new_run().next(IdKind::Ticket);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = IdGen::for_new_run().next(IdKind::Ticket);
        assert_ne!(a, b);
    }
}
