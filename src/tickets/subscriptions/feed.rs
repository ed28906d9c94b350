//! What one subscription receives: its team's events, live from the broker, first
//! replayed from the outbox when it resumes from a position; each with the position it
//! reaches. `follow` turns them into items, attaching positions and ending with a coded
//! error that says where the subscriber stands.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use async_graphql::{ErrorExtensions, Result};
use futures_util::Stream;
use tokio::sync::broadcast::{self, error::RecvError};

use super::Subscriber;
use crate::error::{AppError, ErrorCode};
use crate::events::position::{self, Announced, Horizon, ResumeFrom};
use crate::events::{outbox, Broker, Delivered, Event, Position, StreamKey};

/// A resume may replay at most this many events (of every team); further back is
/// treated like a position older than the outbox keeps.
const REPLAY_LIMIT: i64 = 100_000;

/// One step of a subscription's feed.
enum Step {
    Event(Event, Position),
    /// Its queue overflowed: this many events were dropped.
    Lagged(u64),
}

/// A subscription that could not keep up: its queue overflowed and events were dropped.
/// It ends with this error rather than silently missing changes.
pub(super) fn lagged(missed: u64) -> async_graphql::Error {
    ErrorCode::SubscriberLagged.error(format!(
        "this subscription fell too far behind ({missed} events dropped); resume from its \
         last position (`after`) or subscribe again"
    ))
}

/// Every event after the subscriber's start (`after`, or now), in order: the replay from
/// the outbox, then live ones it does not repeat.
pub(super) struct Feed {
    key: StreamKey,
    start: Position,
    replay: VecDeque<(Event, Position)>,
    /// What the replay delivered: live events it covers are skipped, and live positions
    /// are joined with it (the broker may not have seen all of the replay yet).
    replayed: Option<Position>,
    receiver: broadcast::Receiver<Arc<Delivered>>,
    /// Told each delivered event's position (see `Announced`).
    announced: Option<Announced>,
}

impl Feed {
    /// Starts the feed of `key`'s stream: live from now, or resumed after the position
    /// `after` names (checked, and the replay read, before this returns).
    pub(super) async fn open(
        sub: &Subscriber,
        key: StreamKey,
        after: Option<&str>,
    ) -> Result<Feed> {
        // The operation's own `after` wins over a transport's resume header.
        let given = match (after, &sub.resume) {
            (Some(text), _) => Some(("after", text)),
            (None, Some(ResumeFrom(text))) => Some(("Last-Event-ID", text.as_str())),
            (None, None) => None,
        };
        let resume = match given {
            Some((argument, text)) => {
                Some(position::decode(argument, &key, text).map_err(|e| e.extend())?)
            }
            None => None,
        };
        let mut live = Feed::live(key, &sub.broker);
        live.announced = sub.announced.clone();
        let Some(resume) = resume else {
            return Ok(live);
        };
        let from = resume.clone();
        let events = sub
            .db
            .run(move |conn| {
                let extent = outbox::extent(conn)?;
                check_resumable(&from, &extent)?;
                let events = outbox::after(conn, &from, REPLAY_LIMIT + 1)?;
                if events.len() as i64 > REPLAY_LIMIT {
                    return Err(expired(format!(
                        "more than {REPLAY_LIMIT} events happened after this position"
                    )));
                }
                Ok(events)
            })
            .await
            .map_err(|e| e.extend())?;
        let mut horizon = Horizon::starting_at(&resume, Instant::now());
        let replay: VecDeque<(Event, Position)> = events
            .into_iter()
            .map(|event| {
                let position = horizon.advance(event.seq, Instant::now());
                (event, position)
            })
            .collect();
        Ok(Feed {
            start: resume,
            replay,
            replayed: Some(horizon.position()),
            ..live
        })
    }

    /// The live events from now on.
    fn live(key: StreamKey, broker: &Broker) -> Feed {
        // The broker's position first, then the queue: see `Broker::position`.
        let start = broker.position();
        Feed {
            key,
            start,
            replay: VecDeque::new(),
            replayed: None,
            receiver: broker.subscribe(),
            announced: None,
        }
    }

    async fn next(&mut self) -> Option<Step> {
        if let Some((event, position)) = self.replay.pop_front() {
            return Some(Step::Event(event, position));
        }
        loop {
            match self.receiver.recv().await {
                Ok(delivered) => {
                    let Delivered { event, position } = &*delivered;
                    match &self.replayed {
                        Some(replayed) if replayed.covers(event.seq) => continue,
                        Some(replayed) => {
                            return Some(Step::Event(event.clone(), replayed.join(position)))
                        }
                        None => return Some(Step::Event(event.clone(), position.clone())),
                    }
                }
                Err(RecvError::Lagged(missed)) => return Some(Step::Lagged(missed)),
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

fn expired(why: String) -> AppError {
    AppError::PositionExpired(format!(
        "{why}: the events after this position are no longer kept; read the current state \
         and subscribe again without `after`"
    ))
}

/// Refuses positions the outbox cannot resume from: ahead of every event ever taken, or
/// older than the oldest event kept.
fn check_resumable(position: &Position, extent: &outbox::Extent) -> Result<(), AppError> {
    if position.high > extent.last_taken {
        return Err(AppError::bad_input(
            "after",
            "this position is ahead of every event: it was not given by this server",
        ));
    }
    let pruned = match extent.oldest_kept {
        Some(oldest) => position.high + 1 < oldest,
        None => position.high < extent.last_taken,
    };
    match pruned {
        true => Err(expired(
            "this position is older than the events kept".into(),
        )),
        false => Ok(()),
    }
}

/// What a handler makes of one of its team's events: an item for the subscriber, or
/// nothing (an event it does not follow).
pub(super) type Handled<T> = Result<Option<T>>;

/// Turns a feed into a subscription's items: other teams' events are passed over, each
/// of the team's goes through `handle`, one after another (so items keep the events'
/// order), and each item gets the position it leaves the subscriber at (`place`). The
/// first error ends the subscription, after being sent with `extensions.position`: where
/// to resume from, since every event before it was delivered and none after.
pub(super) fn follow<T, H, Fut>(
    feed: Feed,
    handle: H,
    place: fn(&mut T, Arc<str>),
) -> impl Stream<Item = Result<T>>
where
    H: FnMut(Event) -> Fut,
    Fut: Future<Output = Handled<T>>,
{
    let last = feed.start.clone();
    futures_util::stream::unfold(Some((feed, last, handle)), move |state| async move {
        let (mut feed, mut last, mut handle) = state?;
        loop {
            let (event, position) = match feed.next().await? {
                Step::Event(event, position) => (event, position),
                Step::Lagged(missed) => {
                    return Some((Err(with_position(lagged(missed), &feed.key, &last)), None));
                }
            };
            if event.team != feed.key.team {
                last = position;
                continue;
            }
            match handle(event).await {
                Ok(Some(mut item)) => {
                    let encoded: Arc<str> = position::encode(&feed.key, &position).into();
                    if let Some(announced) = &feed.announced {
                        announced.set(encoded.clone());
                    }
                    place(&mut item, encoded);
                    return Some((Ok(item), Some((feed, position, handle))));
                }
                Ok(None) => last = position,
                Err(error) => {
                    return Some((Err(with_position(error, &feed.key, &last)), None));
                }
            }
        }
    })
}

fn with_position(
    mut error: async_graphql::Error,
    key: &StreamKey,
    position: &Position,
) -> async_graphql::Error {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("position", position::encode(key, position));
    error
}

#[cfg(test)]
pub(super) mod tests {
    use futures_util::StreamExt;
    use uuid::Uuid;

    use super::*;
    use crate::events::EventKind;

    /// A message event of `team` (shared with the subscriptions' own tests).
    pub(in crate::tickets::subscriptions) fn event(seq: i64, team: Uuid) -> Event {
        Event {
            seq,
            team,
            kind: EventKind::MessageAdded,
            ticket: Uuid::nil(),
            message: None,
            trace: None,
        }
    }

    fn key(team: Uuid) -> StreamKey {
        StreamKey {
            team,
            field: "messageAdded",
            narrowed_by: String::new(),
        }
    }

    fn position_of(error: &async_graphql::Error, team: Uuid) -> Position {
        let extensions = error.extensions.as_ref().unwrap();
        let text = match extensions.get("position") {
            Some(async_graphql::Value::String(text)) => text.clone(),
            other => panic!("no position: {other:?}"),
        };
        position::decode("after", &key(team), &text).unwrap()
    }

    #[tokio::test]
    async fn an_error_ends_the_subscription_with_the_position_before_it() {
        let broker = Broker::new(64);
        let (team, other) = (Uuid::now_v7(), Uuid::now_v7());
        let feed = Feed::live(key(team), &broker);
        let handle = |event: Event| async move {
            match event.seq {
                3 => Err(ErrorCode::DbUnavailable.error("gone")),
                _ => Ok(Some((event.seq, None))),
            }
        };
        let place = |item: &mut (i64, Option<Arc<str>>), at: Arc<str>| item.1 = Some(at);
        let mut items = Box::pin(follow(feed, handle, place));
        broker.deliver(event(1, team));
        broker.deliver(event(2, other));
        broker.deliver(event(3, team));
        broker.deliver(event(4, team));
        let (seq, at) = items.next().await.unwrap().unwrap();
        assert_eq!(seq, 1);
        let at = position::decode("after", &key(team), &at.unwrap()).unwrap();
        assert_eq!(at.high, 1);
        let error = items.next().await.unwrap().unwrap_err();
        // Seq 2 (another team's) was passed; seq 3 failed and is not covered.
        let stands = position_of(&error, team);
        assert!(stands.covers(2) && !stands.covers(3), "{stands:?}");
        assert!(items.next().await.is_none(), "the subscription ends");
    }

    #[tokio::test]
    async fn an_overflow_ends_the_subscription_with_its_position() {
        let broker = Broker::new(16);
        let team = Uuid::now_v7();
        broker.deliver(event(1, team));
        let feed = Feed::live(key(team), &broker);
        let handle = |event: Event| async move { Ok(Some(event.seq)) };
        let mut items = Box::pin(follow(feed, handle, |_: &mut i64, _| {}));
        for seq in 2..40 {
            broker.deliver(event(seq, team));
        }
        let error = items.next().await.unwrap().unwrap_err();
        assert!(
            error.message.contains("fell too far behind"),
            "{}",
            error.message
        );
        assert_eq!(
            position_of(&error, team).high,
            1,
            "nothing after it was delivered"
        );
        assert!(items.next().await.is_none());
    }
}
