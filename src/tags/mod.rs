//! Tags: a team's labels, on tickets through `ticket_tags`.

pub mod loaders;
pub mod queries;
