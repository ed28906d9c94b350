//! `ticketgate serve`: the server, with the local cluster, the first-start demo team and
//! signal handling.

use crate::app::{App, StartupError};
use crate::auth::api_keys;
use crate::auth::viewer::Scope;
use crate::config::{GlobalOptions, LogFormat, ServeOptions};
use crate::error::AppError;
use crate::{db, seed, teams};

use super::{open, token_secret};

pub fn serve(global: &GlobalOptions, options: &ServeOptions) -> Result<(), StartupError> {
    actix_web::rt::System::new().block_on(async {
        // Signals are ours from the first moment: a Ctrl-C during start-up must still stop
        // the server cleanly (and leave the local cluster), never kill the process outright.
        let mut shutdown = ShutdownSignal::install()?;
        let database = open(global)?;
        let tokens = token_secret(global, &database)?;
        let demo_key = if database.created && !options.no_demo {
            crate::app::migrate(&database.url)?;
            Some(seed_demo(&database.url)?)
        } else {
            None
        };
        let started = std::time::Instant::now();
        // A replica started while its database is down waits for it (see
        // `migrate_once_reachable`); a signal meanwhile ends the wait and the process.
        let app = tokio::select! {
            app = App::build(&database.url, options, tokens) => app?,
            () = shutdown.received() => {
                tracing::info!("stopped before serving");
                drop(database);
                return Ok(());
            }
        };
        tracing::info!(
            addr = %app.addr(),
            startup_ms = started.elapsed().as_millis() as u64,
            "ticketgate is listening"
        );
        announce(&app, demo_key.as_deref(), global.log_format);
        shutdown.stop_on_signal(app.handle());
        let outcome = app
            .run()
            .await
            .map_err(|err| StartupError::Invalid(err.to_string()));
        drop(database);
        outcome
    })
}

/// SIGINT and SIGTERM, registered before anything starts.
struct ShutdownSignal {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn install() -> Result<ShutdownSignal, StartupError> {
        use tokio::signal::unix::{signal, SignalKind};
        let failed = |err: std::io::Error| StartupError::Invalid(format!("signal handlers: {err}"));
        Ok(ShutdownSignal {
            interrupt: signal(SignalKind::interrupt()).map_err(failed)?,
            terminate: signal(SignalKind::terminate()).map_err(failed)?,
        })
    }

    /// Resolves on the first signal.
    async fn received(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }

    /// Stops the server gracefully on the first signal (including one that came while
    /// starting up): websockets are closed (1001), requests in flight finish.
    fn stop_on_signal(mut self, handle: crate::app::StopHandle) {
        actix_web::rt::spawn(async move {
            self.received().await;
            tracing::info!("shutting down");
            handle.stop(true).await;
        });
    }
}

/// The first start of a new local data directory: a small `demo` team and a key for it,
/// so a newcomer can query at once.
fn seed_demo(url: &str) -> Result<String, StartupError> {
    seed::seed(
        url,
        &seed::SeedOptions {
            team_slug: "demo".into(),
            tickets: 200,
            progress: false,
            rng_seed: 42,
        },
    )?;
    let mut conn = db::connect(url)?;
    let team =
        teams::queries::find_by_slug(&mut conn, "demo")?.ok_or(AppError::NotFound("team"))?;
    let (_, key) = api_keys::create(
        &mut conn,
        team.id,
        None,
        "demo key (created on first start)",
        &[Scope::Read, Scope::Write],
    )?;
    Ok(key)
}

fn announce(app: &App, demo_key: Option<&str>, format: LogFormat) {
    let base = format!("http://{}", app.addr());
    if format == LogFormat::Json && demo_key.is_none() {
        // Log shippers read one JSON object per line: no banner.
        tracing::info!(
            endpoint = format!("{base}/graphql"),
            "ticketgate is ready; GraphQL endpoint: {base}/graphql"
        );
        return;
    }
    match demo_key {
        Some(key) => eprintln!(
            "\n  ticketgate is ready, with a demo team.\n\n  \
             GraphiQL (click to query):  {base}/#key={key}\n  \
             API key of team `demo`:     {key}   (shown once; keep it)\n  \
             GraphQL endpoint:           {base}/graphql\n\n  \
             curl {base}/graphql -H 'Authorization: Bearer {key}' \\\n    \
             -H 'Content-Type: application/json' \\\n    \
             -d '{{\"query\":\"{{ tickets(first: 5) {{ nodes {{ ticketNumber status }} }} }}\"}}'\n"
        ),
        None => eprintln!(
            "\n  ticketgate is ready.\n\n  \
             GraphiQL:                   {base}/\n  \
             GraphQL endpoint:           {base}/graphql\n  \
             A new API key:              ticketgate api-key create --team demo\n"
        ),
    }
}
