//! The `Subscription` root: live messages, inbox changes and the unread count, fed by the
//! broker (events from every replica, through LISTEN/NOTIFY). Events carry ids; each
//! subscription reads rows itself, scoped to its viewer's team.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Enum, ErrorExtensions, Result, SimpleObject, Subscription};
use futures_util::{FutureExt, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use self::coalesce::{bursts, BURST_WINDOW};
use self::feed::{follow, lagged, Feed, Handled};
use self::outage::riding_out;
use super::counts::{self, TicketCounts};
use super::filter::TicketFilter;
use super::messages::writes as messages;
use super::messages::Message;
use super::presence::{self, TicketPresence};
use super::projection::Columns;
use super::views;
use super::{queries as tickets, Ticket};
use crate::auth::{TicketScope, Viewer};
use crate::db::Db;
use crate::error::{AppError, IntoGql};
use crate::events::position::{Announced, ResumeFrom};
use crate::events::{Broker, Event, EventKind, StreamKey};
use crate::graphql::context::{RequestContext, SchemaData};
use crate::graphql::pagination;

mod coalesce;
mod feed;
mod outage;

/// The events of one team, in commit order, ending with an error after an overflow (for
/// `unreadCount`, which has no position to resume from: it starts with the value now).
fn team_events(
    broker: &Broker,
    team_id: Uuid,
) -> impl Stream<Item = Result<Event>> + Send + 'static {
    let receiver = broker.subscribe();
    futures_util::stream::unfold(Some(receiver), move |state| async move {
        let mut receiver = state?;
        loop {
            match receiver.recv().await {
                Ok(delivered) if delivered.event.team == team_id => {
                    return Some((Ok(delivered.event.clone()), Some(receiver)))
                }
                Ok(_) => continue,
                Err(RecvError::Lagged(missed)) => return Some((Err(lagged(missed)), None)),
                Err(RecvError::Closed) => return None,
            }
        }
    })
}

/// What happened to a ticket in the inbox.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum TicketChangeKind {
    /// A new ticket.
    Created,
    /// Its fields changed (status, priority, tags, snooze, read counters…).
    Updated,
    /// Its assignee changed.
    Assigned,
    /// A message was added or deleted.
    Message,
}

impl TicketChangeKind {
    fn of(kind: EventKind) -> TicketChangeKind {
        match kind {
            EventKind::TicketCreated => TicketChangeKind::Created,
            EventKind::TicketUpdated | EventKind::TicketRead => TicketChangeKind::Updated,
            EventKind::TicketAssigned => TicketChangeKind::Assigned,
            EventKind::MessageAdded | EventKind::MessageDeleted => TicketChangeKind::Message,
        }
    }
}

/// A change of a ticket, with the ticket as it is now.
#[derive(SimpleObject)]
pub struct TicketChange {
    pub kind: TicketChangeKind,
    pub ticket: Ticket,
    /// The message added or deleted, for `MESSAGE` changes.
    pub message_id: Option<Uuid>,
    /// Where the live stream stood after this change: give it back as
    /// `ticketChanged(after:)` to resume right after it.
    pub event_position: Arc<str>,
}

struct Subscriber {
    db: Db,
    viewer: Viewer,
    broker: Arc<Broker>,
    /// How long an event's read may wait out a database outage.
    grace: Duration,
    /// Where the transport learns each event's position (SSE), if it asks.
    announced: Option<Announced>,
    /// The position a reconnecting client sent outside the operation (SSE's
    /// `Last-Event-ID`), if any.
    resume: Option<ResumeFrom>,
}

impl Subscriber {
    fn of(ctx: &Context<'_>) -> Result<Subscriber> {
        let rc = RequestContext::of(ctx)?;
        let broker = ctx
            .data::<Arc<Broker>>()
            .map_err(|_| AppError::internal("event broker missing").extend())?;
        let grace = ctx
            .data::<SchemaData>()
            .map_or(DEFAULT_GRACE, |shared| shared.subscription_outage_grace);
        Ok(Subscriber {
            db: rc.db.clone(),
            viewer: rc.viewer.clone(),
            broker: broker.clone(),
            grace,
            announced: ctx.data_opt::<Announced>().cloned(),
            resume: ctx.data_opt::<ResumeFrom>().cloned(),
        })
    }
}

impl Subscriber {
    /// The stream `field` of this viewer's team, narrowed by `narrowed_by`.
    fn stream(&self, field: &'static str, narrowed_by: String) -> StreamKey {
        StreamKey {
            team: self.viewer.team_id,
            field,
            narrowed_by,
        }
    }
}

/// The grace when the schema was built without its data (schema printing, tests).
const DEFAULT_GRACE: Duration = Duration::from_secs(30);

/// Ends a subscription after its first error (after reporting it): a subscriber that
/// missed an event must know it and subscribe again, rather than silently skip it.
fn until_error<T, S>(stream: S) -> impl Stream<Item = Result<T>>
where
    S: Stream<Item = Result<T>>,
{
    stream.scan(false, |failed, item| {
        let next = match *failed {
            true => None,
            false => {
                *failed = item.is_err();
                Some(item)
            }
        };
        async move { next }
    })
}

/// Reads shared by the subscriptions of one event (see `Broker::once`); failures are
/// reported to each of them.
async fn once<T, F>(broker: &Broker, seq: i64, key: String, load: F) -> Result<T>
where
    T: Clone + Send + Sync + 'static,
    F: std::future::Future<Output = std::result::Result<T, AppError>> + Send + 'static,
{
    broker.once(seq, key, load).await.gql()
}

/// Whether the event is about a private note (read once per event, shared).
async fn is_private_note(broker: &Broker, db: &Db, grace: Duration, event: &Event) -> Result<bool> {
    let (Some(message_id), true) = (
        event.message,
        matches!(
            event.kind,
            EventKind::MessageAdded | EventKind::MessageDeleted
        ),
    ) else {
        return Ok(false);
    };
    let (db, team_id) = (db.clone(), event.team);
    let load = riding_out(grace, move || {
        let db = db.clone();
        async move {
            db.run(move |conn| Ok(messages::find(conn, team_id, message_id)?))
                .await
        }
    });
    let message = once(broker, event.seq, "message".into(), load).await?;
    Ok(message.is_some_and(|m| m.is_private))
}

#[derive(Default)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every new message of a ticket, in commit order, once each. Private notes are sent
    /// to team keys, never to customer tokens (who may follow their own tickets only).
    /// With `after` (a message's `eventPosition`), first the messages added since then.
    async fn message_added(
        &self,
        ctx: &Context<'_>,
        ticket_id: Uuid,
        after: Option<String>,
    ) -> Result<impl Stream<Item = Result<Message>>> {
        let sub = Subscriber::of(ctx)?;
        let team_id = sub.viewer.team_id;
        let scope = TicketScope::of(&sub.viewer);
        let key = sub.stream("messageAdded", ticket_id.to_string());
        let feed = Feed::open(&sub, key, after.as_deref()).await?;
        sub.db
            .run(move |conn| {
                tickets::find_by_id(conn, &scope, ticket_id, Columns::keys())?
                    .ok_or(AppError::NotFound("ticket"))
            })
            .await
            .gql()?;
        let (db, broker, grace) = (sub.db.clone(), sub.broker.clone(), sub.grace);
        let customer = sub.viewer.is_customer();
        let handle = move |event: Event| {
            let (db, broker) = (db.clone(), broker.clone());
            async move {
                let (true, Some(message_id)) = (
                    event.kind == EventKind::MessageAdded && event.ticket == ticket_id,
                    event.message,
                ) else {
                    return Ok(None);
                };
                let load = riding_out(grace, move || {
                    let db = db.clone();
                    async move {
                        db.run(move |conn| Ok(messages::find(conn, team_id, message_id)?))
                            .await
                    }
                });
                let message = once(&broker, event.seq, "message".into(), load).await?;
                // Private notes are the team's: a customer's subscription never sees them.
                Ok(message.filter(|message| !(message.is_private && customer)))
            }
            // Boxed: the stream keeps room for its future inline, in every idle subscription.
            .boxed()
        };
        Ok(follow(feed, handle, |message: &mut Message, position| {
            message.event_position = Some(position)
        }))
    }

    /// Changes of the tickets matching `filter` (the same rules as the `tickets` query;
    /// with a saved `view`, its filter narrowed by `filter`): created, updated, assigned,
    /// and messages added or deleted. With `after` (a
    /// change's `eventPosition`), first the changes since then.
    async fn ticket_changed(
        &self,
        ctx: &Context<'_>,
        filter: Option<TicketFilter>,
        after: Option<String>,
        view: Option<Uuid>,
    ) -> Result<impl Stream<Item = Result<TicketChange>>> {
        let sub = Subscriber::of(ctx)?;
        let (filter, _) = views::resolve(&sub.db, &sub.viewer, view, filter)
            .await
            .gql()?;
        let filter = Arc::new(filter);
        let fingerprint = pagination::fingerprint(&*filter);
        let feed = Feed::open(
            &sub,
            sub.stream("ticketChanged", fingerprint.clone()),
            after.as_deref(),
        )
        .await?;
        let (db, broker, scope) = (
            sub.db.clone(),
            sub.broker.clone(),
            TicketScope::of(&sub.viewer),
        );
        let (customer, grace) = (sub.viewer.is_customer(), sub.grace);
        // Subscriptions with the same scope and filter share each event's check.
        let key = format!("ticket:{scope:?}:{fingerprint}");
        let handle =
            move |event: Event| -> futures_util::future::BoxFuture<'static, Handled<TicketChange>> {
                let (db, broker, filter, scope, key) = (
                    db.clone(),
                    broker.clone(),
                    filter.clone(),
                    scope.clone(),
                    key.clone(),
                );
                async move {
                    // A private note is the team's business: its coming and going is not
                    // announced to a customer.
                    if customer && is_private_note(&broker, &db, grace, &event).await? {
                        return Ok(None);
                    }
                    let ticket_id = event.ticket;
                    let load = riding_out(grace, move || {
                        let (db, scope, filter) = (db.clone(), scope.clone(), filter.clone());
                        async move {
                            db.run(move |conn| {
                                Ok(tickets::matching(conn, &scope, ticket_id, &filter)?)
                            })
                            .await
                        }
                    });
                    let ticket = once(&broker, event.seq, key, load).await?;
                    Ok(ticket.map(|ticket| TicketChange {
                        kind: TicketChangeKind::of(event.kind),
                        ticket,
                        message_id: event.message,
                        event_position: Arc::from(""),
                    }))
                }
                .boxed()
            };
        Ok(follow(
            feed,
            handle,
            |change: &mut TicketChange, position| change.event_position = position,
        ))
    }

    /// The counts of `Query.ticketCounts` for `filter` and `view` (the same rules and scope): the
    /// value now, then each new value after changes to your tickets, from any replica.
    /// Changes are counted together in bursts of 250 ms (at most about four values a
    /// second under a storm of writes), and a value equal to the last one sent is not
    /// sent again. Relative date ranges are evaluated at each recount: time passing
    /// alone sends nothing.
    async fn ticket_counts(
        &self,
        ctx: &Context<'_>,
        filter: Option<TicketFilter>,
        view: Option<Uuid>,
    ) -> Result<impl Stream<Item = Result<TicketCounts>>> {
        let sub = Subscriber::of(ctx)?;
        let (filter, _) = views::resolve(&sub.db, &sub.viewer, view, filter)
            .await
            .gql()?;
        let filter = Arc::new(filter);
        let (db, scope, grace) = (sub.db.clone(), TicketScope::of(&sub.viewer), sub.grace);
        let with_assignees = ctx.look_ahead().field("byAssignee").exists();
        // Listening before the first count: a change committed in between is not missed.
        let bursts = bursts(&sub.broker, scope.team_id, BURST_WINDOW);
        let recount = move || {
            let (db, scope, filter) = (db.clone(), scope.clone(), filter.clone());
            async move {
                db.run(move |conn| Ok(counts::count(conn, &scope, &filter, with_assignees)?))
                    .await
            }
        };
        let first = recount().await.gql()?;
        let changes = bursts
            .then(move |()| riding_out(grace, recount.clone()).map(|r| r.gql()).boxed())
            .scan(first.clone(), |last, value| {
                let changed = match value {
                    Ok(v) if v == *last => None,
                    Ok(v) => {
                        *last = v.clone();
                        Some(Ok(v))
                    }
                    Err(e) => Some(Err(e)),
                };
                async move { Some(changed) }
            })
            .filter_map(|changed| async move { changed });
        Ok(until_error(
            futures_util::stream::once(async move { Ok(first) }).chain(changes),
        ))
    }

    /// Who is viewing or typing on a ticket: the set now, then each change (a heartbeat
    /// that changes nothing sends nothing), from any replica. Team keys see which agents;
    /// customer tokens (on their own tickets) see only whether support is typing. Another
    /// team's ticket is NOT_FOUND.
    async fn presence(
        &self,
        ctx: &Context<'_>,
        ticket_id: Uuid,
    ) -> Result<impl Stream<Item = Result<TicketPresence>>> {
        presence::subscribe(ctx, ticket_id).await
    }

    /// The team's unread count (see `Query.unreadCount`): its value now, then each new
    /// value when it changes.
    async fn unread_count(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = Result<i64>>> {
        let sub = Subscriber::of(ctx)?;
        let (db, broker, scope, grace) = (
            sub.db.clone(),
            sub.broker.clone(),
            TicketScope::of(&sub.viewer),
            sub.grace,
        );
        // Listening before the first count: a change committed in between is not missed.
        let events = team_events(&sub.broker, scope.team_id);
        let count = {
            let scope = scope.clone();
            move |db: Db| {
                let scope = scope.clone();
                async move {
                    db.run(move |conn| Ok(tickets::unread_count(conn, &scope)?))
                        .await
                }
            }
        };
        let first = count(db.clone()).await.gql()?;
        let key = format!("unread:{scope:?}");
        let changes = events
            .filter(|event| {
                let relevant = !matches!(event, Ok(e) if e.kind == EventKind::TicketAssigned);
                async move { relevant }
            })
            .then(move |event| {
                let (db, broker, count, key) =
                    (db.clone(), broker.clone(), count.clone(), key.clone());
                async move {
                    let event = event?;
                    let load = riding_out(grace, move || count(db.clone()));
                    once(&broker, event.seq, key, load).await
                }
                .boxed()
            })
            .scan(first, |last, value| {
                let changed = match &value {
                    Ok(v) if *v == *last => None,
                    Ok(v) => {
                        *last = *v;
                        Some(value)
                    }
                    Err(_) => Some(value),
                };
                async move { Some(changed) }
            })
            .filter_map(|changed| async move { changed });
        Ok(until_error(
            futures_util::stream::once(async move { Ok(first) }).chain(changes),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::feed::tests::event;
    use super::*;

    #[tokio::test]
    async fn a_subscription_that_falls_behind_ends_with_a_reason() {
        let broker = Broker::new(16);
        let team = Uuid::now_v7();
        let mut events = Box::pin(team_events(&broker, team));
        for seq in 0..40 {
            broker.deliver(event(seq, team));
        }
        let error = events.next().await.unwrap().unwrap_err();
        assert!(
            error.message.contains("fell too far behind"),
            "{}",
            error.message
        );
        assert!(events.next().await.is_none(), "the subscription ends");
    }

    #[tokio::test]
    async fn other_teams_events_are_never_seen() {
        let broker = Broker::new(16);
        let (mine, theirs) = (Uuid::now_v7(), Uuid::now_v7());
        let mut events = Box::pin(team_events(&broker, mine));
        broker.deliver(event(1, theirs));
        broker.deliver(event(2, mine));
        assert_eq!(events.next().await.unwrap().unwrap().seq, 2);
    }
}
