//! Live updates across replicas: mutations record an event and NOTIFY in their own
//! transaction (`outbox`); one LISTEN connection per process receives them in commit order
//! and replays what it missed after a reconnect (`listener`); a bounded broadcast fans
//! them out to this process's subscriptions (`broker`). Presence (`presence`) rides the
//! same listener on a channel of its own, with no table behind it.

pub mod broker;
pub mod listener;
pub mod outbox;
pub mod position;
pub mod presence;

pub use broker::{Broker, Delivered, Event, EventKind};
pub use position::{Position, StreamKey};
