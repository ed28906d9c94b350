//! Prometheus metrics of one server: HTTP requests, latency, pool state, the SQL
//! statement and blocking-pool trip counts, and the requests that came too slowly. One registry per server (not the global one), so tests running
//! several servers in one process each read their own figures.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::db::PgPool;

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub db_statements: IntCounter,
    pub db_trips: IntCounter,
    /// Requests answered 408 because their headers or body came too slowly.
    pub request_timeouts: IntCounterVec,
    /// GraphQL operations by type, name and outcome (see `OperationMetrics`).
    pub operations: OperationMetrics,
    /// Subscriptions streaming now, by websocket subprotocol.
    pub subscriptions: IntGaugeVec,
    /// Each standby's lag behind the primary, in seconds (`DATABASE_READ_URL`).
    pub replica_lag: prometheus::GaugeVec,
    /// Whether each standby is in rotation for reads (1) or not (0).
    pub replica_up: IntGaugeVec,
    pool_connections: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "ticketgate_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["method", "route", "status"],
        )?;
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "ticketgate_http_request_duration_seconds",
                "HTTP request latency",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route"],
        )?;
        let db_statements = IntCounter::new(
            "ticketgate_db_statements_total",
            "SQL statements sent to PostgreSQL through the pool",
        )?;
        let db_trips = IntCounter::new(
            "ticketgate_db_trips_total",
            "Hand-offs of database work to the blocking pool, each with one pooled connection",
        )?;
        let request_timeouts = IntCounterVec::new(
            Opts::new(
                "ticketgate_request_timeouts_total",
                "Requests answered 408: headers or body did not arrive in time",
            ),
            &["phase"],
        )?;
        // Both series exist from the start (at 0), so a rate over them is never empty.
        for phase in ["headers", "body"] {
            request_timeouts.with_label_values(&[phase]);
        }
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "ticketgate_db_pool_connections",
                "Pooled connections by state",
            ),
            &["state"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_duration.clone()))?;
        registry.register(Box::new(db_statements.clone()))?;
        registry.register(Box::new(db_trips.clone()))?;
        registry.register(Box::new(request_timeouts.clone()))?;
        registry.register(Box::new(pool_connections.clone()))?;
        let operations = OperationMetrics::new()?;
        registry.register(Box::new(operations.duration.clone()))?;
        let subscriptions = IntGaugeVec::new(
            Opts::new(
                "ticketgate_subscriptions_active",
                "Subscriptions streaming now, by websocket subprotocol",
            ),
            &["protocol"],
        )?;
        for protocol in ["graphql-transport-ws", "graphql-ws"] {
            subscriptions.with_label_values(&[protocol]);
        }
        registry.register(Box::new(subscriptions.clone()))?;
        let replica_lag = prometheus::GaugeVec::new(
            Opts::new(
                "ticketgate_replica_lag_seconds",
                "How far each standby is behind the primary, in seconds",
            ),
            &["standby"],
        )?;
        let replica_up = IntGaugeVec::new(
            Opts::new(
                "ticketgate_replica_in_rotation",
                "Whether each standby takes reads (1) or is out of rotation (0)",
            ),
            &["standby"],
        )?;
        registry.register(Box::new(replica_lag.clone()))?;
        registry.register(Box::new(replica_up.clone()))?;
        Ok(Metrics {
            operations,
            subscriptions,
            replica_lag,
            replica_up,
            registry,
            http_requests,
            http_duration,
            db_statements,
            db_trips,
            request_timeouts,
            pool_connections,
        })
    }

    /// The Prometheus text exposition, with the pool's state read now.
    pub fn render(&self, pool: &PgPool) -> String {
        let state = pool.state();
        let in_use = i64::from(state.connections - state.idle_connections);
        self.pool_connections
            .with_label_values(&["idle"])
            .set(i64::from(state.idle_connections));
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(in_use);
        self.pool_connections
            .with_label_values(&["max"])
            .set(i64::from(pool.max_size()));
        let mut buffer = Vec::new();
        // Encoding into a Vec cannot fail short of a bad metric name, caught by tests.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

/// Names of operations kept as label values; later names are counted as `other`, so a
/// client sending random names cannot grow the metrics without bound.
pub const MAX_OPERATION_NAMES: usize = 100;

/// Longer names are counted as `other` too (a label value is kept per series).
const MAX_OPERATION_NAME_LEN: usize = 64;

/// Latency of GraphQL operations (over HTTP and single-result websocket operations) by
/// type, name and outcome. Names are admitted first come, first served, and only from
/// operations that ran without a request error: a document refused by validation or the
/// limits adds no name.
#[derive(Clone)]
pub struct OperationMetrics {
    duration: HistogramVec,
    names: Arc<Mutex<HashSet<String>>>,
}

impl OperationMetrics {
    fn new() -> Result<Self, prometheus::Error> {
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "ticketgate_graphql_operation_duration_seconds",
                "GraphQL operations by type, name (the first 100 names; then `other`) and \
                 result (ok, error: some field failed, refused: not run)",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["type", "name", "result"],
        )?;
        Ok(OperationMetrics {
            duration,
            names: Arc::default(),
        })
    }

    /// Records one operation; `name` is None for an anonymous one. A refused operation's
    /// name is never admitted as a label value.
    pub fn observe(&self, kind: &str, name: Option<&str>, result: &str, seconds: f64) {
        let label = match name {
            None => "anonymous",
            Some(name) if self.admits(name, result != "refused") => name,
            Some(_) => "other",
        };
        self.duration
            .with_label_values(&[kind, label, result])
            .observe(seconds);
    }

    fn admits(&self, name: &str, may_add: bool) -> bool {
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        if names.contains(name) {
            return true;
        }
        let room = names.len() < MAX_OPERATION_NAMES && name.len() <= MAX_OPERATION_NAME_LEN;
        if may_add && room && name != "other" && name != "anonymous" {
            names.insert(name.to_string());
            return true;
        }
        false
    }
}

/// A gauge held up while something lives (a subscription's stream), as request data.
#[derive(Clone)]
pub struct ActiveGauge(pub IntGauge);

impl ActiveGauge {
    /// Counts one more until the guard is dropped.
    pub fn hold(&self) -> ActiveGuard {
        self.0.inc();
        ActiveGuard(self.0.clone())
    }
}

pub struct ActiveGuard(IntGauge);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::core::Collector as _;

    #[test]
    fn operation_names_are_bounded_and_refusals_add_none() {
        let metrics = OperationMetrics::new().unwrap();
        metrics.observe("query", Some("Refused"), "refused", 0.1);
        for n in 0..MAX_OPERATION_NAMES + 10 {
            metrics.observe("query", Some(&format!("Op{n}")), "ok", 0.1);
        }
        metrics.observe("query", Some(&"Long".repeat(20)), "ok", 0.1);
        let names: HashSet<String> = metrics
            .duration
            .collect()
            .iter()
            .flat_map(|family| family.get_metric().iter())
            .flat_map(|metric| metric.get_label().iter())
            .filter(|label| label.name() == "name")
            .map(|label| label.value().to_string())
            .collect();
        assert_eq!(names.len(), MAX_OPERATION_NAMES + 1, "{names:?}");
        assert!(names.contains("other") && names.contains("Op0"));
        assert!(!names.contains("Refused") && !names.contains(&format!("Op{MAX_OPERATION_NAMES}")));
    }
}
