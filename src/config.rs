//! The command line and its environment variables: the one place every setting is named.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "ticketgate",
    version,
    about = "A GraphQL gateway over customer-support tickets",
    long_about = "A GraphQL gateway over customer-support tickets.\n\n\
                  With DATABASE_URL unset, ticketgate runs a private PostgreSQL from the machine's \
                  installed server binaries in --data-dir and seeds a demo team on first start."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalOptions {
    /// PostgreSQL connection URL. When unset, a local cluster in --data-dir is used.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// Where the zero-config local PostgreSQL keeps its data (only without DATABASE_URL).
    #[arg(
        long,
        env = "TICKETGATE_DATA_DIR",
        default_value = ".ticketgate",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Secret that signs customer tokens (at least 32 bytes; the same on every replica).
    /// Unset: a secret kept in --data-dir for the local cluster, else customer tokens are
    /// disabled.
    #[arg(
        long,
        env = "TICKETGATE_TOKEN_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub token_secret: Option<String>,

    /// Log filter (tracing's EnvFilter syntax, e.g. `info,ticketgate=debug`).
    #[arg(long, env = "TICKETGATE_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Log lines as text (for people) or JSON objects (for log shippers: each line one
    /// object; access lines carry the request's trace id when traces are exported).
    #[arg(
        long,
        env = "TICKETGATE_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the GraphQL API (the default command).
    Serve(Box<ServeOptions>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create demo data: a team (created if missing) with persons, users, tickets, messages.
    Seed(SeedArgs),
    /// Manage API keys.
    #[command(subcommand)]
    ApiKey(ApiKeyCommand),
    /// Mint customer tokens (what the support widget holds).
    #[command(subcommand)]
    CustomerToken(CustomerTokenCommand),
    /// Print the GraphQL schema (SDL) the server exposes.
    PrintSchema,
    /// Manage trusted documents (the operations clients registered ahead of time).
    #[command(subcommand)]
    Documents(DocumentsCommand),
}

#[derive(Debug, Subcommand)]
pub enum DocumentsCommand {
    /// Store the operations of a client's manifest as trusted documents: graphql-codegen's
    /// `persisted-documents.json`, Relay's `persisted_queries.json` (or any JSON object of
    /// id → document), or Apollo's persisted query manifest. All of them or none.
    Push(DocumentsPushArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DocumentsPushArgs {
    /// The manifest file.
    pub manifest: std::path::PathBuf,
    /// Which client the documents come from (kept with them, for operators).
    #[arg(long)]
    pub client_name: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeOptions {
    /// Address to listen on.
    #[arg(long, env = "TICKETGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Largest accepted request body, in bytes (larger: 413).
    #[arg(long, env = "TICKETGATE_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Most operations in one batched request.
    #[arg(long, env = "TICKETGATE_MAX_BATCH", default_value_t = 10)]
    pub max_batch: usize,

    /// Page size when `first`/`last` is not given.
    #[arg(long, env = "TICKETGATE_DEFAULT_PAGE_SIZE", default_value_t = 50)]
    pub default_page_size: i32,

    /// Largest `first`/`last` accepted.
    #[arg(long, env = "TICKETGATE_MAX_PAGE_SIZE", default_value_t = 500)]
    pub max_page_size: i32,

    /// Deepest query accepted; 0: no limit.
    #[arg(long, env = "TICKETGATE_MAX_DEPTH", default_value_t = 12)]
    pub max_depth: usize,

    /// Largest query complexity accepted: each field costs 1, and lists cost their page
    /// size (`first`/`last`, 50 by default) times what each item selects; 0: no limit.
    #[arg(long, env = "TICKETGATE_MAX_COMPLEXITY", default_value_t = 200_000)]
    pub max_complexity: usize,

    /// Most aliased fields in one operation; 0: no limit.
    #[arg(long, env = "TICKETGATE_MAX_ALIASES", default_value_t = 100)]
    pub max_aliases: usize,

    /// Most fields (and arguments) in one operation, fragments expanded; 0: no limit.
    #[arg(long, env = "TICKETGATE_MAX_FIELDS", default_value_t = 5000)]
    pub max_fields: usize,

    /// Most lexical tokens in a document (names, punctuators, strings, numbers), counted
    /// before it is parsed, so a huge document costs no parsing; 0: no limit.
    #[arg(long, env = "TICKETGATE_MAX_TOKENS", default_value_t = 50_000)]
    pub max_tokens: usize,

    /// Most bytes of text and JSON one response may carry (message contents, subjects,
    /// traits, …), counted while it is built; past it the request fails with
    /// `RESPONSE_TOO_LARGE`. 0: no limit.
    #[arg(long, env = "TICKETGATE_MAX_RESPONSE_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_response_bytes: usize,

    /// Most bytes the requests of one API key in flight may hold together (counted like
    /// `--max-response-bytes`; a team's customer tokens share one allowance); past it a
    /// request fails with `RESPONSE_TOO_LARGE`. 0: no limit.
    #[arg(
        long,
        env = "TICKETGATE_MAX_HELD_BYTES_PER_KEY",
        default_value_t = 128 * 1024 * 1024
    )]
    pub max_held_bytes_per_key: usize,

    /// Most root fields in one operation; 0: no limit.
    #[arg(long, env = "TICKETGATE_MAX_ROOT_FIELDS", default_value_t = 20)]
    pub max_root_fields: usize,

    /// Parsed query documents kept by their text (parsing is skipped for a document seen
    /// before); 0: parse every request.
    #[arg(long, env = "TICKETGATE_DOCUMENT_CACHE", default_value_t = 1000)]
    pub document_cache: usize,

    /// Requests per second per API key (or customer), on average; 0: no limit.
    #[arg(long, env = "TICKETGATE_RATE_LIMIT_PER_SECOND", default_value_t = 50)]
    pub rate_limit_per_second: u32,

    /// Requests a key may send at once above the average.
    #[arg(long, env = "TICKETGATE_RATE_LIMIT_BURST", default_value_t = 200)]
    pub rate_limit_burst: u32,

    /// Most websocket connections open at once per API key (or customer), per replica.
    #[arg(
        long,
        env = "TICKETGATE_WS_MAX_CONNECTIONS_PER_KEY",
        default_value_t = 50
    )]
    pub ws_max_connections_per_key: usize,

    /// Whether introspection (and field suggestions) are enabled: on/off, true/false, yes/no.
    /// Customer tokens never introspect.
    #[arg(
        long,
        env = "TICKETGATE_INTROSPECTION",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub introspection: bool,

    /// `allow`: any operation runs (trusted documents also run by their id); `only`: only
    /// trusted documents (`ticketgate documents push`) run, anything else is refused with
    /// TRUSTED_DOCUMENT_REQUIRED.
    #[arg(
        long,
        env = "TICKETGATE_TRUSTED_DOCUMENTS",
        value_enum,
        default_value_t = crate::graphql::trusted::TrustedMode::Allow
    )]
    pub trusted_documents: crate::graphql::trusted::TrustedMode,

    /// In `only` mode, let team API keys (never customer tokens) run any operation, e.g.
    /// from GraphiQL: on/off. Off by default.
    #[arg(
        long,
        env = "TICKETGATE_TRUSTED_DOCUMENTS_TEAM_KEYS_RUN_ANY",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub trusted_documents_team_keys_run_any: bool,

    /// One log line per HTTP request (method, route, status, duration, trace id), at
    /// `info` under the `ticketgate::access` target: on/off. Off by default: at thousands
    /// of requests a second it is the busiest thing the server writes.
    #[arg(
        long,
        env = "TICKETGATE_ACCESS_LOG",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub access_log: bool,

    /// A direct connection to PostgreSQL for what needs a session of its own — the event
    /// LISTEN and the migrations' lock — when DATABASE_URL goes through a transaction
    /// pooler (PgBouncer). Unset: DATABASE_URL.
    #[arg(long, env = "DATABASE_LISTEN_URL", hide_env_values = true)]
    pub database_listen_url: Option<String>,

    /// Streaming-replication standbys for reads, comma-separated: queries over HTTP run on
    /// them (a caller's own writes are always read back), everything else on the primary.
    #[arg(long, env = "DATABASE_READ_URL", hide_env_values = true)]
    pub database_read_url: Option<String>,

    /// A standby further behind the primary than this many seconds takes no reads until
    /// it catches up.
    #[arg(long, env = "TICKETGATE_MAX_REPLICA_LAG", default_value_t = 5.0)]
    pub max_replica_lag: f64,

    /// DATABASE_URL goes through PgBouncer in transaction pooling mode: no prepared
    /// statements are kept and no session settings are made (on/off). Also turned on by
    /// `pgbouncer=true` in DATABASE_URL's parameters.
    #[arg(
        long,
        env = "TICKETGATE_PGBOUNCER",
        default_value_t = false,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub pgbouncer: bool,

    /// Database connections in the pool.
    #[arg(long, env = "TICKETGATE_POOL_SIZE", default_value_t = 16)]
    pub pool_size: u32,

    /// Longest wait for a pooled connection before DB_UNAVAILABLE, in milliseconds.
    #[arg(long, env = "TICKETGATE_POOL_TIMEOUT_MS", default_value_t = 5000)]
    pub pool_timeout_ms: u64,

    /// Longest any one SQL statement may run, in milliseconds.
    #[arg(long, env = "TICKETGATE_STATEMENT_TIMEOUT_MS", default_value_t = 10000)]
    pub statement_timeout_ms: u64,

    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "TICKETGATE_WORKERS")]
    pub workers: Option<usize>,

    /// How long a replica may keep an API key it looked up, in seconds, while it listens
    /// for key changes (any change empties every replica's cache at once); 0: look the key
    /// up on every request.
    #[arg(long, env = "TICKETGATE_KEY_CACHE_SECS", default_value_t = 60)]
    pub key_cache_secs: u64,

    /// How often API keys' `last_used_at` is written, in seconds.
    #[arg(long, env = "TICKETGATE_KEY_USAGE_FLUSH_SECS", default_value_t = 30)]
    pub key_usage_flush_secs: u64,

    /// Websocket: how long a client has to send `connection_init`, in milliseconds.
    #[arg(long, env = "TICKETGATE_WS_INIT_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_init_timeout_ms: u64,

    /// Websocket: keep-alive interval, in milliseconds (0: none); a client silent for two
    /// intervals is dropped.
    #[arg(long, env = "TICKETGATE_WS_KEEPALIVE_MS", default_value_t = 12_000)]
    pub ws_keepalive_ms: u64,

    /// Websocket: most operations running at once on one connection.
    #[arg(long, env = "TICKETGATE_WS_MAX_SUBSCRIPTIONS", default_value_t = 100)]
    pub ws_max_subscriptions: usize,

    /// Websocket: largest message accepted from a client, in bytes.
    #[arg(long, env = "TICKETGATE_WS_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub ws_max_message_bytes: usize,

    /// Websocket: how long a message may wait for a client that does not read, in
    /// milliseconds, before the connection is closed (1013).
    #[arg(long, env = "TICKETGATE_WS_SEND_TIMEOUT_MS", default_value_t = 10_000)]
    pub ws_send_timeout_ms: u64,

    /// How long a new connection has to send its first request's headers, in
    /// milliseconds (then 408); 0: no deadline.
    #[arg(long, env = "TICKETGATE_HEADER_TIMEOUT_MS", default_value_t = 5_000)]
    pub header_timeout_ms: u64,

    /// How long a request body may take to arrive once its headers did, in milliseconds
    /// (then 408); 0: no deadline.
    #[arg(long, env = "TICKETGATE_BODY_TIMEOUT_MS", default_value_t = 10_000)]
    pub body_timeout_ms: u64,

    /// Events a subscription may fall behind by before it is ended (SUBSCRIBER_LAGGED).
    #[arg(long, env = "TICKETGATE_SUBSCRIPTION_QUEUE", default_value_t = 1024)]
    pub subscription_queue: usize,

    /// How long a subscription waits out a database outage, in seconds: the rows of an
    /// event that cannot be read meanwhile are read again with back-off, and the event
    /// arrives late but in order. Past this, the subscription ends with DB_UNAVAILABLE.
    #[arg(
        long,
        env = "TICKETGATE_SUBSCRIPTION_OUTAGE_GRACE_SECS",
        default_value_t = 30
    )]
    pub subscription_outage_grace_secs: u64,

    /// How long a replica that starts while the database is unreachable waits for it, in
    /// seconds (it says so in its log, then serves once the database answers). Unset:
    /// as long as it takes. Errors other than an unreachable database (a wrong password,
    /// a missing database) stop the start at once.
    #[arg(long, env = "TICKETGATE_DATABASE_WAIT_SECS")]
    pub database_wait_secs: Option<u64>,

    /// How long the outbox keeps events, in seconds: a subscription can resume (`after:`)
    /// from a position up to this old; an older one gets POSITION_EXPIRED.
    #[arg(long, env = "TICKETGATE_EVENT_RETENTION_SECS", default_value_t = 3600)]
    pub event_retention_secs: u64,

    /// How long a presence heartbeat (`setPresence`) holds, in seconds: an agent or
    /// customer silent this long is no longer viewing or typing. Every replica should
    /// have the same value (each signal carries its sender's).
    #[arg(long, env = "TICKETGATE_PRESENCE_TTL_SECS", default_value_t = 30)]
    pub presence_ttl_secs: u64,

    /// How often background jobs run (snoozed tickets wake up), in milliseconds.
    #[arg(long, env = "TICKETGATE_JOBS_INTERVAL_MS", default_value_t = 5000)]
    pub jobs_interval_ms: u64,

    /// Do not seed the `demo` team on the first start of a new local data directory.
    #[arg(long, env = "TICKETGATE_NO_DEMO", default_value_t = false)]
    pub no_demo: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions::parse_from_defaults()
    }
}

impl ServeOptions {
    /// Defaults exactly as the command line gives them (tests start from these).
    fn parse_from_defaults() -> Self {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeOptions,
        }
        // Parsing no arguments cannot fail: every option has a default.
        match Only::try_parse_from(["ticketgate"]) {
            Ok(only) => only.serve,
            Err(err) => err.exit(),
        }
    }

    pub fn pool_timeout(&self) -> Duration {
        Duration::from_millis(self.pool_timeout_ms)
    }

    pub fn statement_timeout(&self) -> Duration {
        Duration::from_millis(self.statement_timeout_ms)
    }

    /// The header read deadline (None: off).
    pub fn header_timeout(&self) -> Option<Duration> {
        Some(Duration::from_millis(self.header_timeout_ms)).filter(|d| !d.is_zero())
    }

    /// The body read deadline (None: off).
    pub fn body_timeout(&self) -> Option<Duration> {
        Some(Duration::from_millis(self.body_timeout_ms)).filter(|d| !d.is_zero())
    }
}

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// The team to seed (created when missing); with --teams, the prefix of their slugs.
    #[arg(long, env = "TICKETGATE_SEED_TEAM", default_value = "demo")]
    pub team: String,

    /// Seed N teams `<team>-0` … `<team>-<N-1>` in one run instead of one team: --tickets
    /// is then the total, spread evenly (the first team takes the remainder), and team i
    /// uses --rng-seed + i. The same data as seeding each team on its own, but on an
    /// empty database the indexes are built once for all of them (much faster).
    #[arg(long, env = "TICKETGATE_SEED_TEAMS", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub teams: Option<u32>,

    /// How many tickets to create (with --teams: in all).
    #[arg(long, env = "TICKETGATE_SEED_TICKETS", default_value_t = 200)]
    pub tickets: u64,

    /// Random seed, for reproducible data.
    #[arg(long, env = "TICKETGATE_SEED_RNG", default_value_t = 42)]
    pub rng_seed: u64,
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it (alone, on stdout). It is shown only this once.
    Create(ApiKeyCreateArgs),
    /// List a team's keys (prefix, name, scopes, last use, revocation; never the key).
    List(TeamArg),
    /// Revoke a key by its id or its prefix: it stops working on the next request, and
    /// websocket connections using it are closed.
    Revoke(ApiKeyRevokeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct TeamArg {
    /// The team.
    #[arg(long, env = "TICKETGATE_TEAM")]
    pub team: String,
}

#[derive(Debug, Clone, Args)]
pub struct ApiKeyRevokeArgs {
    /// The team the key belongs to.
    #[arg(long, env = "TICKETGATE_TEAM")]
    pub team: String,

    /// The key's id, or its prefix as `api-key list` shows it (e.g. `tg_Ab12Cd`).
    pub key: String,
}

#[derive(Debug, Subcommand)]
pub enum CustomerTokenCommand {
    /// Mint a token for one customer of a team and print it (alone, on stdout).
    Create(CustomerTokenArgs),
}

#[derive(Debug, Clone, Args)]
pub struct CustomerTokenArgs {
    /// The team.
    #[arg(long, env = "TICKETGATE_TEAM")]
    pub team: String,

    /// The customer's distinct id: the token sees that customer's tickets only.
    #[arg(long)]
    pub distinct_id: String,

    /// How long the token lives, in seconds (at most 30 days).
    #[arg(long, default_value_t = 3600)]
    pub ttl_seconds: i64,
}

#[derive(Debug, Clone, Args)]
pub struct ApiKeyCreateArgs {
    /// The team the key works for.
    #[arg(long, env = "TICKETGATE_TEAM")]
    pub team: String,

    /// Act as this user (email); the user must belong to the team's organisation.
    #[arg(long)]
    pub user: Option<String>,

    /// A label to tell keys apart.
    #[arg(long, default_value = "")]
    pub name: String,

    /// Make a read-only key (queries and subscriptions, no mutations).
    #[arg(long)]
    pub read_only: bool,
}
