//! Database access: the r2d2 pool, embedded migrations, the zero-config local cluster,
//! and the statement counter behind `ticketgate_db_statements_total`.

pub mod bulk_load;
pub mod health;
pub mod json;
pub mod local_pg;
pub mod migrations;
pub mod replicas;
pub mod schema;
pub mod sql;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use diesel::connection::InstrumentationEvent;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use prometheus::IntCounter;
use tokio::sync::Semaphore;

use crate::error::{AppError, AppResult};
use health::{is_connection_loss, with_connect_timeout, Health, PROBE_EVERY};

pub type PgPool = Pool<ConnectionManager<PgConnection>>;

/// How long a checkout waits on the pool before it looks at the database's health again.
const CHECKOUT_SLICE: Duration = Duration::from_millis(100);
pub type PgPooled = PooledConnection<ConnectionManager<PgConnection>>;

#[derive(Clone, Debug)]
pub struct PoolOptions {
    pub max_size: u32,
    /// How long a request waits for a free connection before DB_UNAVAILABLE.
    pub checkout_timeout: Duration,
    /// Server-side cap on any one statement, so a bad query cannot hold the pool.
    pub statement_timeout: Duration,
    /// The URL is a transaction pooler's (PgBouncer): a connection is a different server
    /// session from one transaction to the next, so it keeps no prepared statements and
    /// makes no session settings.
    pub pooled: bool,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_size: 16,
            checkout_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(10),
            pooled: false,
        }
    }
}

/// Prepares each new pooled connection: the session's statement timeout, then the
/// instrumentation that counts every statement sent from now on.
#[derive(Debug)]
struct ConnectionSetup {
    statements: IntCounter,
    statement_timeout_ms: u128,
    pooled: bool,
}

impl CustomizeConnection<PgConnection, diesel::r2d2::Error> for ConnectionSetup {
    fn on_acquire(&self, conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
        if self.pooled {
            // Unnamed statements only: a named one would be prepared on one server
            // session and looked for on another.
            conn.set_prepared_statement_cache_size(diesel::connection::CacheSize::Disabled);
        } else {
            diesel::sql_query(format!(
                "SET statement_timeout = {}",
                self.statement_timeout_ms
            ))
            .execute(conn)
            .map_err(diesel::r2d2::Error::QueryError)?;
        }
        let statements = self.statements.clone();
        // The statement running now, as a span while traces are exported.
        let mut running: Option<tracing::Span> = None;
        conn.set_instrumentation(move |event: InstrumentationEvent<'_>| match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                statements.inc();
                running = crate::telemetry::statement_span(query);
            }
            InstrumentationEvent::FinishQuery { error, .. } => {
                if let (Some(span), Some(_)) = (running.take(), error) {
                    span.record("otel.status_code", "ERROR");
                }
            }
            _ => {}
        });
        Ok(())
    }
}

/// Builds the pool lazily: the server starts even while the database is still coming up,
/// and `/readyz` tells when it is reachable. Connections are opened on demand (and kept):
/// no background thread is left connecting when the process exits.
pub fn build_pool(url: &str, options: &PoolOptions, statements: IntCounter) -> PgPool {
    let manager = ConnectionManager::<PgConnection>::new(url);
    Pool::builder()
        .max_size(options.max_size)
        .min_idle(Some(0))
        .connection_timeout(options.checkout_timeout)
        .test_on_check_out(false)
        .connection_customizer(Box::new(ConnectionSetup {
            statements,
            statement_timeout_ms: options.statement_timeout.as_millis(),
            pooled: options.pooled,
        }))
        .build_unchecked(manager)
}

/// The handle resolvers use: runs Diesel code on the blocking pool, never on the async
/// worker threads, with one pooled connection for the closure's duration.
///
/// Work waits for a connection in a fair (first come, first served) async queue before it
/// takes a blocking thread, rather than in r2d2's checkout: r2d2 hands a returned
/// connection to whichever thread grabs it first, and under load some waiters lost again
/// and again (a request at 2,800 req/s waited up to 2 s while the median took 10 ms).
/// Waiting here also parks no blocking thread.
///
/// When the database goes away, requests fail fast and the pool is replaced by a fresh
/// one as soon as the database answers again (see `health`).
#[derive(Clone)]
pub struct Db {
    pool: Arc<RwLock<PgPool>>,
    turns: Arc<Semaphore>,
    /// Counts the trips to the blocking pool (`ticketgate_db_trips_total`).
    trips: IntCounter,
    health: Arc<Health>,
    /// What a replacement pool is built from.
    url: Arc<str>,
    options: PoolOptions,
    statements: IntCounter,
}

impl Db {
    /// The pool of `url` (opened lazily: see [`build_pool`]) behind the fair queue.
    pub fn connect(
        url: &str,
        options: &PoolOptions,
        statements: IntCounter,
        trips: IntCounter,
    ) -> Self {
        let pool = build_pool(url, options, statements.clone());
        let turns = Arc::new(Semaphore::new(pool.max_size() as usize));
        Db {
            pool: Arc::new(RwLock::new(pool)),
            turns,
            trips,
            health: Arc::default(),
            url: url.into(),
            options: options.clone(),
            statements,
        }
    }

    /// The pool as it is now (a replacement after an outage is another pool).
    pub fn pool(&self) -> PgPool {
        self.pool
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// False from the moment a request lost its connection until the database answers a
    /// probe again.
    pub fn is_up(&self) -> bool {
        self.health.is_up()
    }

    pub async fn run<T, F>(&self, work: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection) -> AppResult<T> + Send + 'static,
    {
        if !self.health.is_up() {
            return Err(AppError::DbUnavailable(
                "the database is unreachable (reconnecting)".into(),
            ));
        }
        let turn = tokio::time::timeout(
            self.options.checkout_timeout,
            self.turns.clone().acquire_owned(),
        )
        .await
        .map_err(|_| AppError::DbUnavailable("timed out waiting for a database connection".into()))?
        .map_err(|err| AppError::DbUnavailable(Box::new(err)))?;
        self.trips.inc();
        let db = self.clone();
        // The caller's span goes with the work, so its statements are its children.
        let span = match crate::telemetry::enabled() {
            true => tracing::Span::current(),
            false => tracing::Span::none(),
        };
        let result = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let _span = span.enter();
            let mut conn = db.checkout()?;
            work(&mut conn)
        })
        .await?;
        if let Err(err) = &result {
            if is_connection_loss(err) && self.health.mark_down() {
                tokio::spawn(self.clone().probe_until_up());
            }
        }
        result
    }

    /// A connection of the pool as it is now, waiting up to the checkout timeout; but in
    /// short slices, so that a request gives up at once when the database is marked down
    /// meanwhile, and moves to the fresh pool once one is swapped in. (Waiting on the pool
    /// it started with, a request caught by an outage sat out the whole timeout on a pool
    /// of dead connections, holding its turn: at 128 clients every turn of a replica was
    /// held so for 5 s after the database was back.)
    fn checkout(&self) -> AppResult<PgPooled> {
        let deadline = std::time::Instant::now() + self.options.checkout_timeout;
        loop {
            if !self.health.is_up() {
                return Err(AppError::DbUnavailable(
                    "the database is unreachable (reconnecting)".into(),
                ));
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.pool().get_timeout(left.min(CHECKOUT_SLICE)) {
                Ok(conn) => return Ok(conn),
                Err(err) if left <= CHECKOUT_SLICE => return Err(AppError::from(err)),
                Err(_) => continue,
            }
        }
    }

    /// Tries a fresh connection every `PROBE_EVERY`; once one answers, swaps in a new
    /// pool (the old one's connections are all dead) and lets requests through again.
    async fn probe_until_up(self) {
        let url = with_connect_timeout(&self.url);
        loop {
            tokio::time::sleep(PROBE_EVERY).await;
            let url = url.clone();
            let answered = tokio::task::spawn_blocking(move || {
                let mut conn = PgConnection::establish(&url).ok()?;
                diesel::sql_query("SELECT 1").execute(&mut conn).ok()
            })
            .await
            .ok()
            .flatten()
            .is_some();
            if answered {
                let fresh = build_pool(&self.url, &self.options, self.statements.clone());
                *self.pool.write().unwrap_or_else(PoisonError::into_inner) = fresh;
                self.health.mark_up();
                return;
            }
        }
    }

    /// Like [`Db::run`], inside one transaction: all of it commits or none of it does.
    pub async fn transaction<T, F>(&self, work: F) -> AppResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection) -> AppResult<T> + Send + 'static,
    {
        self.run(move |conn| conn.transaction(work)).await
    }

    /// True when a connection can be had and answers.
    pub async fn ping(&self) -> bool {
        self.run(|conn| {
            diesel::sql_query("SELECT 1").execute(conn)?;
            Ok(())
        })
        .await
        .is_ok()
    }
}

/// A single connection outside the pool, for command-line work (migrate, seed, api-key).
pub fn connect(url: &str) -> AppResult<PgConnection> {
    PgConnection::establish(url).map_err(AppError::from)
}

/// Reads and removes `pgbouncer=true` from a URL's parameters (the convention Prisma and
/// others use to say the URL is a transaction pooler's; libpq would refuse the unknown
/// parameter): the URL to connect to, and whether it said so.
pub fn pooler_hint(url: &str) -> (String, bool) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), false);
    };
    let mut pooled = false;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some(("pgbouncer", value)) => {
                pooled = matches!(value, "true" | "1" | "on" | "yes");
                false
            }
            _ => !pair.is_empty(),
        })
        .collect();
    match kept.is_empty() {
        true => (base.to_string(), pooled),
        false => (format!("{base}?{}", kept.join("&")), pooled),
    }
}

#[cfg(test)]
mod pooler_tests {
    use super::pooler_hint;

    #[test]
    fn the_pgbouncer_parameter_is_read_and_removed() {
        assert_eq!(
            pooler_hint("postgres://u@h:6432/db?pgbouncer=true"),
            ("postgres://u@h:6432/db".into(), true)
        );
        assert_eq!(
            pooler_hint("postgres://u@h/db?sslmode=disable&pgbouncer=true&x=1"),
            ("postgres://u@h/db?sslmode=disable&x=1".into(), true)
        );
        assert_eq!(
            pooler_hint("postgres://u@h/db?pgbouncer=false"),
            ("postgres://u@h/db".into(), false)
        );
        assert_eq!(
            pooler_hint("postgres://u@h/db?sslmode=disable"),
            ("postgres://u@h/db?sslmode=disable".into(), false)
        );
    }
}
