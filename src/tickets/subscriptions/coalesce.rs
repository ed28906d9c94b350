//! Coalescing a team's events into bursts, for subscriptions that recompute a whole
//! value (`ticketCounts`) rather than follow each change: a write storm of a thousand
//! events becomes a few recounts a second, not a thousand.

use std::time::Duration;

use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::events::Broker;

/// How long a burst collects further events after its first one, before the value is
/// recomputed once for all of them: at most about four recounts a second per
/// subscription, and a change shows within this plus one recount.
pub(super) const BURST_WINDOW: Duration = Duration::from_millis(250);

/// One item per burst of `team`'s events: it comes `window` after the burst's first
/// event, having taken every event that arrived meanwhile. Subscribed at once, so an
/// event committed after this call is never missed. Events arriving while the consumer
/// recomputes wait in the queue and make the next burst. A queue overflow (events
/// dropped) is a burst too: a recount covers whatever was missed, so unlike followers of
/// each change this stream never ends for falling behind.
pub(super) fn bursts(
    broker: &Broker,
    team: Uuid,
    window: Duration,
) -> impl Stream<Item = ()> + Send + 'static {
    let receiver = broker.subscribe();
    futures_util::stream::unfold(receiver, move |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(delivered) if delivered.event.team == team => break,
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => break,
                Err(RecvError::Closed) => return None,
            }
        }
        let deadline = tokio::time::Instant::now() + window;
        // Until the window closes (or the broker does), take what comes.
        while let Ok(Ok(_) | Err(RecvError::Lagged(_))) =
            tokio::time::timeout_at(deadline, receiver.recv()).await
        {}
        Some(((), receiver))
    })
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::super::feed::tests::event;
    use super::*;

    #[tokio::test]
    async fn a_storm_of_events_is_one_burst() {
        let broker = crate::events::Broker::new(64);
        let (team, other) = (Uuid::now_v7(), Uuid::now_v7());
        let mut bursts = Box::pin(bursts(&broker, team, Duration::from_millis(100)));
        // Another team's events make no burst.
        broker.deliver(event(1, other));
        let quiet = tokio::time::timeout(Duration::from_millis(200), bursts.next()).await;
        assert!(quiet.is_err(), "no burst for another team");
        // More events than the queue holds: the overflow is part of the burst.
        for seq in 2..500 {
            broker.deliver(event(seq, team));
        }
        let started = tokio::time::Instant::now();
        assert_eq!(bursts.next().await, Some(()));
        assert!(started.elapsed() <= Duration::from_millis(150));
        let next = tokio::time::timeout(Duration::from_millis(300), bursts.next()).await;
        assert!(next.is_err(), "the whole storm made one burst");
        broker.deliver(event(600, team));
        assert_eq!(bursts.next().await, Some(()));
    }
}
