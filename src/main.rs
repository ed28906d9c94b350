#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use ticketgate::config::Cli;
use ticketgate::db::local_pg;

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
        init_logging(&std::env::var("TICKETGATE_LOG").unwrap_or_else(|_| "info".into()));
        return local_pg::run_guard(args);
    }
    local_pg::enable_guard();
    ticketgate::app::raise_open_file_limit();
    let cli = Cli::parse();
    init_logging(&cli.global.log);
    match ticketgate::cli::run(cli) {
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

fn init_logging(filter: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
