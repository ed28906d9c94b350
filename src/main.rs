#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, Registry};

use ticketgate::config::{Cli, LogFormat};
use ticketgate::db::local_pg;
use ticketgate::telemetry::{self, Traces};

// mimalloc instead of glibc malloc: async-graphql allocates many small, short-lived objects
// per field, across worker threads; glibc spent a quarter of a page's CPU in malloc/free
// (and consolidation). Measured on the inbox page: +10 % req/s. Its `no_thp` feature keeps
// transparent huge pages off: with them, idle RSS went from 22 to 39 MiB and each idle
// websocket from 33 to 50 KiB; without them both match glibc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The local cluster's guard is this executable re-invoked with an argv no user types:
    // recognised before clap, with the log filter of the environment.
    let mut args = std::env::args_os().skip(1);
    if args.next().is_some_and(|arg| arg == local_pg::GUARD_ARG) {
        let filter = std::env::var("TICKETGATE_LOG").unwrap_or_else(|_| "info".into());
        init_logging(&filter, LogFormat::Text, false);
        return local_pg::run_guard(args);
    }
    local_pg::enable_guard();
    ticketgate::app::raise_open_file_limit();
    let cli = Cli::parse();
    let traces = init_logging(&cli.global.log, cli.global.log_format, true);
    let outcome = ticketgate::cli::run(cli);
    if let Some(traces) = traces {
        traces.shutdown();
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr (text or JSON lines) under the `TICKETGATE_LOG` filter; with
/// `traces` and the OTLP variables set, spans are also exported (see `telemetry`), under
/// a filter of their own so that a quiet log does not silence the traces.
fn init_logging(filter: &str, format: LogFormat, traces: bool) -> Option<Traces> {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let log: Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync> = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let log = log.with_filter(filter);
    let mut failed = None;
    let (traces, exporter) = match traces && telemetry::configured() {
        true => match Traces::start() {
            Ok((traces, tracer)) => (
                Some(traces),
                Some(
                    tracing_opentelemetry::layer()
                        .with_tracer(tracer)
                        .with_filter(LevelFilter::INFO),
                ),
            ),
            Err(why) => {
                failed = Some(why);
                (None, None)
            }
        },
        false => (None, None),
    };
    tracing_subscriber::registry()
        .with(log)
        .with(exporter)
        .init();
    if let Some(why) = failed {
        tracing::warn!("OpenTelemetry traces are off: {why}");
    }
    traces
}
