//! What each subcommand does. `main.rs` only parses and dispatches here.

use std::io::IsTerminal;

use crate::app::{App, Database, StartupError};
use crate::auth::api_keys;
use crate::auth::viewer::Scope;
use crate::config::{
    ApiKeyCommand, ApiKeyCreateArgs, Cli, Command, GlobalOptions, SeedArgs, ServeOptions,
};
use crate::error::AppError;
use crate::{db, graphql, seed, teams, users};

pub fn run(cli: Cli) -> Result<(), StartupError> {
    match cli
        .command
        .unwrap_or(Command::Serve(ServeOptions::default()))
    {
        Command::Serve(options) => serve(&cli.global, &options),
        Command::Migrate => migrate(&cli.global),
        Command::Seed(args) => seed_team(&cli.global, &args),
        Command::ApiKey(ApiKeyCommand::Create(args)) => create_api_key(&cli.global, &args),
        Command::PrintSchema => {
            print!("{}", graphql::schema::sdl());
            Ok(())
        }
    }
}

fn open(global: &GlobalOptions) -> Result<Database, StartupError> {
    Database::open(global.database_url.as_deref(), &global.data_dir)
}

fn migrate(global: &GlobalOptions) -> Result<(), StartupError> {
    let database = open(global)?;
    let applied = crate::app::migrate(&database.url)?;
    if applied.is_empty() {
        eprintln!("the database is up to date");
    }
    for version in applied {
        eprintln!("applied migration {version}");
    }
    Ok(())
}

fn seed_team(global: &GlobalOptions, args: &SeedArgs) -> Result<(), StartupError> {
    let database = open(global)?;
    crate::app::migrate(&database.url)?;
    let mut conn = db::connect(&database.url)?;
    let report = seed::seed(
        &mut conn,
        &seed::SeedOptions {
            team_slug: args.team.clone(),
            tickets: args.tickets,
            progress: std::io::stderr().is_terminal(),
            rng_seed: args.rng_seed,
        },
    )?;
    let seconds = report.elapsed.as_secs_f64().max(f64::EPSILON);
    eprintln!(
        "seeded team `{}`: {} tickets, {} messages, {} persons in {:.1} s ({:.0} tickets/s)",
        args.team,
        report.tickets,
        report.messages,
        report.persons,
        seconds,
        report.tickets as f64 / seconds
    );
    Ok(())
}

fn create_api_key(global: &GlobalOptions, args: &ApiKeyCreateArgs) -> Result<(), StartupError> {
    let database = open(global)?;
    crate::app::migrate(&database.url)?;
    let mut conn = db::connect(&database.url)?;
    let team = teams::queries::find_by_slug(&mut conn, &args.team)?
        .ok_or_else(|| StartupError::Invalid(format!("no team `{}`", args.team)))?;
    let user_id = match &args.user {
        None => None,
        Some(email) => Some(
            users::queries::find_in_team_organization(&mut conn, team.id, email)?
                .ok_or_else(|| {
                    StartupError::Invalid(format!(
                        "no user `{email}` in the organisation of team `{}`",
                        args.team
                    ))
                })?
                .id,
        ),
    };
    let scopes: &[Scope] = if args.read_only {
        &[Scope::Read]
    } else {
        &[Scope::Read, Scope::Write]
    };
    let (_, key) = api_keys::create(&mut conn, team.id, user_id, &args.name, scopes)?;
    println!("{key}");
    Ok(())
}

fn serve(global: &GlobalOptions, options: &ServeOptions) -> Result<(), StartupError> {
    actix_web::rt::System::new().block_on(async {
        // Signals are ours from the first moment: a Ctrl-C during start-up must still stop
        // the server cleanly (and leave the local cluster), never kill the process outright.
        let shutdown = ShutdownSignal::install()?;
        let database = open(global)?;
        let demo_key = if database.created && !options.no_demo {
            crate::app::migrate(&database.url)?;
            Some(seed_demo(&database.url)?)
        } else {
            None
        };
        let started = std::time::Instant::now();
        let app = App::build(&database.url, options).await?;
        tracing::info!(
            addr = %app.addr(),
            startup_ms = started.elapsed().as_millis() as u64,
            "ticketgate is listening"
        );
        announce(&app, demo_key.as_deref());
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

    /// Stops the server gracefully on the first signal (including one that came while
    /// starting up).
    fn stop_on_signal(mut self, handle: actix_web::dev::ServerHandle) {
        actix_web::rt::spawn(async move {
            tokio::select! {
                _ = self.interrupt.recv() => {}
                _ = self.terminate.recv() => {}
            }
            tracing::info!("shutting down");
            handle.stop(true).await;
        });
    }
}

/// The first start of a new local data directory: a small `demo` team and a key for it,
/// so a newcomer can query at once.
fn seed_demo(url: &str) -> Result<String, StartupError> {
    let mut conn = db::connect(url)?;
    seed::seed(
        &mut conn,
        &seed::SeedOptions {
            team_slug: "demo".into(),
            tickets: 200,
            progress: false,
            rng_seed: 42,
        },
    )?;
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

fn announce(app: &App, demo_key: Option<&str>) {
    let base = format!("http://{}", app.addr());
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
