//! Demo data: fills a team with a realistic support inbox — agents, roles, tags, an email
//! channel, customers (persons) and any number of tickets with their conversations,
//! assignments and tags.
//!
//! Built for volume: rows are generated in memory, in chunks, on a second thread while
//! the previous chunk is written with binary `COPY FROM`. When the connection is a
//! superuser's, foreign-key triggers are skipped (see `copy::may_skip_foreign_key_checks`).
//!
//! Several teams may be seeded in one run (`seed_teams`, `ticketgate seed --teams N`).
//! On an empty database a large run takes the bulk path (`db::bulk_load`): the secondary indexes
//! are dropped, the teams are loaded two at a time, and the indexes are built once at
//! the end, two at a time, before ANALYZE. Measured on two busy cores (load average ~4
//! from other builds): 1,000,000 tickets over 10 teams in 129 s, of which 36 s loading and
//! 90 s for the longest index build (the trigram GIN index of 2.6 million messages);
//! seeding the teams one by one took 53 s for 100,000 tickets where this takes 14 s.
//!
//! Seeding an existing team adds to it: its fixtures are reused, and ticket numbers
//! continue from the team's counter. The rows are the same on both paths.

mod catalog;
mod copy;
mod counters;
mod generate;
mod ids;
mod rows;
mod setup;

use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use chrono::Utc;
use diesel::prelude::*;
use diesel::PgConnection;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::StdRng;
use rand::SeedableRng;
use uuid::Uuid;

use crate::db::bulk_load;
use crate::error::{AppError, AppResult};
use crate::teams;
use generate::{Context, Generator};
use rows::Chunk;

/// Tickets per chunk (and per transaction): big enough that per-statement overhead
/// vanishes, small enough to bound memory (~50 MB per chunk in flight) and to move the
/// progress bar every fraction of a second.
const CHUNK_TICKETS: u64 = 10_000;

pub struct SeedOptions {
    pub team_slug: String,
    pub tickets: u64,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Same seed, same content (ids aside, which are unique per run).
    pub rng_seed: u64,
}

#[derive(Debug)]
pub struct SeedReport {
    pub team_id: Uuid,
    pub created_team: bool,
    pub tickets: u64,
    pub messages: u64,
    pub persons: u64,
    pub elapsed: Duration,
}

/// Row counts of what was written so far.
#[derive(Debug, Default)]
struct Totals {
    tickets: u64,
    messages: u64,
    persons: u64,
}

impl Totals {
    fn add(&mut self, chunk: &Chunk) {
        self.tickets += chunk.tickets.len() as u64;
        self.messages += chunk.messages.len() as u64;
        self.persons += chunk.persons.len() as u64;
    }
}

/// How `seed_teams` may load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkLoad {
    /// The bulk path when the loaded tables are empty and the run is large enough for
    /// rebuilding the indexes to pay off ([`BULK_MIN_TICKETS`]).
    Auto,
    /// The bulk path whenever the loaded tables are empty (tests use it on small runs).
    WhenEmpty,
    /// Always row-by-row index maintenance.
    Never,
}

/// Below this many tickets in a run, dropping and rebuilding ~28 indexes costs more than
/// maintaining them.
pub const BULK_MIN_TICKETS: u64 = 20_000;

/// Seeds `options.tickets` tickets into the team `options.team_slug` (created if missing).
pub fn seed(url: &str, options: &SeedOptions) -> AppResult<SeedReport> {
    let mut reports = seed_teams(url, std::slice::from_ref(options), BulkLoad::Auto)?;
    reports
        .pop()
        .ok_or_else(|| AppError::internal("seeding one team reported none"))
}

/// Seeds every team of `teams`, one after the other, in one run.
///
/// On an empty database (see [`BulkLoad`]) the run takes the bulk path: the secondary
/// indexes are dropped once, every team is loaded, and the indexes are built once at
/// the end (see `db::bulk_load`). The rows are exactly those of the normal path; only how the
/// indexes come to exist differs. Emptiness is only about speed, not correctness: a
/// rebuilt index covers every row, whoever wrote it, so a concurrent writer is safe
/// (its reads are slow until the indexes are back).
pub fn seed_teams(
    url: &str,
    teams: &[SeedOptions],
    bulk_load: BulkLoad,
) -> AppResult<Vec<SeedReport>> {
    for options in teams {
        validate_slug(&options.team_slug)?;
    }
    check_distinct(teams)?;
    let mut conn = crate::db::connect(url)?;
    let total: u64 = teams.iter().map(|t| t.tickets).sum();
    let use_bulk = match bulk_load {
        BulkLoad::Never => false,
        BulkLoad::Auto => total >= BULK_MIN_TICKETS && bulk_load::applies(&mut conn)?,
        BulkLoad::WhenEmpty => bulk_load::applies(&mut conn)?,
    };
    if !use_bulk {
        let reports = seed_each(&mut conn, teams)?;
        refresh_statistics(&mut conn)?;
        return Ok(reports);
    }
    let indexes = bulk_load::secondary_indexes(&mut conn)?;
    tracing::info!(
        indexes = indexes.len(),
        "empty database: loading without secondary indexes, then building them"
    );
    bulk_load::begin_load(&mut conn)?;
    bulk_load::drop_indexes(&mut conn, &indexes)?;
    let loaded = seed_concurrently(url, teams);
    // Rebuilt even when the load failed: what was written must stay indexed.
    let started = Instant::now();
    let rebuilt = bulk_load::create_indexes(url, indexes);
    bulk_load::end_load(&mut conn)?;
    tracing::info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "secondary indexes rebuilt"
    );
    let reports = loaded?;
    rebuilt?;
    refresh_statistics(&mut conn)?;
    Ok(reports)
}

fn seed_each(conn: &mut PgConnection, teams: &[SeedOptions]) -> AppResult<Vec<SeedReport>> {
    teams
        .iter()
        .map(|options| seed_team(conn, options))
        .collect()
}

/// Teams loaded at once, each by its own thread pair and connection.
const LOADERS: usize = 2;

/// Loads `teams` [`LOADERS`] at a time. One team's pipeline keeps about one core busy
/// (its generator waits on COPY, COPY on the generator, both on WAL flushes and
/// checkpoints); two of them fill the stalls of each other. Teams share no rows, so only
/// the order in which they are created differs from loading them one by one.
fn seed_concurrently(url: &str, teams: &[SeedOptions]) -> AppResult<Vec<SeedReport>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<AppResult<SeedReport>>>> =
        teams.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..LOADERS.min(teams.len()) {
            scope.spawn(|| load_from_queue(url, teams, &next, &results));
        }
    });
    let results: Vec<Option<AppResult<SeedReport>>> = results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        })
        .collect();
    // The first real failure, rather than the teams left out because of it.
    let mut reports = Vec::with_capacity(results.len());
    let mut missing = false;
    for result in results {
        match result {
            Some(Ok(report)) => reports.push(report),
            Some(Err(err)) => return Err(err),
            None => missing = true,
        }
    }
    if missing {
        return Err(AppError::internal("a team was not seeded"));
    }
    Ok(reports)
}

/// Takes the next unseeded team until none is left; after a failure it stops, so the
/// run ends soon (the other loader finishes its current team).
fn load_from_queue(
    url: &str,
    teams: &[SeedOptions],
    next: &std::sync::atomic::AtomicUsize,
    results: &[std::sync::Mutex<Option<AppResult<SeedReport>>>],
) {
    let mut conn = match crate::db::connect(url) {
        Ok(conn) => conn,
        Err(err) => {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if let Some(slot) = results.get(i) {
                *slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Err(err));
            }
            return;
        }
    };
    loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (Some(options), Some(slot)) = (teams.get(i), results.get(i)) else {
            return;
        };
        let result = seed_team(&mut conn, options);
        let failed = result.is_err();
        *slot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(result);
        if failed {
            // Let the other loader see that nothing is left.
            next.store(teams.len(), std::sync::atomic::Ordering::SeqCst);
            return;
        }
    }
}

/// Two plans for one slug would seed it twice under one name: refuse it up front.
fn check_distinct(teams: &[SeedOptions]) -> AppResult<()> {
    let mut slugs: Vec<&str> = teams.iter().map(|t| t.team_slug.as_str()).collect();
    slugs.sort_unstable();
    if slugs.windows(2).any(|w| w[0] == w[1]) {
        return Err(AppError::bad_input(
            "team_slug",
            "each team may be seeded once per run",
        ));
    }
    Ok(())
}

/// One team's share of a run: its fixtures, then its tickets through the pipeline.
fn seed_team(conn: &mut PgConnection, options: &SeedOptions) -> AppResult<SeedReport> {
    let started = Instant::now();
    let (team, created_team) = teams::queries::find_or_create(conn, &options.team_slug)?;
    check_room(team.last_ticket_number, options.tickets)?;
    let fixtures = setup::ensure(conn, &team)?;
    tracing::info!(team = %team.slug, created_team, tickets = options.tickets, "seeding demo data");

    let mut rng = StdRng::seed_from_u64(options.rng_seed);
    let ctx = Context::new(&team, fixtures, options.tickets, Utc::now(), &mut rng);
    let progress = progress_bar(options);
    let writer = copy::Writer {
        team_id: team.id,
        skip_foreign_key_checks: copy::may_skip_foreign_key_checks(conn)?,
    };
    tracing::debug!(
        skip_foreign_key_checks = writer.skip_foreign_key_checks,
        "bulk load mode"
    );
    let totals = run(conn, &ctx, writer, rng, &progress);
    match totals {
        // The caller reports the totals; a finished bar would only repeat them.
        Ok(_) => progress.finish_and_clear(),
        Err(_) => progress.abandon(),
    }
    let totals = totals?;

    let elapsed = started.elapsed();
    tracing::info!(
        team = %team.slug,
        tickets = totals.tickets,
        messages = totals.messages,
        persons = totals.persons,
        elapsed_ms = elapsed.as_millis() as u64,
        tickets_per_sec = (totals.tickets as f64 / elapsed.as_secs_f64().max(1e-9)) as u64,
        "seeded demo data"
    );
    Ok(SeedReport {
        team_id: team.id,
        created_team,
        tickets: totals.tickets,
        messages: totals.messages,
        persons: totals.persons,
        elapsed,
    })
}

/// The plans of `--teams N`: teams `<prefix>-0` … `<prefix>-<N-1>`, `tickets` spread
/// evenly (the first team takes the remainder), team `i` drawn from `rng_seed + i` —
/// exactly what seeding each team on its own with those arguments would do.
pub fn team_plans(
    prefix: &str,
    teams: u32,
    tickets: u64,
    rng_seed: u64,
    progress: bool,
) -> Vec<SeedOptions> {
    let n = u64::from(teams.max(1));
    let per_team = tickets / n;
    (0..n)
        .map(|i| SeedOptions {
            team_slug: format!("{prefix}-{i}"),
            tickets: per_team + if i == 0 { tickets - per_team * n } else { 0 },
            progress,
            rng_seed: rng_seed.wrapping_add(i),
        })
        .collect()
}

/// Fresh planner statistics for the tables just filled: without them, Postgres plans the
/// read queries as if the tables were empty (a page of 50 tickets measured 2 s instead of
/// 30 ms right after seeding 100,000). ANALYZE samples, so it stays quick at any size.
fn refresh_statistics(conn: &mut PgConnection) -> QueryResult<()> {
    diesel::sql_query(
        "ANALYZE tickets, messages, persons, person_distinct_ids, ticket_assignments, ticket_tags, tags",
    )
    .execute(conn)
    .map(|_| ())
}

/// The slug rule of the `teams` table, checked first so a bad slug is the caller's
/// error rather than a constraint violation.
fn validate_slug(slug: &str) -> AppResult<()> {
    let mut chars = slug.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if first_ok && rest_ok && slug.len() <= 63 {
        Ok(())
    } else {
        Err(AppError::bad_input(
            "team_slug",
            "must be 1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit",
        ))
    }
}

/// Ticket numbers are `integer`: refuse up front what would overflow the team's counter.
fn check_room(last_ticket_number: i32, tickets: u64) -> AppResult<()> {
    let room = u64::try_from(i32::MAX - last_ticket_number.max(0)).unwrap_or(0);
    if tickets > room {
        return Err(AppError::bad_input(
            "tickets",
            format!("the team has room for at most {room} more tickets"),
        ));
    }
    Ok(())
}

fn progress_bar(options: &SeedOptions) -> ProgressBar {
    if !options.progress {
        return ProgressBar::hidden();
    }
    // `ProgressBar::new` draws on stderr.
    let bar = ProgressBar::new(options.tickets);
    let template = concat!(
        "{spinner} seeding {prefix} [{elapsed_precise}] {wide_bar} ",
        "{human_pos}/{human_len} tickets ({per_sec:0}, ETA {eta})"
    );
    match ProgressStyle::with_template(template) {
        Ok(style) => bar.set_style(style),
        Err(err) => tracing::debug!(error = %err, "progress template rejected, using the default"),
    }
    bar.set_prefix(options.team_slug.clone());
    bar
}

/// Generates on a second thread while this one copies: the database and the generator
/// each keep a core busy. The channel holds one chunk, so at most three are in memory.
fn run(
    conn: &mut PgConnection,
    ctx: &Context,
    writer: copy::Writer,
    rng: StdRng,
    progress: &ProgressBar,
) -> AppResult<Totals> {
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::sync_channel::<Chunk>(1);
        let producer = scope.spawn(move || {
            let mut generator = Generator::new(ctx, rng);
            for (first, count) in chunk_plan(ctx.total) {
                // A send error means the writer stopped (on an error): stop too.
                if sender.send(generator.chunk(first, count)).is_err() {
                    break;
                }
            }
        });
        // `write_all` owns the receiver: if it fails, dropping it stops the producer,
        // so the join below cannot hang.
        let written = write_all(conn, writer, receiver, progress);
        let joined = producer.join();
        let totals = written?;
        joined.map_err(|_| AppError::internal("the seed generator thread panicked"))?;
        Ok(totals)
    })
}

/// `(first position, count)` of each chunk of a run of `total` tickets.
fn chunk_plan(total: u64) -> impl Iterator<Item = (u64, usize)> {
    (0..total)
        .step_by(CHUNK_TICKETS as usize)
        .map(move |first| {
            let count = CHUNK_TICKETS.min(total - first) as usize;
            (first, count)
        })
}

fn write_all(
    conn: &mut PgConnection,
    writer: copy::Writer,
    chunks: Receiver<Chunk>,
    progress: &ProgressBar,
) -> AppResult<Totals> {
    let mut totals = Totals::default();
    for mut chunk in chunks {
        copy::write_chunk(conn, writer, &mut chunk)?;
        totals.add(&chunk);
        progress.inc(chunk.tickets.len() as u64);
        tracing::debug!(
            tickets = totals.tickets,
            messages = totals.messages,
            "chunk written"
        );
    }
    Ok(totals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_run_exactly() {
        let plan: Vec<_> = chunk_plan(2 * CHUNK_TICKETS + 1).collect();
        let size = CHUNK_TICKETS as usize;
        assert_eq!(
            plan,
            vec![(0, size), (CHUNK_TICKETS, size), (2 * CHUNK_TICKETS, 1)]
        );
        assert_eq!(chunk_plan(0).count(), 0);
    }

    #[test]
    fn slugs_follow_the_table_rule() {
        assert!(validate_slug("acme-support_2").is_ok());
        assert!(validate_slug("").is_err());
        assert!(validate_slug("-acme").is_err());
        assert!(validate_slug("Acme").is_err());
    }

    #[test]
    fn team_plans_spread_tickets_like_separate_runs() {
        let plans = team_plans("bench", 3, 10, 42, false);
        let got: Vec<_> = plans
            .iter()
            .map(|p| (p.team_slug.as_str(), p.tickets, p.rng_seed))
            .collect();
        assert_eq!(
            got,
            vec![("bench-0", 4, 42), ("bench-1", 3, 43), ("bench-2", 3, 44)]
        );
        assert!(check_distinct(&plans).is_ok());
        let twice = team_plans("a", 1, 1, 1, false)
            .into_iter()
            .chain(team_plans("a", 1, 1, 1, false));
        assert!(check_distinct(&twice.collect::<Vec<_>>()).is_err());
    }

    #[test]
    fn ticket_numbers_must_fit_an_integer() {
        assert!(check_room(0, 1_000_000).is_ok());
        assert!(check_room(i32::MAX - 5, 6).is_err());
    }
}
