//! ticketgate: a GraphQL gateway over customer-support tickets.
//!
//! `app` assembles a server from `db` (pool, migrations, local cluster), `graphql` (schema,
//! loaders, pagination), `http` (handlers) and the domain modules (`tickets`, `teams`,
//! `users`, `auth`), each holding its Diesel queries beside its GraphQL types.

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
pub mod tickets;
pub mod users;
pub mod validate;
