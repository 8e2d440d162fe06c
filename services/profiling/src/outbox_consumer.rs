//! The outbox consumer: keeps profiles fresh as ingestion stores events. It reads outbox
//! entries after its committed offset, rebuilds each affected customer once per batch
//! (not once per event), removes what is derived from erased or merged-away customers,
//! refreshes RFM for the merchants touched, then commits the offset as far as
//! `outbox_cursor::advance` allows.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use caravan_store::UtcDateTime;
use caravan_store::entity::{consumer_offsets, identity_merges, outbox};
use caravan_store::sea_orm::sea_query::OnConflict;
use caravan_store::sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use chrono::Utc;

use crate::error::ProfilingError;
use crate::outbox_cursor::{SeenEntry, advance};
use crate::profile_refresh::refresh_merchant;
use crate::profile_store::delete_derived;

/// The consumer's name in `consumer_offsets`.
pub const CONSUMER: &str = "profiling";

/// Consumer settings.
#[derive(Debug, Clone, Copy)]
pub struct ConsumerConfig {
    pub poll: Duration,
    pub batch: u64,
    pub gap_grace: Duration,
}

/// What one poll did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollOutcome {
    pub entries: usize,
    /// Whether the committed offset moved.
    pub advanced: bool,
    pub customers: usize,
    pub offset: i64,
}

async fn offset(db: &DatabaseConnection) -> Result<i64, ProfilingError> {
    Ok(consumer_offsets::Entity::find_by_id(CONSUMER.to_owned())
        .one(db)
        .await?
        .map_or(0, |o| o.last_seq))
}

async fn commit(db: &DatabaseConnection, seq: i64) -> Result<(), ProfilingError> {
    consumer_offsets::Entity::insert(consumer_offsets::ActiveModel {
        consumer: Set(CONSUMER.to_owned()),
        last_seq: Set(seq),
        updated_at: Set(UtcDateTime::now()),
    })
    .on_conflict(
        OnConflict::column(consumer_offsets::Column::Consumer)
            .update_columns([
                consumer_offsets::Column::LastSeq,
                consumer_offsets::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
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

/// Processes one batch of outbox entries.
pub async fn poll_once(
    db: &DatabaseConnection,
    cfg: &ConsumerConfig,
) -> Result<PollOutcome, ProfilingError> {
    let from = offset(db).await?;
    let rows = outbox::Entity::find()
        .filter(outbox::Column::Seq.gt(from))
        .order_by_asc(outbox::Column::Seq)
        .limit(cfg.batch)
        .all(db)
        .await?;
    if rows.is_empty() {
        return Ok(PollOutcome {
            offset: from,
            ..Default::default()
        });
    }
    let mut by_merchant: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let now = Utc::now();
    let mut seen = Vec::with_capacity(rows.len());
    for row in &rows {
        seen.push(SeenEntry {
            seq: row.seq,
            age: (now - row.created_at.get()).to_std().unwrap_or_default(),
        });
        match row.kind.as_str() {
            "customer_erased" => delete_derived(db, &row.merchant_id, &row.customer_id).await?,
            "customer_merged" => {
                if let Some(source) = merge_source(db, &row.event_id).await? {
                    delete_derived(db, &row.merchant_id, &source).await?;
                }
            }
            _ => {}
        }
        if row.kind != "customer_erased" {
            by_merchant
                .entry(row.merchant_id.clone())
                .or_default()
                .insert(row.customer_id.clone());
        }
    }
    let mut customers = 0;
    for (merchant, ids) in by_merchant {
        let ids: Vec<String> = ids.into_iter().collect();
        customers += ids.len();
        match refresh_merchant(db, &merchant, &ids).await {
            Ok(_) => {}
            // A merchant deleted since: nothing to derive.
            Err(ProfilingError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let next = advance(from, &seen, cfg.gap_grace);
    if next != from {
        commit(db, next).await?;
    }
    Ok(PollOutcome {
        entries: rows.len(),
        advanced: next != from,
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
        "profile outbox consumer started"
    );
    loop {
        let idle = match poll_once(&db, &cfg).await {
            Ok(o) => {
                if o.entries > 0 {
                    tracing::debug!(
                        entries = o.entries,
                        customers = o.customers,
                        offset = o.offset,
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

/// Starts the consumer in the background when the settings enable it.
pub fn spawn(db: &DatabaseConnection, settings: &caravan_platform::settings::ProfilingSettings) {
    if !settings.consumer_enabled {
        tracing::info!("profile outbox consumer disabled by profiling.consumer_enabled");
        return;
    }
    let cfg = ConsumerConfig {
        poll: Duration::from_millis(settings.consumer_poll_ms),
        batch: settings.consumer_batch,
        gap_grace: Duration::from_secs(settings.outbox_gap_grace_seconds),
    };
    tokio::spawn(run(db.clone(), cfg));
}
