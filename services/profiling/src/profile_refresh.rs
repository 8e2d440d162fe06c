//! Recomputing profiles: bring the customers' event summaries up to date, build, save
//! portraits and summaries together, then refresh the merchant-wide RFM scores. Shared by
//! the outbox consumer and rebuild jobs.
//!
//! The consumer applies only each customer's new events to their stored summary
//! (`portrait_input`); a summary records which outbox entries it holds, so at-least-once
//! delivery from the outbox is safe: an entry read again is skipped. Rebuild jobs build
//! summaries from all events; they delete a customer's stored summary before reading, and
//! keep one the consumer writes meanwhile (it may hold events the job did not see).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use caravan_store::sea_orm::DatabaseConnection;
use chrono::{DateTime, Utc};

use crate::error::ProfilingError;
use crate::fitted_value_model::{DEFAULT_HORIZON_DAYS, FittedValueModel};
use crate::merchant_refresh::{CustomerOrders, order_rows, refresh_rfm, score_against};
use crate::portrait_input::{self, Position, Refreshed, Start};
use crate::profile_builder::{BuildContext, BuiltProfile, CustomerData, build};
use crate::profile_store::{delete_derived, existing, merchant_context, save_many};
use crate::rfm::RfmSnapshot;
use crate::{summary_store, value_model_store};

/// Customers rebuilt per load by a rebuild job (one round of batched queries), each from
/// all their events: a chunk's decoded events are in memory at once; with 50 instead of
/// 200 the process's RSS under a steady stream was about 15 MiB lower (BENCHMARKS.md, mixed
/// load, second round).
pub const CHUNK: usize = 50;

/// Customers per load of the outbox consumer when they have a stored summary (a few new
/// events each): its polls wait on the database's round trips far more than on memory or
/// CPU (77% of the two cores idle under a steady stream of 1,000 events/s), so fewer,
/// larger rounds, two in flight. Customers built from all their events go [`CHUNK`] at a
/// time.
const CONSUMER_CHUNK: usize = 200;

/// How far back a rebuild job records the events it read as recent (their outbox rows may
/// still be ahead of the consumer): a job does not know the consumer's gap grace, so it
/// takes a generous one.
const REBUILD_GRACE: Duration = Duration::from_secs(600);

/// What a refresh did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefreshOutcome {
    pub rebuilt: u64,
    /// Customers that no longer exist (erased or merged away) whose derived data was removed.
    pub removed: u64,
    /// Where the time went, for the consumer's debug log.
    pub spent: Spent,
}

/// Time spent per phase of a refresh. A consumer's refresh loads and builds one chunk while
/// it saves the one before, so the phases can add up to more than the refresh took.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Spent {
    /// Reading stored summaries, customers, events and orders, and folding events.
    pub load: Duration,
    /// Building portraits.
    pub build: Duration,
    /// Saving portraits, summaries and tags, and value-model predictions.
    pub save: Duration,
    /// The merchant-wide RFM refresh.
    pub rfm: Duration,
}

impl RefreshOutcome {
    fn add(&mut self, other: RefreshOutcome) {
        self.rebuilt += other.rebuilt;
        self.removed += other.removed;
        self.spent.load += other.spent.load;
        self.spent.build += other.spent.build;
        self.spent.save += other.spent.save;
        self.spent.rfm += other.spent.rfm;
    }
}

/// What a batch of outbox entries asks of one merchant's customers.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Changes {
    /// New events per customer: `(outbox seq, event id)`.
    pub events: BTreeMap<String, Vec<(i64, String)>>,
    /// Customers to build from all of their events (a merge moved events to them).
    pub rebuild: BTreeSet<String>,
    /// Customers whose own record changed, without new events.
    pub changed: BTreeSet<String>,
}

impl Changes {
    /// Every customer named, once, in order.
    pub fn customers(&self) -> Vec<String> {
        let mut all: BTreeSet<&String> = self.events.keys().collect();
        all.extend(&self.rebuild);
        all.extend(&self.changed);
        all.into_iter().cloned().collect()
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.rebuild.is_empty() && self.changed.is_empty()
    }
}

/// A poll that changes at least this share of the buyers a ranking holds ranks them all again.
const RERANK_SHARE: f64 = 0.25;

/// Rankings by merchant, and when each was taken.
type Rankings = HashMap<String, (Arc<RfmSnapshot>, Instant)>;

/// When the consumer ranks a merchant's buyers again for RFM, and the rankings it keeps.
/// Between rankings, the customers a poll changes are scored against the last one
/// (`merchant_refresh::score_against`); ranking every buyer costs a scan of the merchant's
/// orders, which at 20,000 customers was a fifth of a steady stream's polls.
#[derive(Clone, Debug)]
pub struct RfmPolicy {
    /// This replica's rankings, by merchant, and when they were taken.
    taken: Arc<Mutex<Rankings>>,
    /// A ranking older than this is redone (`profiling.rfm_refresh_seconds`).
    max_age: Duration,
}

impl RfmPolicy {
    pub fn new(max_age: Duration) -> Self {
        Self {
            taken: Arc::default(),
            max_age,
        }
    }

    /// The ranking to score `changed` customers of `merchant` against, or `None` when the
    /// buyers are due to be ranked again.
    fn current(&self, merchant: &str, changed: usize) -> Option<Arc<RfmSnapshot>> {
        let taken = self.taken.lock().ok()?;
        let (snapshot, at) = taken.get(merchant)?;
        #[allow(clippy::cast_precision_loss)]
        let share = changed as f64 / snapshot.len().max(1) as f64;
        (at.elapsed() < self.max_age && share < RERANK_SHARE).then(|| Arc::clone(snapshot))
    }

    fn keep(&self, merchant: &str, snapshot: RfmSnapshot) {
        if let Ok(mut taken) = self.taken.lock() {
            taken.insert(merchant.to_owned(), (Arc::new(snapshot), Instant::now()));
        }
    }
}

/// Rebuilds `ids` of a merchant from all of their events, calling `progress` after each
/// chunk with the number of customers done. Does not refresh RFM; see [`refresh_merchant`].
pub async fn rebuild_customers(
    db: &DatabaseConnection,
    merchant_id: &str,
    ids: &[String],
    mut progress: impl FnMut(u64),
) -> Result<RefreshOutcome, ProfilingError> {
    let ctx = context_of(db, merchant_id).await?;
    let position = Position {
        // Every entry up to the slowest partition's offset is applied (a lower bound is
        // safe: entries after it whose events this job reads are recognised and skipped).
        through: crate::outbox_partitions::lowest_committed(db).await?,
        grace: REBUILD_GRACE,
    };
    let predictor = predictor(db, merchant_id, &ctx).await?;
    let target = Target {
        ctx: &ctx,
        position,
        predictor: predictor.as_ref(),
        write: summary_store::Write::KeepNewer,
    };
    let mut outcome = RefreshOutcome::default();
    let mut done = 0u64;
    for chunk in ids.chunks(CHUNK) {
        // A summary the consumer writes from here on is at least as new as this one.
        summary_store::delete(db, merchant_id, chunk).await?;
        let plans = chunk.iter().map(|id| (id.clone(), Start::Full)).collect();
        outcome.add(
            refresh_chunk(db, merchant_id, chunk, plans, &target)
                .await?
                .0,
        );
        done += chunk.len() as u64;
        progress(done);
    }
    Ok(outcome)
}

async fn context_of(
    db: &DatabaseConnection,
    merchant_id: &str,
) -> Result<BuildContext, ProfilingError> {
    merchant_context(db, merchant_id)
        .await?
        .ok_or_else(|| ProfilingError::NotFound(format!("merchants/{merchant_id}")))
}

/// Applies a batch's `changes` to a merchant's portraits, then brings its RFM scores up to
/// date as `rfm` says. `position` says how far the batch brings the outbox.
pub async fn refresh_merchant(
    db: &DatabaseConnection,
    merchant_id: &str,
    changes: &Changes,
    position: Position,
    rfm: &RfmPolicy,
) -> Result<RefreshOutcome, ProfilingError> {
    if changes.is_empty() {
        return Ok(RefreshOutcome::default());
    }
    // One read of the merchant's context serves the rebuild and the RFM refresh.
    let ctx = context_of(db, merchant_id).await?;
    let predictor = predictor(db, merchant_id, &ctx).await?;
    let target = Target {
        ctx: &ctx,
        position,
        predictor: predictor.as_ref(),
        write: summary_store::Write::Replace,
    };
    let mut outcome = RefreshOutcome::default();
    let mut orders = Vec::new();
    // Two chunks in flight: one is loaded and built while the one before it is saved. Each
    // step spends much of its time waiting on MariaDB (the two cores were 77% idle under a
    // steady stream with one chunk at a time), and the chunks' customers are distinct.
    let mut pending: Option<Vec<Prepared>> = None;
    for chunk in changes.customers().chunks(CONSUMER_CHUNK) {
        let prepare = prepare_consumer_chunk(db, merchant_id, chunk, changes, &target);
        let prepared = match pending.take() {
            None => prepare.await?,
            Some(previous) => {
                let (prepared, saved) = tokio::join!(prepare, save_all(db, previous, &target));
                let (o, round_orders) = saved?;
                outcome.add(o);
                orders.extend(round_orders);
                prepared?
            }
        };
        pending = Some(prepared);
    }
    if let Some(last) = pending {
        let (o, round_orders) = save_all(db, last, &target).await?;
        outcome.add(o);
        orders.extend(round_orders);
    }
    let started = Instant::now();
    match rfm.current(merchant_id, orders.len()) {
        Some(snapshot) => score_against(db, merchant_id, &snapshot, &orders).await?,
        None => rfm.keep(
            merchant_id,
            refresh_rfm(db, merchant_id, ctx.as_of).await?.1,
        ),
    }
    outcome.spent.rfm += started.elapsed();
    Ok(outcome)
}

/// Loads and builds one chunk of the consumer's customers: those with a stored summary in
/// one round, those built from all their events in rounds of [`CHUNK`] (they hold their
/// whole history in memory while loading: a soak's first poll peaked at 657 MiB with 200
/// of them at a time). The events are dropped once folded; the chunk's built portraits and
/// summaries are held until saved.
async fn prepare_consumer_chunk(
    db: &DatabaseConnection,
    merchant_id: &str,
    chunk: &[String],
    changes: &Changes,
    target: &Target<'_>,
) -> Result<Vec<Prepared>, ProfilingError> {
    let started = Instant::now();
    let kept = summary_store::load(db, merchant_id, chunk).await?;
    let loading_summaries = started.elapsed();
    let (incremental, full): (Vec<_>, Vec<_>) = plans_for(chunk, changes, kept)
        .into_iter()
        .partition(|(_, plan)| matches!(plan, Start::Kept(..)));
    let mut rounds = vec![incremental];
    let mut full = full.into_iter().peekable();
    while full.peek().is_some() {
        rounds.push(full.by_ref().take(CHUNK).collect());
    }
    let mut prepared = Vec::new();
    for plans in rounds.into_iter().filter(|r| !r.is_empty()) {
        let ids: Vec<String> = plans.iter().map(|(id, _)| id.clone()).collect();
        prepared.push(prepare_chunk(db, merchant_id, &ids, plans, target).await?);
    }
    if let Some(first) = prepared.first_mut() {
        first.outcome.spent.load += loading_summaries;
    }
    Ok(prepared)
}

/// Saves prepared rounds one after another.
async fn save_all(
    db: &DatabaseConnection,
    prepared: Vec<Prepared>,
    target: &Target<'_>,
) -> Result<(RefreshOutcome, Vec<CustomerOrders>), ProfilingError> {
    let mut outcome = RefreshOutcome::default();
    let mut orders = Vec::new();
    for p in prepared {
        let (o, round_orders) = save_chunk(db, p, target).await?;
        outcome.add(o);
        orders.extend(round_orders);
    }
    Ok((outcome, orders))
}

/// How each customer of `chunk` is brought up to date: from their stored summary and new
/// events, unless they have none or a merge moved events to them.
fn plans_for(
    chunk: &[String],
    changes: &Changes,
    mut kept: std::collections::HashMap<String, summary_store::KeptSummary>,
) -> Vec<(String, Start)> {
    chunk
        .iter()
        .map(|id| {
            let plan = match kept.remove(id) {
                Some(k) if !changes.rebuild.contains(id) => Start::Kept(
                    Box::new(k),
                    changes.events.get(id).cloned().unwrap_or_default(),
                ),
                _ => Start::Full,
            };
            (id.clone(), plan)
        })
        .collect()
}

/// What every chunk of a refresh shares.
struct Target<'a> {
    ctx: &'a BuildContext,
    position: Position,
    predictor: Option<&'a Predictor>,
    write: summary_store::Write,
}

/// One chunk of customers loaded and built, waiting to be saved.
struct Prepared {
    merchant_id: String,
    loaded: Vec<Refreshed>,
    profiles: Vec<BuiltProfile>,
    /// The last erasure before loading (see [`remove_erased_meanwhile`]).
    erasure_mark: i64,
    outcome: RefreshOutcome,
}

/// Loads, builds and saves one chunk of customers; customers that no longer exist lose
/// what was derived from them. Returns the live customers' RFM order rows too.
async fn refresh_chunk(
    db: &DatabaseConnection,
    merchant_id: &str,
    chunk: &[String],
    plans: Vec<(String, Start)>,
    target: &Target<'_>,
) -> Result<(RefreshOutcome, Vec<CustomerOrders>), ProfilingError> {
    let prepared = prepare_chunk(db, merchant_id, chunk, plans, target).await?;
    save_chunk(db, prepared, target).await
}

/// Loads and builds one chunk of customers; those that no longer exist lose what was
/// derived from them.
async fn prepare_chunk(
    db: &DatabaseConnection,
    merchant_id: &str,
    chunk: &[String],
    plans: Vec<(String, Start)>,
    target: &Target<'_>,
) -> Result<Prepared, ProfilingError> {
    let mut outcome = RefreshOutcome::default();
    let started = Instant::now();
    let erasure_mark = caravan_store::erasure::last_erasure(db).await?;
    let loaded = portrait_input::load(db, merchant_id, plans, target.position).await?;
    let live: HashSet<&str> = loaded.iter().map(|r| r.data.customer.id.as_str()).collect();
    for gone in chunk.iter().filter(|id| !live.contains(id.as_str())) {
        delete_derived(db, merchant_id, gone).await?;
        outcome.removed += 1;
    }
    outcome.spent.load += started.elapsed();
    let started = Instant::now();
    let (loaded, profiles) = build_in_background(loaded, target.ctx.clone()).await;
    outcome.spent.build += started.elapsed();
    Ok(Prepared {
        merchant_id: merchant_id.to_owned(),
        loaded,
        profiles,
        erasure_mark,
        outcome,
    })
}

/// Saves a prepared chunk: portraits, summaries and tags in one transaction, then the value
/// model's predictions. Returns the live customers' RFM order rows.
async fn save_chunk(
    db: &DatabaseConnection,
    prepared: Prepared,
    target: &Target<'_>,
) -> Result<(RefreshOutcome, Vec<CustomerOrders>), ProfilingError> {
    let Prepared {
        merchant_id,
        loaded,
        profiles,
        erasure_mark,
        mut outcome,
    } = prepared;
    let merchant_id = merchant_id.as_str();
    let started = Instant::now();
    let built: Vec<_> = loaded
        .iter()
        .map(|r| &r.data.customer)
        .zip(profiles)
        .collect();
    let summaries: Vec<_> = loaded
        .iter()
        .map(|r| (r.data.customer.id.as_str(), &r.kept))
        .collect();
    save_many(db, merchant_id, &built, &summaries, target.write).await?;
    outcome.rebuilt += built.len() as u64;
    let data: Vec<&CustomerData> = loaded.iter().map(|r| &r.data).collect();
    write_predictions(db, merchant_id, target.predictor, &data).await?;
    outcome.removed += remove_erased_meanwhile(db, merchant_id, &data, erasure_mark).await?;
    outcome.spent.save += started.elapsed();
    let orders = data
        .iter()
        .map(|d| (d.customer.id.clone(), order_rows(&d.orders)))
        .collect();
    Ok((outcome, orders))
}

/// The merchant's current value model and the time it predicts from, read once per refresh.
struct Predictor {
    model: FittedValueModel,
    as_of: DateTime<Utc>,
}

async fn predictor(
    db: &DatabaseConnection,
    merchant_id: &str,
    ctx: &BuildContext,
) -> Result<Option<Predictor>, ProfilingError> {
    let Some(model) = value_model_store::load_current(db, merchant_id).await? else {
        return Ok(None);
    };
    let as_of = value_model_store::observation_end(db, merchant_id)
        .await?
        .unwrap_or(ctx.as_of);
    Ok(Some(Predictor { model, as_of }))
}

/// Profiles carry the current value model's predictions from the moment they are built.
async fn write_predictions(
    db: &DatabaseConnection,
    merchant_id: &str,
    predictor: Option<&Predictor>,
    data: &[&CustomerData],
) -> Result<(), ProfilingError> {
    let Some(Predictor {
        model,
        as_of: predict_as_of,
    }) = predictor
    else {
        return Ok(());
    };
    let predict_as_of = *predict_as_of;
    let live: Vec<String> = data.iter().map(|d| d.customer.id.clone()).collect();
    let orders = value_model_store::customer_orders(db, merchant_id, &live).await?;
    let predictions: Vec<_> = live
        .into_iter()
        .map(|id| {
            let history = orders.get(&id).map_or(&[][..], Vec::as_slice);
            let p = model.predict(history, predict_as_of, DEFAULT_HORIZON_DAYS);
            (id, p)
        })
        .collect();
    value_model_store::write_profile_predictions(db, merchant_id, &predictions).await?;
    Ok(())
}

/// Builds the portraits on the low-priority thread ([`crate::background_cpu`]), handing the
/// data back for saving.
async fn build_in_background(
    loaded: Vec<Refreshed>,
    ctx: BuildContext,
) -> (Vec<Refreshed>, Vec<BuiltProfile>) {
    crate::background_cpu::run(move || {
        let profiles = loaded.iter().map(|r| build(&r.data, &ctx)).collect();
        (loaded, profiles)
    })
    .await
}

/// A customer erased after its data was loaded would otherwise get back the profile the
/// erasure deleted: when an erasure of the merchant happened since `mark`, the profiles just
/// saved for customers that no longer exist are deleted again.
async fn remove_erased_meanwhile(
    db: &DatabaseConnection,
    merchant_id: &str,
    data: &[&CustomerData],
    mark: i64,
) -> Result<u64, ProfilingError> {
    if !caravan_store::erasure::erased_since(db, merchant_id, mark).await? {
        return Ok(0);
    }
    let saved: Vec<String> = data.iter().map(|d| d.customer.id.clone()).collect();
    let existing = existing(db, merchant_id, &saved).await?;
    let mut removed = 0;
    for gone in saved.iter().filter(|id| !existing.contains(*id)) {
        delete_derived(db, merchant_id, gone).await?;
        removed += 1;
    }
    Ok(removed)
}
