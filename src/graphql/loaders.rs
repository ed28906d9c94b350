//! The request's DataLoader: every nested look-up of a page (persons, assignees, tags,
//! email channels, message pages, message authors, tickets of messages) is gathered and
//! answered with one SQL statement per kind, whatever the page size. Built per request
//! (per websocket connection for subscriptions), scoped to the viewer's team, no cache.
//!
//! This module is the machinery and knows no domain: each domain implements
//! `Loader<ItsKey> for Batch` next to its queries (`persons::loaders`, `tags::loaders`, …),
//! with `Batch::run` for the statement and `Batch::take_primed` for what a page read ahead.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader};
use diesel::PgConnection;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::primed::{Primed, Taken};
use crate::auth::TicketScope;
use crate::db::Db;
use crate::error::{AppError, IntoGql};

pub type Loaders = DataLoader<Batch>;

pub struct Batch {
    db: Db,
    scope: TicketScope,
    trip: Trip,
    /// Answers read ahead with a page (see `tickets::read_ahead`).
    primed: Mutex<Primed>,
}

/// One piece of loader work, waiting for its trip to the database.
type Job = Box<dyn FnOnce(&mut PgConnection) + Send>;

/// The loader statements of one scheduler pass, run one after the other on one pooled
/// connection in one trip to the blocking pool.
///
/// The loaders of a request fire together (the person, assignee and tag look-ups of a
/// page, say), and each hand-off to the blocking pool costs thread wake-ups both ways and
/// a pool checkout: on a page of tickets those hops were a sixth of the server's CPU.
/// Whichever batch comes first leads: it lets the rest of the pass go by, so the other
/// batches of the pass can join, then takes them all in one trip. A statement a
/// millisecond long gains nothing from a connection of its own once the server is busy.
#[derive(Clone, Default)]
struct Trip(Arc<Mutex<Option<Vec<Job>>>>);

impl Trip {
    /// Runs `work` with the other work of this pass; the leader's future drives the trip.
    async fn run<T, F>(&self, db: &Db, work: F) -> Result<T, Arc<AppError>>
    where
        T: Send + 'static,
        F: FnOnce(&mut PgConnection) -> Result<T, AppError> + Send + 'static,
    {
        let (sender, receiver) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let _ = sender.send(work(conn));
        });
        let leads = {
            let mut pending = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            match pending.as_mut() {
                Some(jobs) => {
                    jobs.push(job);
                    false
                }
                None => {
                    *pending = Some(vec![job]);
                    true
                }
            }
        };
        if leads {
            tokio::task::yield_now().await;
            let jobs = self
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or_default();
            db.run(move |conn| {
                jobs.into_iter().for_each(|job| job(conn));
                Ok(())
            })
            .await
            .map_err(Arc::new)?;
        }
        match receiver.await {
            Ok(result) => result.map_err(Arc::new),
            // The trip failed before this job ran (the leader reported why).
            Err(_) => Err(Arc::new(AppError::DbUnavailable(
                "the shared trip to the database failed".into(),
            ))),
        }
    }
}

/// Counts the polls of one request's future, so its loaders can tell when it has gone
/// quiet.
///
/// async-graphql's DataLoader sends a batch a fixed delay after its first key. But the
/// executor resolves big lists in slices (its `FuturesUnordered` yields every 32 polls),
/// so a page of 500 tickets registers its keys over many polls, and on a slow build the
/// delay fires between them, splitting one statement into several. Instead, each batch
/// waits until a whole pass of the (single-threaded) actix worker goes by without the
/// request being polled: then every resolver is waiting, every key is in, and the batch
/// goes at once, with no fixed delay added to the request. No library offers this
/// scheduling hint, hence these few lines.
#[derive(Clone, Default)]
pub struct RequestActivity(Arc<AtomicU64>);

impl RequestActivity {
    /// Runs the request's future, counting its polls.
    pub async fn track<F: Future>(&self, future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| {
            self.0.fetch_add(1, Ordering::Relaxed);
            future.as_mut().poll(cx)
        })
        .await
    }

    /// Counts one poll of the request (for transports that poll it themselves).
    pub fn polled(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Resolves once a scheduler pass went by without the request being polled.
    async fn settled(&self) {
        loop {
            let seen = self.0.load(Ordering::Relaxed);
            tokio::task::yield_now().await;
            if self.0.load(Ordering::Relaxed) == seen {
                return;
            }
        }
    }
}

pub fn loaders(db: Db, scope: TicketScope, activity: RequestActivity) -> Loaders {
    let spawner = move |batch: futures_util::future::BoxFuture<'static, ()>| {
        let activity = activity.clone();
        tokio::spawn(async move {
            activity.settled().await;
            batch.await;
        })
    };
    let trip = Trip::default();
    let batch = Batch {
        db,
        scope,
        trip,
        primed: Mutex::default(),
    };
    DataLoader::new(batch, spawner)
        .delay(Duration::ZERO)
        // One batch per kind: no page is larger than this.
        .max_batch_size(1_000_000)
}

/// What one `Loader::load` answers.
pub type LoadResult<K, V> = Result<HashMap<K, V>, Arc<AppError>>;

impl Batch {
    /// Leaves answers read ahead for the loaders to hand out.
    pub fn prime(&self, answers: Primed) {
        self.primed().merge(answers);
    }

    fn primed(&self) -> std::sync::MutexGuard<'_, Primed> {
        let mut primed = self.primed.lock().unwrap_or_else(PoisonError::into_inner);
        primed.forget_stale();
        primed
    }

    /// What was read ahead for `keys` (handed out once), and the keys still to ask.
    pub fn take_primed<K, V>(&self, keys: &[K]) -> Taken<K, V>
    where
        K: Hash + Eq + Clone + Send + 'static,
        V: Send + 'static,
    {
        self.primed().take(keys)
    }

    /// Runs a loader's statement with the rest of this pass (see `Trip`), in the viewer's
    /// scope.
    pub async fn run<T, F>(&self, work: F) -> Result<T, Arc<AppError>>
    where
        T: Send + 'static,
        F: FnOnce(&mut diesel::PgConnection, &TicketScope) -> Result<T, AppError> + Send + 'static,
    {
        let scope = self.scope.clone();
        self.trip
            .run(&self.db, move |conn| work(conn, &scope))
            .await
    }
}

impl Batch {
    /// For a loader keyed by one id whose answers a page may have read ahead: hands those
    /// out, and asks `query` for the rest in one statement.
    pub async fn read_ahead_or<K, V, Q>(
        &self,
        keys: &[K],
        id_of: fn(&K) -> Uuid,
        key_of: fn(Uuid) -> K,
        query: Q,
    ) -> LoadResult<K, V>
    where
        K: Hash + Eq + Clone + Send + 'static,
        V: Send + 'static,
        Q: FnOnce(&mut diesel::PgConnection, &[Uuid]) -> diesel::QueryResult<HashMap<Uuid, V>>
            + Send
            + 'static,
    {
        let Taken { mut found, missing } = self.take_primed(keys);
        if !missing.is_empty() {
            let ids: Vec<Uuid> = missing.iter().map(id_of).collect();
            let more = self.run(move |conn, _| Ok(query(conn, &ids)?)).await?;
            found.extend(more.into_iter().map(|(id, value)| (key_of(id), value)));
        }
        Ok(found)
    }
}

/// The ids inside some keys.
pub fn ids<K: Copy>(keys: &[K], id: impl Fn(K) -> Uuid) -> Vec<Uuid> {
    keys.iter().map(|k| id(*k)).collect()
}

/// The request's loader, asked once for the keys of the whole list. What the page read
/// ahead is taken straight from the loader's store (no batch to schedule); only the rest
/// goes through the DataLoader.
pub async fn load_all<K>(
    field: &async_graphql::Context<'_>,
    keys: impl IntoIterator<Item = K>,
) -> async_graphql::Result<HashMap<K, <Batch as Loader<K>>::Value>>
where
    K: Send + Sync + Hash + Eq + Clone + 'static,
    Batch: Loader<K, Error = Arc<AppError>>,
{
    let rc = super::context::RequestContext::of(field)?;
    // Each key once: tickets of one customer share their person's key.
    let keys: Vec<K> = keys
        .into_iter()
        .collect::<std::collections::HashSet<K>>()
        .into_iter()
        .collect();
    let Taken { mut found, missing } = rc.loaders.loader().take_primed(&keys);
    if !missing.is_empty() {
        found.extend(rc.loaders.load_many(missing).await.gql()?);
    }
    Ok(found)
}
