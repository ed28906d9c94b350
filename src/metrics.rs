//! Prometheus metrics of one server: HTTP requests, latency, pool state, the SQL
//! statement and blocking-pool trip counts, and the requests that came too slowly. One registry per server (not the global one), so tests running
//! several servers in one process each read their own figures.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
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
        Ok(Metrics {
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
