//! The outbox consumer: keeps profiles fresh as ingestion stores events. It reads outbox
//! entries after its committed offset, rebuilds each affected customer once per batch
//! (not once per event), removes what is derived from erased or merged-away customers,
//! refreshes RFM for the merchants touched, then commits the offset as far as
//! `outbox_cursor::advance` allows.
//!
//! Of several replicas, only the one holding the consumer lease polls
//! (`caravan_store::consumer_lease`); the others check at every poll interval and take
//! over when the holder stops renewing it.

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

/// Consumer settings, and this replica's lease.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub poll: Duration,
    pub batch: u64,
    pub gap_grace: Duration,
    pub lease: ConsumerLease,
    /// How long applied outbox rows are kept (`outbox_retention`).
    pub retention: Duration,
    /// When merchants' buyers are ranked again for RFM, and this replica's rankings.
    pub rfm: RfmPolicy,
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

/// Processes one batch of outbox entries, if this replica holds the lease (kept renewed
/// while the batch is processed).
pub async fn poll_once(
    db: &DatabaseConnection,
    cfg: &ConsumerConfig,
) -> Result<PollOutcome, ProfilingError> {
    let Some(from) = cfg.lease.acquire(db, UtcDateTime::now()).await? else {
        return Ok(PollOutcome::default());
    };
    match cfg.lease.hold_while(db, consume(db, cfg, from)).await? {
        Some(outcome) => outcome,
        None => {
            tracing::warn!(
                owner = cfg.lease.owner(),
                "consumer lease lost during a poll (renewal failed or came too late); the batch is left to the replica that took over"
            );
            Ok(PollOutcome::default())
        }
    }
}

/// One batch after the committed offset `from`: refreshes the customers it names and
/// commits the new offset.
async fn consume(
    db: &DatabaseConnection,
    cfg: &ConsumerConfig,
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
    );
    caravan_platform::trace_context::continue_traces(
        &span,
        rows.iter().filter_map(|r| r.trace_parent.as_deref()),
    );
    apply(db, cfg, from, rows).instrument(span).await
}

/// Applies loaded outbox rows: refreshes the customers they name and commits the offset.
async fn apply(
    db: &DatabaseConnection,
    cfg: &ConsumerConfig,
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
        let changes = by_merchant.entry(row.merchant_id.clone()).or_default();
        match row.kind.as_str() {
            "customer_erased" => {
                delete_derived(db, &row.merchant_id, &row.customer_id).await?;
            }
            "customer_merged" => {
                if let Some(source) = merge_source(db, &row.event_id).await? {
                    delete_derived(db, &row.merchant_id, &source).await?;
                }
                // The source's events are the target's now.
                changes.rebuild.insert(row.customer_id.clone());
            }
            outbox_entries::CUSTOMER_CHANGED_KIND => {
                changes.changed.insert(row.customer_id.clone());
            }
            _ => match &row.entries {
                Some(bytes) => match outbox_entries::decode(bytes) {
                    Some(listed) => {
                        for e in listed {
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
    let advanced = next != from && cfg.lease.commit(db, next, UtcDateTime::now()).await?;
    if next != from && !advanced {
        tracing::warn!(
            owner = cfg.lease.owner(),
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
        owner = cfg.lease.owner(),
        "profile outbox consumer started"
    );
    // Logged at the first poll and at every change.
    let mut leading: Option<bool> = None;
    let mut retention = RetentionSchedule::new(cfg.retention);
    loop {
        let started = std::time::Instant::now();
        let idle = match poll_once(&db, &cfg).await {
            Ok(o) => {
                if o.leader {
                    retention.run_if_due(&db).await;
                }
                if leading != Some(o.leader) {
                    leading = Some(o.leader);
                    caravan_platform::metrics::global()
                        .outbox_consumer_leader
                        .set(i64::from(o.leader));
                    tracing::info!(
                        owner = cfg.lease.owner(),
                        leading = o.leader,
                        "profile outbox consumer {}",
                        if o.leader {
                            "holds the lease and consumes"
                        } else {
                            "stands by: another replica holds the lease"
                        }
                    );
                }
                if o.entries > 0 {
                    tracing::debug!(
                        entries = o.entries,
                        customers = o.customers,
                        offset = o.offset,
                        poll_ms = millis(started.elapsed()),
                        "profiles refreshed"
                    );
                }
                // A full batch means more is waiting; a short one means caught up (or a
                // young gap holds the offset, which the next poll retries).
                !o.advanced || u64::try_from(o.entries).unwrap_or(0) < cfg.batch
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

/// The consumer running in the background; [`RunningConsumer::stop`] ends it.
pub struct RunningConsumer {
    task: tokio::task::JoinHandle<()>,
    db: DatabaseConnection,
    lease: ConsumerLease,
}

impl RunningConsumer {
    /// Stops polling (a poll in progress is abandoned: its offset is not committed and
    /// rebuilding is idempotent) and releases the lease, so that a standing-by replica
    /// takes over at its next poll instead of after the lease expires.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        caravan_platform::metrics::global()
            .outbox_consumer_leader
            .set(0);
        match self.lease.release(&self.db).await {
            Ok(()) => tracing::info!(
                owner = self.lease.owner(),
                "profile outbox consumer stopped; lease released"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "profile outbox consumer stopped; the lease could not be released and expires on its own"
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
    let lease = ConsumerLease::new(
        CONSUMER,
        replica_owner_id(),
        Duration::from_secs(settings.consumer_lease_seconds),
    );
    let cfg = ConsumerConfig {
        poll: Duration::from_millis(settings.consumer_poll_ms),
        batch: settings.consumer_batch,
        gap_grace: Duration::from_secs(settings.outbox_gap_grace_seconds),
        lease: lease.clone(),
        retention: Duration::from_secs(settings.outbox_retention_seconds),
        rfm: RfmPolicy::new(Duration::from_secs(settings.rfm_refresh_seconds)),
    };
    crate::outbox_lag::report_at_scrape(db.clone(), lease.clone());
    Some(RunningConsumer {
        task: tokio::spawn(run(db.clone(), cfg)),
        db: db.clone(),
        lease,
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
