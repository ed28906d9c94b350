//! Generates chunks of realistic tickets with their persons, messages, assignments and
//! tags, purely in memory: no database access here, so it can run on its own thread
//! while the previous chunk is being copied.
//!
//! Content is a function of the rng seed (and of `now`); ids come from [`IdGen`], unique
//! per run.
//!
//! `Generator`'s methods are split by concern, in one `impl` block per child module:
//! - `customers`: persons, their distinct ids and identities, and who wrote each ticket;
//! - `tickets`: one ticket's row, its status, SLA, assignment and tags;
//! - `channels`: the channel columns of a ticket and the metadata of its messages;
//! - `messages`: the conversation of a ticket.
//!
//! The random helpers (`pick`, `weighted`, times) stay here. Every draw from the rng
//! happens in the same order as before the split: the same seed gives the same data.

mod channels;
mod customers;
mod messages;
mod tickets;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::Rng;
use uuid::Uuid;

use super::ids::IdGen;
use super::rows::Chunk;
use super::setup::TeamFixtures;

/// What every chunk of one run shares: the team and its fixtures.
pub struct Context {
    pub team_id: Uuid,
    pub slug: String,
    pub team_name: String,
    pub fixtures: TeamFixtures,
    pub now: DateTime<Utc>,
    /// Tickets in the whole run: `created_at` is spread by position in the run.
    pub total: u64,
    pub slack_team_id: String,
    pub slack_channels: Vec<String>,
    pub teams_tenant_id: String,
    pub teams_channels: Vec<String>,
}

impl Context {
    /// The team's chat workspaces come from the seed too, so reruns with the same seed
    /// put new tickets in the same Slack and Teams channels.
    pub fn new(
        team: &crate::teams::Team,
        fixtures: TeamFixtures,
        total: u64,
        now: DateTime<Utc>,
        rng: &mut StdRng,
    ) -> Self {
        Context {
            team_id: team.id,
            slug: team.slug.clone(),
            team_name: team.name.clone(),
            fixtures,
            now,
            total,
            slack_team_id: format!("T0{}", upper_alnum(rng, 9)),
            slack_channels: (0..4)
                .map(|_| format!("C0{}", upper_alnum(rng, 9)))
                .collect(),
            teams_tenant_id: uuid::Builder::from_random_bytes(rng.random())
                .into_uuid()
                .hyphenated()
                .to_string(),
            teams_channels: (0..3)
                .map(|_| format!("19:{}@thread.tacv2", Uuid::from_u128(rng.random()).simple()))
                .collect(),
        }
    }
}

pub struct Generator<'a> {
    ctx: &'a Context,
    rng: StdRng,
    ids: IdGen,
}

impl<'a> Generator<'a> {
    pub fn new(ctx: &'a Context, rng: StdRng) -> Self {
        Generator {
            ctx,
            rng,
            ids: IdGen::for_new_run(),
        }
    }

    /// `count` tickets at positions `first..first + count` of the run.
    pub fn chunk(&mut self, first: u64, count: usize) -> Chunk {
        let mut chunk = Chunk::default();
        let chunk_start = self.created_at(first);
        let persons = self.persons(&mut chunk, count, chunk_start);
        for position in first..first + count as u64 {
            self.ticket(&mut chunk, &persons, position);
        }
        chunk
    }

    // ---- random helpers ------------------------------------------------------------

    /// A uniformly chosen element; callers only pass non-empty slices (catalogs, and
    /// fixtures `setup` guarantees).
    fn pick<'s, T>(&mut self, items: &'s [T]) -> &'s T {
        &items[self.rng.random_range(0..items.len())]
    }

    fn weighted<T: Copy>(&mut self, table: &[(T, u32)]) -> T {
        let total: u32 = table.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.random_range(0..total.max(1));
        for (value, weight) in table {
            if roll < *weight {
                return *value;
            }
            roll -= weight;
        }
        table[table.len() - 1].0
    }

    fn seconds(&mut self, low: i64, high: i64) -> TimeDelta {
        TimeDelta::seconds(self.rng.random_range(low..high))
    }

    /// A moment `low..high` seconds after `t`, but never past `now`: it takes at most
    /// half of the time left, so successive messages stay ordered and in the past.
    fn after(&mut self, t: DateTime<Utc>, low: i64, high: i64) -> DateTime<Utc> {
        let gap = self.seconds(low, high);
        let room = (self.ctx.now - t) / 2;
        t + gap.min(room).max(TimeDelta::zero())
    }

    fn clamp(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        t.min(self.ctx.now)
    }
}

fn upper_alnum(rng: &mut StdRng, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
