//! Per-caller rate limit: a token bucket per API key (or per customer), in memory on each
//! replica (governor's GCRA). Over it: HTTP 429, `RATE_LIMITED`, and `Retry-After`.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::Viewer;

pub struct RateLimit {
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    clock: DefaultClock,
}

impl RateLimit {
    /// `per_second` requests on average, bursts of `burst`; 0 turns the limit off.
    pub fn new(per_second: u32, burst: u32) -> RateLimit {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
            RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        RateLimit {
            limiter,
            clock: DefaultClock::default(),
        }
    }

    fn key(viewer: &Viewer) -> String {
        match (&viewer.customer, viewer.key_id) {
            (Some(distinct_id), _) => format!("c:{}:{distinct_id}", viewer.team_id),
            (None, Some(key_id)) => format!("k:{key_id}"),
            (None, None) => format!("t:{}", viewer.team_id),
        }
    }

    /// Ok, or how long to wait before the next request is allowed.
    pub fn check(&self, viewer: &Viewer) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(&Self::key(viewer))
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets callers whose buckets are full again (bounded memory).
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer() -> Viewer {
        Viewer {
            team_id: uuid::Uuid::now_v7(),
            user_id: None,
            key_id: Some(uuid::Uuid::now_v7()),
            scopes: Vec::new(),
            customer: None,
            expires_at: None,
        }
    }

    #[test]
    fn a_burst_then_refusals_with_a_wait() {
        let limit = RateLimit::new(2, 3);
        let (a, b) = (viewer(), viewer());
        for _ in 0..3 {
            assert!(limit.check(&a).is_ok());
        }
        let wait = limit.check(&a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(limit.check(&b).is_ok(), "each caller has its own bucket");
        assert!(RateLimit::new(0, 0).check(&a).is_ok(), "0 turns it off");
    }
}
