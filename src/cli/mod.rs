//! What each subcommand does. `main.rs` only parses and dispatches here.

use std::io::IsTerminal;

mod documents;
mod keys;
mod serve;

use std::path::Path;

use crate::app::{Database, StartupError};
use crate::auth::customer_tokens::TokenSecret;
use crate::config::{
    ApiKeyCommand, Cli, Command, CustomerTokenCommand, DocumentsCommand, GlobalOptions, SeedArgs,
};
use crate::{schema, seed};

pub fn run(cli: Cli) -> Result<(), StartupError> {
    match cli
        .command
        .unwrap_or_else(|| Command::Serve(Box::default()))
    {
        Command::Serve(options) => serve::serve(&cli.global, &options),
        Command::Migrate => migrate(&cli.global),
        Command::Seed(args) => seed_team(&cli.global, &args),
        Command::ApiKey(ApiKeyCommand::Create(args)) => keys::create_api_key(&cli.global, &args),
        Command::ApiKey(ApiKeyCommand::List(args)) => keys::list_api_keys(&cli.global, &args),
        Command::ApiKey(ApiKeyCommand::Revoke(args)) => keys::revoke_api_key(&cli.global, &args),
        Command::CustomerToken(CustomerTokenCommand::Create(args)) => {
            keys::create_customer_token(&cli.global, &args)
        }
        Command::Documents(DocumentsCommand::Push(args)) => documents::push(&cli.global, &args),
        Command::PrintSchema => {
            print!("{}", schema::build::sdl());
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
    let progress = std::io::stderr().is_terminal();
    let plans = match args.teams {
        Some(teams) => seed::team_plans(&args.team, teams, args.tickets, args.rng_seed, progress),
        None => vec![seed::SeedOptions {
            team_slug: args.team.clone(),
            tickets: args.tickets,
            progress,
            rng_seed: args.rng_seed,
        }],
    };
    let started = std::time::Instant::now();
    let reports = seed::seed_teams(&database.url, &plans, seed::BulkLoad::Auto)?;
    for (plan, report) in plans.iter().zip(&reports) {
        let seconds = report.elapsed.as_secs_f64().max(f64::EPSILON);
        eprintln!(
            "seeded team `{}`: {} tickets, {} messages, {} persons in {:.1} s ({:.0} tickets/s)",
            plan.team_slug,
            report.tickets,
            report.messages,
            report.persons,
            seconds,
            report.tickets as f64 / seconds
        );
    }
    if reports.len() > 1 {
        // The whole run: the per-team times leave out the index builds and ANALYZE.
        let tickets: u64 = reports.iter().map(|r| r.tickets).sum();
        let seconds = started.elapsed().as_secs_f64().max(f64::EPSILON);
        eprintln!(
            "seeded {} teams: {tickets} tickets in {seconds:.1} s ({:.0} tickets/s)",
            reports.len(),
            tickets as f64 / seconds
        );
    }
    Ok(())
}

/// The customer-token secret: TICKETGATE_TOKEN_SECRET; for the local cluster without it,
/// one generated once and kept in the data directory (mode 0600), so every command on
/// that directory agrees; otherwise none (customer tokens disabled).
pub fn token_secret(
    global: &GlobalOptions,
    database: &Database,
) -> Result<Option<TokenSecret>, StartupError> {
    if let Some(secret) = global.token_secret.as_deref().filter(|s| !s.is_empty()) {
        return TokenSecret::new(secret.as_bytes())
            .map(Some)
            .ok_or_else(|| {
                StartupError::Invalid("TICKETGATE_TOKEN_SECRET must be at least 32 bytes".into())
            });
    }
    match &database.cluster {
        Some(cluster) => Ok(Some(local_secret(cluster.data_dir())?)),
        None => Ok(None),
    }
}

fn local_secret(data_dir: &Path) -> Result<TokenSecret, StartupError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("token-secret");
    let failed = |err: std::io::Error| StartupError::Invalid(format!("{}: {err}", path.display()));
    if let Ok(existing) = std::fs::read(&path) {
        if let Some(secret) = TokenSecret::new(&existing) {
            return Ok(secret);
        }
    }
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let encoded = hex::encode(bytes);
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| file.write_all(encoded.as_bytes()))
        .map_err(failed)?;
    TokenSecret::new(encoded.as_bytes())
        .ok_or_else(|| StartupError::Invalid("could not make a token secret".into()))
}
