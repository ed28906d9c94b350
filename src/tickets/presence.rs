//! Agent presence and collision detection: `setPresence(ticketId, state)`, repeated as a
//! heartbeat, and the `presence(ticketId)` subscription, which pushes who is viewing or
//! typing on a ticket whenever that changes, across replicas. The machinery (NOTIFY on a
//! channel of its own, the board, expiry, the rate limit, leaving when a websocket
//! closes) is `events::presence`; this is what the schema shows of it, and to whom: team
//! keys see which agents; a customer sees only whether support is typing; both see what
//! the customer is doing.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_graphql::{Context, Enum, ErrorExtensions, Object, Result};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::projection::Columns;
use super::queries;
use crate::auth::viewer::Scope;
use crate::auth::{TicketScope, Viewer};
use crate::error::{AppError, IntoGql};
use crate::events::presence::{
    announce, Activity, ConnectionPresence, Participant, Presence, Signal, HEARTBEATS_PER_SECOND,
    HEARTBEAT_BURST, PERSON_HEARTBEATS_PER_SECOND, PERSON_HEARTBEAT_BURST,
};
use crate::events::Broker;
use crate::graphql::context::RequestContext;
use crate::users::loaders::UserById;
use crate::users::User;

/// What someone is doing on a ticket.
#[derive(Enum, Copy, Clone, Debug, Eq, PartialEq)]
pub enum PresenceState {
    /// Has the ticket open.
    Viewing,
    /// Is writing a reply.
    Typing,
    /// Has left (for `setPresence`: ends your presence at once; it also ends after
    /// silence, or when the websocket you set it or subscribed through closes).
    Left,
}

impl PresenceState {
    fn activity(self) -> Activity {
        match self {
            PresenceState::Viewing => Activity::Viewing,
            PresenceState::Typing => Activity::Typing,
            PresenceState::Left => Activity::Left,
        }
    }

    fn of(activity: Activity) -> PresenceState {
        match activity {
            Activity::Viewing => PresenceState::Viewing,
            Activity::Typing => PresenceState::Typing,
            Activity::Left => PresenceState::Left,
        }
    }
}

/// Who is on a ticket now, as the viewer may see it.
#[derive(Clone, Debug, PartialEq)]
pub struct TicketPresence {
    ticket_id: Uuid,
    agents: Vec<AgentPresence>,
    support_typing: bool,
    customer: Option<PresenceState>,
}

/// Who is on a ticket now (agents' identities for team keys only).
#[Object]
impl TicketPresence {
    async fn ticket_id(&self) -> Uuid {
        self.ticket_id
    }

    /// The agents viewing or typing (by user). Always empty for customer tokens.
    async fn agents(&self) -> &[AgentPresence] {
        &self.agents
    }

    /// Whether any agent is typing: what a customer's widget shows ("support is typing").
    async fn support_typing(&self) -> bool {
        self.support_typing
    }

    /// What the ticket's customer is doing (VIEWING or TYPING); null when absent.
    async fn customer(&self) -> Option<PresenceState> {
        self.customer
    }
}

/// An agent on a ticket.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentPresence {
    who: Participant,
    state: PresenceState,
}

/// An agent on a ticket.
#[Object]
impl AgentPresence {
    /// The API key's user; null for a key created without a user.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Participant::User(user_id) = self.who else {
            return Ok(None);
        };
        RequestContext::of(ctx)?
            .loaders
            .load_one(UserById(user_id))
            .await
            .gql()
    }

    /// VIEWING or TYPING.
    async fn state(&self) -> PresenceState {
        self.state
    }
}

/// Who the viewer is on a ticket: the key's user (or the key, without one), or the
/// customer.
fn participant(viewer: &Viewer) -> Result<Participant, AppError> {
    match (&viewer.customer, viewer.user_id, viewer.key_id) {
        (Some(distinct_id), _, _) => Ok(Participant::Customer(distinct_id.clone())),
        (None, Some(user), _) => Ok(Participant::User(user)),
        (None, None, Some(key)) => Ok(Participant::Key(key)),
        (None, None, None) => Err(AppError::internal("a team viewer without a key")),
    }
}

/// The set as `customer_view`-ers (customer tokens) or team keys see it.
fn seen(
    ticket_id: Uuid,
    current: &BTreeMap<Participant, Activity>,
    customer_view: bool,
) -> TicketPresence {
    let agents: Vec<AgentPresence> = current
        .iter()
        .filter(|(who, _)| !matches!(who, Participant::Customer(_)))
        .map(|(who, activity)| AgentPresence {
            who: who.clone(),
            state: PresenceState::of(*activity),
        })
        .collect();
    let support_typing = agents.iter().any(|a| a.state == PresenceState::Typing);
    let customer = current
        .iter()
        .find(|(who, _)| matches!(who, Participant::Customer(_)))
        .map(|(_, activity)| PresenceState::of(*activity));
    TicketPresence {
        ticket_id,
        agents: if customer_view { Vec::new() } else { agents },
        support_typing,
        customer,
    }
}

fn board(ctx: &Context<'_>) -> Result<Arc<Presence>> {
    let broker = ctx
        .data::<Arc<Broker>>()
        .map_err(|_| AppError::internal("event broker missing").extend())?;
    Ok(broker.presence().clone())
}

#[derive(Default)]
pub struct PresenceMutation;

#[Object]
impl PresenceMutation {
    /// Says you are viewing or typing on a ticket (or have left it). Repeat it as a
    /// heartbeat: it holds for `TICKETGATE_PRESENCE_TTL_SECS` (30 s) of silence, and ends
    /// when the websocket it was sent through closes. Team keys need `write`; customer
    /// tokens may set theirs on their own tickets. At most 10 at once, then 2 a second,
    /// per ticket and person (and 60, then 20 a second, over all tickets) on each replica
    /// (RATE_LIMITED past it).
    async fn set_presence(
        &self,
        ctx: &Context<'_>,
        ticket_id: Uuid,
        state: PresenceState,
    ) -> Result<bool> {
        let rc = RequestContext::of(ctx)?;
        if !rc.viewer.is_customer() {
            rc.viewer.require(Scope::Write).gql()?;
        }
        let who = participant(rc.viewer).gql()?;
        let presence = board(ctx)?;
        if !presence.admit(&who, ticket_id) {
            return Err(AppError::RateLimited(format!(
                "presence heartbeats come too fast: at most {HEARTBEAT_BURST} at once, then \
                 {HEARTBEATS_PER_SECOND} a second per ticket ({PERSON_HEARTBEAT_BURST}, then \
                 {PERSON_HEARTBEATS_PER_SECOND} a second, over all tickets)"
            )))
            .gql();
        }
        let scope = TicketScope::of(rc.viewer);
        let signal = Signal {
            team: rc.viewer.team_id,
            ticket: ticket_id,
            who: who.clone(),
            activity: state.activity(),
            ttl_ms: presence.ttl().as_millis() as u64,
        };
        rc.db
            .run(move |conn| {
                queries::find_by_id(conn, &scope, ticket_id, Columns::keys())?
                    .ok_or(AppError::NotFound("ticket"))?;
                Ok(announce(conn, &signal)?)
            })
            .await
            .gql()?;
        if let Some(connection) = ctx.data_opt::<ConnectionPresence>() {
            connection.joined(rc.viewer.team_id, ticket_id, who);
        }
        Ok(true)
    }
}

/// The `presence(ticketId)` subscription: the set now, then each change of what the
/// viewer sees of it (from any replica).
pub async fn subscribe(
    ctx: &Context<'_>,
    ticket_id: Uuid,
) -> Result<impl Stream<Item = Result<TicketPresence>>> {
    let rc = RequestContext::of(ctx)?;
    let presence = board(ctx)?;
    let scope = TicketScope::of(rc.viewer);
    rc.db
        .run(move |conn| {
            queries::find_by_id(conn, &scope, ticket_id, Columns::keys())?
                .ok_or(AppError::NotFound("ticket"))
        })
        .await
        .gql()?;
    // Whoever watches through a websocket leaves when it closes (a heartbeat sent over
    // HTTP by the same person ends then too).
    if let Some(connection) = ctx.data_opt::<ConnectionPresence>() {
        connection.joined(rc.viewer.team_id, ticket_id, participant(rc.viewer).gql()?);
    }
    let customer_view = rc.viewer.is_customer();
    // Listening before the first read: a change in between is not missed.
    let changes = presence.changes();
    let first = seen(ticket_id, &presence.current(ticket_id), customer_view);
    let rest =
        futures_util::stream::unfold((changes, first.clone()), move |(mut changes, last)| {
            let presence = presence.clone();
            async move {
                loop {
                    match changes.recv().await {
                        Ok(changed) if changed != ticket_id => continue,
                        Ok(_) | Err(RecvError::Lagged(_)) => {
                            let now = seen(ticket_id, &presence.current(ticket_id), customer_view);
                            if now != last {
                                return Some((Ok(now.clone()), (changes, now)));
                            }
                        }
                        Err(RecvError::Closed) => return None,
                    }
                }
            }
        });
    Ok(futures_util::StreamExt::chain(
        futures_util::stream::once(async move { Ok(first) }),
        rest,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_see_only_that_support_is_typing() {
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let current: BTreeMap<Participant, Activity> = [
            (Participant::User(ann), Activity::Typing),
            (Participant::User(bob), Activity::Viewing),
            (Participant::Customer("v".into()), Activity::Viewing),
        ]
        .into_iter()
        .collect();
        let team = seen(Uuid::nil(), &current, false);
        assert_eq!(team.agents.len(), 2);
        assert!(team.support_typing);
        assert_eq!(team.customer, Some(PresenceState::Viewing));
        let customer = seen(Uuid::nil(), &current, true);
        assert!(customer.agents.is_empty());
        assert!(customer.support_typing);
        assert_eq!(customer.customer, Some(PresenceState::Viewing));
    }
}
