//! The outbox consumer: keeps profiles fresh as ingestion stores events. It reads outbox
//! entries after its committed offset, rebuilds each affected customer once per batch
//! (not once per event), removes what is derived from erased or merged-away customers,
//! refreshes RFM for the merchants touched, then commits the offset as far as
//! `outbox_cursor::advance` allows.
//!
//! The outbox is split into `profiling.consumer_partitions` partitions by customer
//! (`outbox_partitions`), each with its own lease (`caravan_store::consumer_lease`) and
//! offset. A replica polls the partitions it holds, at most its share of them; with one
//! partition, one replica consumes and the others stand by and take over when the holder
//! stops renewing its lease.

use std::collections::BTreeMap;
use std::time::Duration;

use caravan_store::UtcDateTime;
use caravan_store::consumer_lease::{ConsumerLease, replica_owner_id};
use caravan_store::entity::{identity_merges, outbox};
use caravan_store::outbox_entries;
use caravan_store::sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use chrono::Utc;
use tracing::Instrument;

use crate::error::ProfilingError;
use crate::outbox_cursor::{SeenEntry, advance};
use crate::outbox_partitions::{self, Membership, Partitioning};
use crate::outbox_retention::RetentionSchedule;
use crate::portrait_input::Position;
use crate::profile_refresh::{Changes, RfmPolicy, refresh_merchant};
use crate::profile_store::delete_derived;

/// Whole milliseconds, for log fields.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The consumer's name in `consumer_offsets`.
pub const CONSUMER: &str = "profiling";

/// Consumer settings, and this replica's leases.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub poll: Duration,
    pub batch: u64,
    pub gap_grace: Duration,
    pub partitioning: Partitioning,
    /// This replica's lease on each partition, by index.
    pub leases: Vec<ConsumerLease>,
    /// This replica's announcement to the others (when there are several partitions).
    pub membership: Option<Membership>,
    /// How long applied outbox rows are kept (`outbox_retention`).
    pub retention: Duration,
    /// When merchants' buyers are ranked again for RFM, and this replica's rankings.
    pub rfm: RfmPolicy,
}

impl ConsumerConfig {
    /// This replica's name in the leases.
    pub fn owner(&self) -> &str {
        self.leases.first().map_or("", ConsumerLease::owner)
    }
}

/// What one poll did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollOutcome {
    /// Whether this replica held the lease (nothing else happened if not).
    pub leader: bool,
    pub entries: usize,
    /// Whether the committed offset moved.
    pub advanced: bool,
    pub customers: usize,
    pub offset: i64,
}

/// The source customer of a `customer_merged` entry (`event_id` = `merge-{id}`).
async fn merge_source(
    db: &DatabaseConnection,
    event_id: &str,
) -> Result<Option<String>, ProfilingError> {
    let Some(id) = event_id
        .strip_prefix("merge-")
        .and_then(|i| i.parse::<i64>().ok())
    else {
        return Ok(None);
    };
    Ok(identity_merges::Entity::find_by_id(id)
        .one(db)
        .await?
        .map(|m| m.source_customer_id))
}

/// The last sequence number of the rows to read in one poll: rows after `from`, in order,
/// until they hold `batch` entries (always at least one row). `rows` are `(seq,
/// entry_count)`, sorted.
fn poll_end(rows: &[(i64, i32)], batch: u64) -> Option<i64> {
    let mut entries: u64 = 0;
    for &(seq, count) in rows {
        entries += u64::try_from(count.max(1)).unwrap_or(1);
        if entries >= batch {
            return Some(seq);
        }
    }
    rows.last().map(|&(seq, _)| seq)
}

/// Processes one batch of partition `index`'s outbox entries, if this replica holds (or
/// can take) its lease, kept renewed while the batch is processed.
pub async fn poll_once(
    db: &DatabaseConnection,
    cfg: &ConsumerConfig,
    index: u32,
) -> Result<PollOutcome, ProfilingError> {
    let Some(lease) = cfg.leases.get(index as usize) else {
        return Ok(PollOutcome::default());
    };
    let Some(from) = lease.acquire(db, UtcDateTime::now()).await? else {
        return Ok(PollOutcome::default());
    };
    let partition = Partition {
        index,
        of: cfg.partitioning,
        lease,
    };
    match lease
        .hold_while(db, consume(db, cfg, &partition, from))
        .await?
    {
        Some(outcome) => outcome,
        None => {
            tracing::warn!(
                owner = lease.owner(),
                partition = index,
                "consumer lease lost during a poll (renewal failed or came too late); the batch is left to the replica that took over"
            );
            Ok(PollOutcome::default())
        }
    }
}

/// The partition a poll consumes.
struct Partition<'a> {
    index: u32,
    of: Partitioning,
    lease: &'a ConsumerLease,
}

impl Partition<'_> {
    fn owns(&self, merchant_id: &str, customer_id: &str) -> bool {
        self.of.of(merchant_id, customer_id) == self.index
    }
}

/// One batch after the committed offset `from`: refreshes the customers it names and
/// commits the new offset.
async fn consume(
    db: &DatabaseConnection,
    cfg: &ConsumerConfig,
    partition: &Partition<'_>,
    from: i64,
) -> Result<PollOutcome, ProfilingError> {
    // Sizes first: a packed row lists a whole ingestion batch, so a poll reads as many rows
    // as hold `batch` entries, not `batch` rows.
    let sizes: Vec<(i64, i32)> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Seq)
        .column(outbox::Column::EntryCount)
        .filter(outbox::Column::Seq.gt(from))
        .order_by_asc(outbox::Column::Seq)
        .limit(cfg.batch)
        .into_tuple()
        .all(db)
        .await?;
    let Some(last) = poll_end(&sizes, cfg.batch) else {
        return Ok(PollOutcome {
            leader: true,
            offset: from,
            ..Default::default()
        });
    };
    let rows = outbox::Entity::find()
        .filter(outbox::Column::Seq.gt(from))
        .filter(outbox::Column::Seq.lte(last))
        .order_by_asc(outbox::Column::Seq)
        .all(db)
        .await?;
    // The batch's work continues the traces of the calls that wrote its rows: the first as
    // parent, the others linked.
    let span = tracing::info_span!(
        "outbox.apply",
        otel.name = "profiling.outbox.apply",
        otel.kind = "consumer",
        outbox.rows = rows.len(),
        outbox.first_seq = from + 1,
        outbox.partition = partition.index,
    );
    caravan_platform::trace_context::continue_traces(
        &span,
        rows.iter().filter_map(|r| r.trace_parent.as_deref()),
    );
    apply(db, cfg, partition, from, rows).instrument(span).await
}

/// Applies loaded outbox rows: refreshes the customers of the partition they name and
/// commits the partition's offset.
async fn apply(
    db: &DatabaseConnection,
    cfg: &ConsumerConfig,
    partition: &Partition<'_>,
    from: i64,
    rows: Vec<outbox::Model>,
) -> Result<PollOutcome, ProfilingError> {
    let mut by_merchant: BTreeMap<String, Changes> = BTreeMap::new();
    let now = Utc::now();
    let mut seen = Vec::with_capacity(rows.len());
    let mut entries = 0;
    for row in &rows {
        seen.push(SeenEntry {
            seq: row.seq,
            age: (now - row.created_at.get()).to_std().unwrap_or_default(),
        });
        entries += usize::try_from(row.entry_count.max(1)).unwrap_or(1);
        let owned = partition.owns(&row.merchant_id, &row.customer_id);
        if row.kind == "customer_merged" {
            // The source's partition removes what was derived from it, in order with the
            // source's own entries (another partition could save it back after a refresh
            // it loaded before the merge); the target's rebuilds the target.
            if let Some(source) = merge_source(db, &row.event_id).await?
                && partition.owns(&row.merchant_id, &source)
            {
                delete_derived(db, &row.merchant_id, &source).await?;
            }
            if owned {
                // The source's events are the target's now.
                let changes = by_merchant.entry(row.merchant_id.clone()).or_default();
                changes.rebuild.insert(row.customer_id.clone());
            }
            continue;
        }
        if row.entries.is_none() && !owned {
            continue;
        }
        let changes = by_merchant.entry(row.merchant_id.clone()).or_default();
        match row.kind.as_str() {
            "customer_erased" => {
                delete_derived(db, &row.merchant_id, &row.customer_id).await?;
            }
            outbox_entries::CUSTOMER_CHANGED_KIND => {
                changes.changed.insert(row.customer_id.clone());
            }
            _ => match &row.entries {
                Some(bytes) => match outbox_entries::decode(bytes) {
                    Some(listed) => {
                        let merchant = row.merchant_id.as_str();
                        for e in listed
                            .into_iter()
                            .filter(|e| partition.owns(merchant, &e.customer_id))
                        {
                            changes
                                .events
                                .entry(e.customer_id)
                                .or_default()
                                .push((row.seq, e.event_id));
                        }
                    }
                    // Never written by ingestion; skipping it beats stalling every profile.
                    None => {
                        tracing::error!(
                            seq = row.seq,
                            "outbox row with unreadable entries skipped"
                        );
                    }
                },
                // One event per row (written before rows listed batches).
                None => changes
                    .events
                    .entry(row.customer_id.clone())
                    .or_default()
                    .push((row.seq, row.event_id.clone())),
            },
        }
    }
    // Rows after a young gap are applied now too; their customers' summaries record them
    // (`applied_beyond`) so that reading them again after the gap closes changes nothing.
    let next = advance(from, &seen, cfg.gap_grace);
    let position = Position {
        through: next,
        grace: cfg.gap_grace,
    };
    let mut customers = 0;
    for (merchant, changes) in by_merchant {
        customers += changes.customers().len();
        match refresh_merchant(db, &merchant, &changes, position, &cfg.rfm).await {
            Ok(o) => tracing::debug!(
                merchant,
                rebuilt = o.rebuilt,
                removed = o.removed,
                load_ms = millis(o.spent.load),
                build_ms = millis(o.spent.build),
                save_ms = millis(o.spent.save),
                rfm_ms = millis(o.spent.rfm),
                "merchant's profiles refreshed"
            ),
            // A merchant deleted since: nothing to derive.
            Err(ProfilingError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let advanced = next != from && partition.lease.commit(db, next, UtcDateTime::now()).await?;
    if next != from && !advanced {
        tracing::warn!(
            owner = partition.lease.owner(),
            partition = partition.index,
            "consumer lease lost during a poll; the replica that took it over goes on"
        );
    }
    Ok(PollOutcome {
        leader: true,
        entries,
        advanced,
        customers,
        offset: next,
    })
}

/// Polls for as long as the process lives. Errors are logged and retried after the poll
/// interval (the store may be briefly unavailable); nothing is skipped. Stopping mid-batch
/// is safe: the offset is committed only after the batch, and rebuilding is idempotent.
pub async fn run(db: DatabaseConnection, cfg: ConsumerConfig) {
    tracing::info!(
        poll_ms = cfg.poll.as_millis(),
        batch = cfg.batch,
        partitions = cfg.partitioning.count(),
        owner = cfg.owner(),
        "profile outbox consumer started"
    );
    // Logged at the first round and at every change.
    let mut holding: Option<Vec<u32>> = None;
    let mut retention = RetentionSchedule::new(cfg.retention);
    loop {
        let idle = match round(&db, &cfg, &mut retention).await {
            Ok((held, idle)) => {
                if holding.as_ref() != Some(&held) {
                    caravan_platform::metrics::global()
                        .outbox_consumer_leader
                        .set(i64::try_from(held.len()).unwrap_or(i64::MAX));
                    tracing::info!(
                        owner = cfg.owner(),
                        partitions = ?held,
                        "profile outbox consumer {}",
                        if held.is_empty() {
                            "stands by: other replicas hold the leases"
                        } else {
                            "holds the lease and consumes"
                        }
                    );
                    holding = Some(held);
                }
                idle
            }
            Err(e) => {
                tracing::warn!(error = %e, "profile outbox consumer failed; retrying");
                true
            }
        };
        if idle {
            tokio::time::sleep(cfg.poll).await;
        }
    }
}

/// One round: this replica's share of the partitions settled, each partition it holds
/// polled once. Returns the partitions held and whether every poll found its partition
/// caught up.
async fn round(
    db: &DatabaseConnection,
    cfg: &ConsumerConfig,
    retention: &mut RetentionSchedule,
) -> Result<(Vec<u32>, bool), ProfilingError> {
    let to_poll = match &cfg.membership {
        None => vec![0],
        Some(membership) => {
            outbox_partitions::ensure_rows(db, cfg.partitioning).await?;
            let now = UtcDateTime::now();
            let replicas = membership.live_replicas(db, now).await?;
            let holders = outbox_partitions::holders(db, cfg.partitioning, now).await?;
            let share = outbox_partitions::share(cfg.partitioning.count(), replicas);
            let plan = outbox_partitions::plan_round(&holders, cfg.owner(), share);
            for index in &plan.release {
                if let Some(lease) = cfg.leases.get(*index as usize) {
                    lease.release(db).await?;
                }
            }
            plan.poll
        }
    };
    let mut held = Vec::new();
    let mut idle = true;
    for index in to_poll {
        let started = std::time::Instant::now();
        // A partition that fails is retried next round; the others go on.
        let o = match poll_once(db, cfg, index).await {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(error = %e, partition = index, "outbox partition poll failed; retrying");
                continue;
            }
        };
        if !o.leader {
            continue;
        }
        held.push(index);
        if o.entries > 0 {
            tracing::debug!(
                partition = index,
                entries = o.entries,
                customers = o.customers,
                offset = o.offset,
                poll_ms = millis(started.elapsed()),
                "profiles refreshed"
            );
        }
        // A full batch means more is waiting; a short one means caught up (or a young gap
        // holds the offset, which the next poll retries).
        idle &= !o.advanced || u64::try_from(o.entries).unwrap_or(0) < cfg.batch;
    }
    held.sort_unstable();
    if !held.is_empty() {
        retention.run_if_due(db, &cfg.partitioning.names()).await;
    }
    Ok((held, idle))
}

/// The consumer running in the background; [`RunningConsumer::stop`] ends it.
pub struct RunningConsumer {
    task: tokio::task::JoinHandle<()>,
    db: DatabaseConnection,
    cfg: ConsumerConfig,
}

impl RunningConsumer {
    /// Stops polling (a poll in progress is abandoned: its offset is not committed and
    /// rebuilding is idempotent) and releases the leases, so that the other replicas take
    /// over at their next poll instead of after the leases expire.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        caravan_platform::metrics::global()
            .outbox_consumer_leader
            .set(0);
        let mut released = Ok(());
        for lease in &self.cfg.leases {
            released = released.and(lease.release(&self.db).await);
        }
        if let Some(membership) = &self.cfg.membership {
            released = released.and(membership.leave(&self.db).await);
        }
        match released {
            Ok(()) => tracing::info!(
                owner = self.cfg.owner(),
                "profile outbox consumer stopped; every lease released"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "profile outbox consumer stopped; a lease could not be released and expires on its own"
            ),
        }
    }
}

/// Starts the consumer in the background when the settings enable it.
pub fn spawn(
    db: &DatabaseConnection,
    settings: &caravan_platform::settings::ProfilingSettings,
) -> Option<RunningConsumer> {
    if !settings.consumer_enabled {
        tracing::info!("profile outbox consumer disabled by profiling.consumer_enabled");
        return None;
    }
    let owner = replica_owner_id();
    let lease_time = Duration::from_secs(settings.consumer_lease_seconds);
    let partitioning = Partitioning::new(settings.consumer_partitions);
    let leases = partitioning
        .names()
        .iter()
        .map(|name| ConsumerLease::new(name, owner.clone(), lease_time))
        .collect();
    let cfg = ConsumerConfig {
        poll: Duration::from_millis(settings.consumer_poll_ms),
        batch: settings.consumer_batch,
        gap_grace: Duration::from_secs(settings.outbox_gap_grace_seconds),
        partitioning,
        leases,
        membership: (partitioning.count() > 1).then(|| Membership::new(&owner, lease_time)),
        retention: Duration::from_secs(settings.outbox_retention_seconds),
        rfm: RfmPolicy::new(Duration::from_secs(settings.rfm_refresh_seconds)),
    };
    crate::outbox_lag::report_at_scrape(db.clone(), partitioning.names());
    Some(RunningConsumer {
        task: tokio::spawn(run(db.clone(), cfg.clone())),
        db: db.clone(),
        cfg,
    })
}

#[cfg(test)]
mod tests {
    use super::poll_end;

    #[test]
    fn a_poll_reads_rows_until_they_hold_a_batch_of_entries() {
        // Packed rows of 1,000 events and single rows of merges and erasures.
        let rows = [(11, 1_000), (12, 1), (13, 1_000), (14, 1_000)];
        assert_eq!(poll_end(&rows, 2_000), Some(13));
        assert_eq!(poll_end(&rows, 1_001), Some(12));
        // One row bigger than the batch is still read whole.
        assert_eq!(poll_end(&rows, 10), Some(11));
        // Fewer entries than a batch: all of them.
        assert_eq!(poll_end(&rows, 100_000), Some(14));
        assert_eq!(poll_end(&[], 100), None);
        // Rows from before entry counts existed count one each.
        assert_eq!(poll_end(&[(1, 0), (2, 1)], 2), Some(2));
    }
}
