//! The one integration-test binary: each module is an area, each test gets its own database.

// Test code: a failed unwrap is a failed test, with its line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod bad_input;
mod browser;
mod cli;
mod concurrency;
mod counters;
mod customers;
mod dataloaders;
mod db_outage;
mod deep_input;
mod graphql_http;
mod hostile;
mod http_surface;
mod introspection;
mod isolation;
mod limits;
mod lists;
mod local_pg;
mod migrations;
mod mutations;
mod node_clients;
mod persisted;
mod pgbouncer;
mod presence;
mod projection;
mod relay;
mod replicas;
mod resume;
mod schema_contract;
mod secrets_in_logs;
mod seed;
mod sse;
mod subscriptions;
mod telemetry;
mod ticket_counts;
mod tickets_filters;
mod tickets_nested;
mod tickets_proptest;
mod tickets_read;
mod trusted;
mod views;
mod websockets;
