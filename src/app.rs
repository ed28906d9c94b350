//! Assembling a server: database, migrations, pool, schema, HTTP. Used by `ticketgate serve`
//! and by the tests (which listen on port 0 and read the bound address back).

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::web;
use diesel::prelude::*;

use crate::auth::bearer::Authenticator;
use crate::auth::customer_tokens::TokenSecret;
use crate::auth::key_cache::KeyCache;
use crate::config::ServeOptions;
use crate::db::local_pg::{self, LocalCluster, LocalPgError};
use crate::db::replicas::ReadReplicas;
use crate::db::{self, Db, PoolOptions};
use crate::error::AppError;
use crate::events::{self, Broker};
use crate::graphql::context::SchemaData;
use crate::graphql::pagination::PageLimits;
use crate::graphql::trusted::TrustedDocuments;
use crate::http::{self, AppState, HttpLimits};
use crate::metrics::Metrics;
use crate::schema::{build_schema, SchemaOptions};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Said the ticketgate way (see `local_pg::explain`); its own message includes any cause.
    #[error("{}", local_pg::explain(.0))]
    LocalPg(LocalPgError),
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("database error: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("{0}")]
    App(#[from] AppError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("{0}")]
    Invalid(String),
}

impl From<LocalPgError> for StartupError {
    fn from(err: LocalPgError) -> Self {
        StartupError::LocalPg(err)
    }
}

/// The database a command works on: the one DATABASE_URL names, or the local cluster.
pub struct Database {
    pub url: String,
    /// Kept alive for as long as the command runs; dropping it leaves the cluster.
    pub cluster: Option<LocalCluster>,
    /// The local database was created just now (first start of a new data directory).
    pub created: bool,
}

/// The name of ticketgate's database inside the local cluster.
pub const LOCAL_DATABASE: &str = "ticketgate";

impl Database {
    pub fn open(database_url: Option<&str>, data_dir: &Path) -> Result<Database, StartupError> {
        if let Some(url) = database_url.filter(|url| !url.is_empty()) {
            return Ok(Database {
                url: url.to_string(),
                cluster: None,
                created: false,
            });
        }
        let cluster = LocalCluster::start_or_attach(data_dir, &local_pg::cluster_options(false))?;
        let created = ensure_database(&cluster.url("postgres"), LOCAL_DATABASE)?;
        Ok(Database {
            url: cluster.url(LOCAL_DATABASE),
            cluster: Some(cluster),
            created,
        })
    }
}

/// Creates `name` unless it exists; true when it was created now.
/// Raises this process's soft limit of open files to its hard limit. Every websocket,
/// client connection and pooled database connection is a file: an ordinary user's default
/// soft limit (1,024 on Debian) would refuse connections long before the machine runs out,
/// while the hard limit (often far higher) is there to be taken. Returns the limit now.
pub fn raise_open_file_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Some(hard);
    }
    Some(soft)
}

pub fn ensure_database(maintenance_url: &str, name: &str) -> Result<bool, StartupError> {
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        exists: bool,
    }
    let mut conn = PgConnection::establish(maintenance_url)?;
    let found: Exists =
        diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result(&mut conn)?;
    if found.exists {
        return Ok(false);
    }
    diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut conn)?;
    Ok(true)
}

/// Applies pending migrations on one short-lived connection.
pub fn migrate(url: &str) -> Result<Vec<String>, StartupError> {
    let mut conn = db::connect(url)?;
    Ok(db::migrations::run_pending(&mut conn)?)
}

/// Applies the migrations, first waiting (up to `wait`; None: as long as it takes) while
/// the database is unreachable: a replica started during a database outage, or before its
/// database, serves once the database answers instead of exiting.
async fn migrate_once_reachable(url: &str, wait: Option<Duration>) -> Result<(), StartupError> {
    let started = std::time::Instant::now();
    let mut backoff = Duration::from_millis(100);
    let mut said_at: Option<std::time::Instant> = None;
    loop {
        let migrate_url = url.to_string();
        let outcome = tokio::task::spawn_blocking(move || migrate(&migrate_url))
            .await
            .map_err(AppError::from)?;
        let (err, reason) = match outcome {
            Ok(_) => break,
            Err(err) => match unreachable_reason(&err) {
                Some(reason) => (err, reason),
                None => return Err(err),
            },
        };
        if wait.is_some_and(|wait| started.elapsed() >= wait) {
            return Err(err);
        }
        // Said at once, then every 10 s: an operator sees why nothing listens yet.
        if said_at.is_none_or(|at| at.elapsed() >= Duration::from_secs(10)) {
            tracing::warn!(%reason, "the database is unreachable; waiting for it before serving");
            said_at = Some(std::time::Instant::now());
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(1));
    }
    if said_at.is_some() {
        tracing::info!(
            waited_ms = started.elapsed().as_millis() as u64,
            "the database answers; starting"
        );
    }
    Ok(())
}

/// Why the database cannot be reached (yet), if that is what a start-up error means,
/// rather than that it refused us (credentials, a missing database): only the first is
/// worth waiting for.
fn unreachable_reason(err: &StartupError) -> Option<String> {
    use diesel::result::{DatabaseErrorKind, Error};
    const UNREACHABLE: [&str; 11] = [
        "connection refused",
        "no such file or directory",
        "the database system is starting up",
        "the database system is not yet accepting connections",
        "the database system is in recovery mode",
        "the database system is shutting down",
        "timeout expired",
        "timed out",
        "network is unreachable",
        "server closed the connection unexpectedly",
        "could not connect to server",
    ];
    let message = match err {
        StartupError::Connect(diesel::ConnectionError::BadConnection(message)) => message.clone(),
        StartupError::App(AppError::DbUnavailable(source)) => source.to_string(),
        StartupError::Query(Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            info,
        )) => return Some(info.message().to_string()),
        _ => return None,
    };
    let lowercase = message.to_lowercase();
    UNREACHABLE
        .iter()
        .any(|sign| lowercase.contains(sign))
        .then(|| message.lines().next().unwrap_or_default().to_string())
}

/// A bound, not yet running server.
pub struct App {
    server: Server,
    addr: SocketAddr,
    state: web::Data<AppState>,
    key_usage_flush: Duration,
    listener: tokio::task::JoinHandle<()>,
    jobs_every: Duration,
    event_retention: Duration,
}

impl App {
    /// Migrates, builds the pool and schema, and binds the listener.
    /// `tokens`: the customer-token secret (None: customer tokens are refused).
    pub async fn build(
        url: &str,
        options: &ServeOptions,
        tokens: Option<TokenSecret>,
    ) -> Result<App, StartupError> {
        let (url, hinted) = db::pooler_hint(url);
        let pooled = options.pgbouncer || hinted;
        let direct = match options.database_listen_url.as_deref() {
            Some(direct) if !direct.is_empty() => direct.to_string(),
            _ => url.clone(),
        };
        if pooled {
            say_what_a_pooler_changes(options, direct != url);
        }
        // Migrations hold a session lock: on the direct connection.
        let wait = options.database_wait_secs.map(Duration::from_secs);
        migrate_once_reachable(&direct, wait).await?;
        let metrics = Arc::new(Metrics::new()?);
        let db = Db::connect(
            &url,
            &PoolOptions {
                max_size: options.pool_size,
                checkout_timeout: options.pool_timeout(),
                statement_timeout: options.statement_timeout(),
                pooled,
            },
            metrics.db_statements.clone(),
            metrics.db_trips.clone(),
        );
        let replicas = read_replicas(options, &db, &metrics, pooled);
        let broker = Broker::new(options.subscription_queue);
        broker
            .presence()
            .set_ttl(Duration::from_secs(options.presence_ttl_secs));
        let schema = build_schema(
            Some(SchemaData {
                db: db.clone(),
                broker: broker.clone(),
                tokens: tokens.clone(),
                subscription_outage_grace: Duration::from_secs(
                    options.subscription_outage_grace_secs,
                ),
                page_limits: PageLimits {
                    default_size: options.default_page_size,
                    max_size: options.max_page_size,
                },
            }),
            &SchemaOptions {
                max_depth: options.max_depth,
                max_complexity: options.max_complexity,
                max_aliases: options.max_aliases,
                max_root_fields: options.max_root_fields,
                max_fields: options.max_fields,
                max_tokens: options.max_tokens,
                max_response_bytes: options.max_response_bytes,
                max_held_bytes_per_key: options.max_held_bytes_per_key,
                introspection: options.introspection,
                document_cache: options.document_cache,
                stage_spans: crate::telemetry::enabled(),
            },
        );
        let trusted = TrustedDocuments::new(
            db.clone(),
            options.trusted_documents,
            options.trusted_documents_team_keys_run_any,
        );
        let schema = schema
            .with_operation_metrics(metrics.operations.clone())
            .with_trusted_documents(trusted.clone());
        // LISTEN needs a session: on the direct connection.
        let listener = start_listener(&direct, broker.clone()).await;
        let state = web::Data::new(AppState {
            schema,
            db: db.clone(),
            metrics,
            auth: Authenticator::new(
                db.clone(),
                tokens,
                KeyCache::new(broker.clone(), Duration::from_secs(options.key_cache_secs)),
            ),
            rate_limit: http::rate_limit::RateLimit::new(
                options.rate_limit_per_second,
                options.rate_limit_burst,
            ),
            broker: broker.clone(),
            limits: HttpLimits {
                max_body_bytes: options.max_body_bytes,
                max_batch: options.max_batch,
                body_timeout: options.body_timeout(),
            },
            ws_slots: graphql_ws::slots::ConnectionSlots::new(options.ws_max_connections_per_key),
            ws: graphql_ws::WsSettings {
                init_timeout: Duration::from_millis(options.ws_init_timeout_ms),
                keepalive: Duration::from_millis(options.ws_keepalive_ms),
                max_subscriptions: options.ws_max_subscriptions,
                max_message_bytes: options.ws_max_message_bytes,
                send_timeout: Duration::from_millis(options.ws_send_timeout_ms),
            },
            going_away: graphql_ws::GoingAway::default(),
            access_log: options.access_log,
            persisted: Default::default(),
            trusted,
            sse: Default::default(),
            replicas,
        });
        let app_state = state.clone();
        let (server, addr) = http::server::bind(
            move || {
                actix_web::App::new()
                    .app_data(app_state.clone())
                    .wrap(from_fn(http::metrics::record))
                    .wrap(from_fn(http::trace::traced))
                    .configure(http::routes)
            },
            &http::server::Listen {
                addr: options.listen,
                workers: options.workers,
                backlog: 4096,
                shutdown_timeout: Duration::from_secs(10),
                header_deadline: options.header_timeout().map(|timeout| {
                    http::slow_clients::HeaderDeadline {
                        timeout,
                        expired: state
                            .metrics
                            .request_timeouts
                            .with_label_values(&["headers"]),
                    }
                }),
            },
        )
        .map_err(|source| StartupError::Bind {
            addr: options.listen,
            source,
        })?;
        Ok(App {
            server,
            addr,
            state,
            key_usage_flush: Duration::from_secs(options.key_usage_flush_secs.max(1)),
            listener,
            jobs_every: Duration::from_millis(options.jobs_interval_ms.max(50)),
            event_retention: Duration::from_secs(options.event_retention_secs),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What stops the server; the only way to, so that websockets are always told.
    pub fn handle(&self) -> StopHandle {
        StopHandle {
            server: self.server.handle(),
            going_away: self.state.going_away.clone(),
        }
    }

    /// Serves until stopped (SIGINT/SIGTERM or the handle), then writes what is pending.
    /// Alongside: the event listener (subscriptions), the periodic jobs (snooze waker,
    /// event pruning) and the key-usage writer.
    pub async fn run(self) -> std::io::Result<()> {
        let background = [
            tokio::spawn(flush_key_usage_every(
                self.state.clone(),
                self.key_usage_flush,
            )),
            tokio::spawn(
                self.state.broker.presence().clone().sweep_every(
                    (self.state.broker.presence().ttl() / 10)
                        .clamp(Duration::from_millis(50), Duration::from_millis(250)),
                ),
            ),
            tokio::spawn(crate::tickets::snooze::run(
                self.state.db.clone(),
                self.jobs_every,
                self.event_retention,
            )),
        ];
        let outcome = self.server.await;
        self.listener.abort();
        for task in background {
            task.abort();
        }
        flush_key_usage(&self.state).await;
        outcome
    }
}

/// Stops a running server, as `ServerHandle` does, but tells its websockets first.
#[derive(Clone)]
pub struct StopHandle {
    server: ServerHandle,
    going_away: graphql_ws::GoingAway,
}

impl StopHandle {
    /// Sends the command at once; the future resolves when the server has stopped.
    ///
    /// A graceful stop first announces it to every websocket, which closes within
    /// milliseconds (1001), then lets actix stop accepting and wait for the requests in
    /// flight. (A forced stop drops every connection at once: nothing could be sent.)
    pub fn stop(&self, graceful: bool) -> impl Future<Output = ()> {
        if graceful {
            self.going_away.announce();
        }
        self.server.stop(graceful)
    }
}

/// The standbys of `DATABASE_READ_URL` (pools like the primary's), monitored from now on.
fn read_replicas(
    options: &ServeOptions,
    primary: &Db,
    metrics: &Metrics,
    pooled: bool,
) -> Option<Arc<ReadReplicas>> {
    let urls = options
        .database_read_url
        .as_deref()
        .filter(|urls| !urls.trim().is_empty())?;
    let replicas = ReadReplicas::new(
        primary.clone(),
        urls,
        &PoolOptions {
            max_size: options.pool_size,
            checkout_timeout: options.pool_timeout(),
            statement_timeout: options.statement_timeout(),
            pooled,
        },
        Duration::from_secs_f64(options.max_replica_lag.max(0.0)),
        (metrics.replica_lag.clone(), metrics.replica_up.clone()),
        metrics.db_statements.clone(),
        metrics.db_trips.clone(),
    );
    // The monitor lives as long as the process (as the listener does).
    drop(replicas.clone().monitor());
    Some(replicas)
}

/// What changes behind PgBouncer in transaction pooling mode, said once at start-up.
fn say_what_a_pooler_changes(options: &ServeOptions, has_direct: bool) {
    tracing::info!(
        "DATABASE_URL is a transaction pooler's (PgBouncer): no prepared statements are \
         kept and no session settings made"
    );
    if !has_direct {
        tracing::warn!(
            "LISTEN would go through a transaction pooler, where it does not work: live \
             updates from other replicas would not arrive, and the migrations' session lock \
             could stay behind. Set DATABASE_LISTEN_URL to a direct connection to PostgreSQL"
        );
    }
    tracing::warn!(
        statement_timeout_ms = options.statement_timeout_ms,
        "TICKETGATE_STATEMENT_TIMEOUT_MS cannot be set per session through a transaction \
         pooler: set it on the role (ALTER ROLE … SET statement_timeout) or in PgBouncer's \
         connect_query"
    );
}

/// Starts the event listener and waits (a little) for its LISTEN, so no event committed
/// after start-up is missed by this replica's subscribers. An unreachable database does
/// not hold the start: the listener keeps trying in the background.
async fn start_listener(url: &str, broker: Arc<Broker>) -> tokio::task::JoinHandle<()> {
    let (listening, ready) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(events::listener::run(url.to_string(), broker, listening));
    if tokio::time::timeout(Duration::from_secs(5), ready)
        .await
        .is_err()
    {
        tracing::warn!("the event listener is not connected yet; subscriptions wait for it");
    }
    task
}

async fn flush_key_usage(state: &AppState) {
    state.rate_limit.forget_idle();
    let usage = state.auth.usage().clone();
    if let Err(err) = state.db.run(move |conn| Ok(usage.flush(conn)?)).await {
        tracing::warn!(error = %err, "could not record API key usage");
    }
}

async fn flush_key_usage_every(state: web::Data<AppState>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        flush_key_usage(&state).await;
    }
}

#[cfg(test)]
mod open_file_limit_tests {
    #[test]
    fn the_soft_limit_is_raised_to_the_hard_one() {
        use nix::sys::resource::{getrlimit, Resource};
        let now = super::raise_open_file_limit();
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
        assert_eq!(now, Some(soft));
        assert_eq!(soft, hard);
    }
}

#[cfg(test)]
mod database_wait_tests {
    use super::{unreachable_reason, StartupError};

    fn is_unreachable(err: &StartupError) -> bool {
        unreachable_reason(err).is_some()
    }

    fn connect_error(message: &str) -> StartupError {
        StartupError::Connect(diesel::ConnectionError::BadConnection(message.into()))
    }

    #[test]
    fn only_an_unreachable_database_is_waited_for() {
        // As `db::connect` reports it.
        let refused = diesel::ConnectionError::BadConnection("Connection refused".into());
        let unavailable = StartupError::App(crate::error::AppError::from(refused));
        assert!(is_unreachable(&unavailable));
        for waited in [
            "connection to server at \"127.0.0.1\", port 1 failed: Connection refused",
            "FATAL:  the database system is starting up",
            "FATAL:  the database system is in recovery mode",
            "FATAL:  the database system is not yet accepting connections",
        ] {
            assert!(is_unreachable(&connect_error(waited)), "{waited}");
        }
        for refused in [
            "FATAL:  password authentication failed for user \"ticketgate\"",
            "FATAL:  database \"nope\" does not exist",
            "invalid connection string",
        ] {
            assert!(!is_unreachable(&connect_error(refused)), "{refused}");
        }
    }
}
