//! ticketgate: a GraphQL gateway over customer-support tickets.
//!
//! Layers, imports pointing down only (see ARCHITECTURE.md): `config`, `error`, `validate`,
//! `metrics` ← `db` ← `events` ← `auth` ← `graphql` (machinery, no domain) ← the domains
//! (`users`, `tags`, `teams`, `persons`, `assignments` ← `tickets`) ← `schema` (assembly)
//! ← `http` ← `app`, `cli`, `seed`.

#![forbid(unsafe_code)]

pub mod app;
pub mod assignments;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod persons;
pub mod schema;
pub mod seed;
pub mod tags;
pub mod teams;
pub mod telemetry;
pub mod tickets;
pub mod users;
pub mod validate;
