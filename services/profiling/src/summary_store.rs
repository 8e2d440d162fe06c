//! Stored event summaries (`profile_event_summaries`): what each portrait keeps of its
//! customer's events, so that an update applies only the new ones (`profile_refresh`).
//!
//! A summary is a cache of a fold over stored events: it can always be built again from
//! them. So a summary that cannot be read (sealed under a retired key, written by another
//! format version) is treated as missing, and the customer is rebuilt from all events.

use std::collections::{BTreeSet, HashMap, HashSet};

use caravan_store::UtcDateTime;
use caravan_store::entity::profile_event_summaries::{self, Column, Entity};
use caravan_store::sea_orm::sea_query::{Expr, OnConflict};
use caravan_store::sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
};
use caravan_store::sealing;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::ProfilingError;
use crate::profile_builder::EventSummary;

/// Where sealed summaries belong (the associated data of their encryption).
const SEALED_SUMMARIES: &str = "profile_event_summaries.summary";

/// The stored format; a summary of another version is rebuilt from events. Version 2: the
/// JSON deflated before sealing (a summary is mostly repeated keys and names: about a
/// fifth of its size). Version 3: stage evidence with short keys and nanosecond times.
/// Version 4: stage weights summed by hour, and only the evidence that can still be shown.
const FORMAT: u32 = 4;

/// Deflate level: summaries are written on every update, so speed over the last bytes.
const COMPRESSION: u32 = 1;

/// Rows per `IN (...)` lookup.
const CHUNK: usize = 500;

/// A customer's summary and how far it has come.
#[derive(Debug, Clone, PartialEq)]
pub struct KeptSummary {
    pub summary: EventSummary,
    /// The outbox `seq` through which the customer's event entries are in the summary.
    pub applied_through: i64,
    /// Outbox `seq`s after `applied_through` whose entries are in the summary too: rows
    /// read past a young gap in the sequence, which the consumer reads again later.
    pub applied_beyond: BTreeSet<i64>,
    /// When the summary was last built from all of the customer's stored events.
    pub rebuilt_at: DateTime<Utc>,
    /// The outbox gap grace of that build: events ingested before `rebuilt_at` minus this
    /// were committed, and so read, by then.
    pub grace_seconds: i64,
    /// The events of that full build ingested shortly before it (within the outbox gap
    /// grace), whose outbox rows may come after `applied_through`: they are in the summary
    /// already and must not be applied again.
    pub recent_event_ids: HashSet<String>,
}

/// [`Stored`], borrowed for writing.
#[derive(Serialize)]
struct StoredRef<'a> {
    v: u32,
    summary: &'a EventSummary,
    applied_beyond: &'a BTreeSet<i64>,
    grace_seconds: i64,
    recent_event_ids: &'a HashSet<String>,
}

#[derive(Deserialize)]
struct Stored {
    v: u32,
    summary: EventSummary,
    applied_beyond: BTreeSet<i64>,
    grace_seconds: i64,
    recent_event_ids: HashSet<String>,
}

fn encode(merchant_id: &str, kept: &KeptSummary) -> Result<Vec<u8>, ProfilingError> {
    use std::io::Write as _;
    let corrupt =
        |e: &dyn std::fmt::Display| ProfilingError::Corrupt(format!("event summary: {e}"));
    // Serialised whole, then deflated in one call: fed token by token, the compressor's
    // per-call cost made saving five times slower.
    let json = serde_json::to_vec(&StoredRef {
        v: FORMAT,
        summary: &kept.summary,
        applied_beyond: &kept.applied_beyond,
        grace_seconds: kept.grace_seconds,
        recent_event_ids: &kept.recent_event_ids,
    })
    .map_err(|e| corrupt(&e))?;
    let mut deflated = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(json.len() / 4),
        flate2::Compression::new(COMPRESSION),
    );
    deflated.write_all(&json).map_err(|e| corrupt(&e))?;
    let plain = deflated.finish().map_err(|e| corrupt(&e))?;
    Ok(sealing::seal(SEALED_SUMMARIES, merchant_id, &plain))
}

fn decode(merchant_id: &str, row: profile_event_summaries::Model) -> Option<KeptSummary> {
    let plain = sealing::open(SEALED_SUMMARIES, merchant_id, &row.summary)
        .inspect_err(|e| {
            tracing::debug!(error = %e, customer = %row.customer_id, "a stored event summary does not open; rebuilding from events");
        })
        .ok()?;
    let mut json = Vec::with_capacity(plain.len() * 5);
    std::io::Read::read_to_end(
        &mut flate2::read::DeflateDecoder::new(plain.as_ref()),
        &mut json,
    )
    .ok()?;
    let stored: Stored = serde_json::from_slice(&json).ok()?;
    (stored.v == FORMAT).then(|| KeptSummary {
        summary: stored.summary,
        applied_through: row.applied_through,
        applied_beyond: stored.applied_beyond,
        rebuilt_at: row.rebuilt_at.get(),
        grace_seconds: stored.grace_seconds,
        recent_event_ids: stored.recent_event_ids,
    })
}

/// `stored` sealed again under the active key (`caravan privacy reseal`).
pub fn resealed(merchant_id: &str, stored: &[u8]) -> Result<Vec<u8>, ProfilingError> {
    let plain = sealing::open(SEALED_SUMMARIES, merchant_id, stored)
        .map_err(|e| ProfilingError::Corrupt(format!("{SEALED_SUMMARIES}: {e}")))?;
    Ok(sealing::seal(SEALED_SUMMARIES, merchant_id, &plain))
}

/// The readable summaries of `ids`, by customer id.
pub async fn load<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    ids: &[String],
) -> Result<HashMap<String, KeptSummary>, DbErr> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        for row in Entity::find()
            .filter(Column::MerchantId.eq(merchant_id))
            .filter(Column::CustomerId.is_in(chunk.iter().cloned()))
            .all(db)
            .await?
        {
            let customer = row.customer_id.clone();
            if let Some(kept) = decode(merchant_id, row) {
                out.insert(customer, kept);
            }
        }
    }
    Ok(out)
}

/// How a save treats a summary stored meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write {
    /// Replace it: the outbox consumer, the only writer that applies entries (its lease
    /// makes it the only one), brings summaries forward.
    Replace,
    /// Keep it: a rebuild job deletes a customer's summary before it reads their events, so
    /// a summary found at save time was written by the consumer meanwhile, from events the
    /// job may not have seen.
    KeepNewer,
}

/// Writes the summaries of `items` (customer id, summary).
pub async fn save<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    items: &[(&str, &KeptSummary)],
    write: Write,
) -> Result<(), ProfilingError> {
    let now = UtcDateTime::now();
    for chunk in items.chunks(CHUNK) {
        let rows = chunk
            .iter()
            .map(|(customer, kept)| {
                Ok(profile_event_summaries::ActiveModel {
                    merchant_id: Set(merchant_id.to_owned()),
                    customer_id: Set((*customer).to_owned()),
                    summary: Set(encode(merchant_id, kept)?),
                    applied_through: Set(kept.applied_through),
                    rebuilt_at: Set(UtcDateTime::new(kept.rebuilt_at)),
                    updated_at: Set(now),
                })
            })
            .collect::<Result<Vec<_>, ProfilingError>>()?;
        let mut conflict = OnConflict::columns([Column::MerchantId, Column::CustomerId]);
        match write {
            Write::Replace => conflict.update_columns([
                Column::Summary,
                Column::AppliedThrough,
                Column::RebuiltAt,
                Column::UpdatedAt,
            ]),
            // An update to itself: MySQL has no DO NOTHING.
            Write::KeepNewer => {
                conflict.value(Column::UpdatedAt, Expr::col((Entity, Column::UpdatedAt)))
            }
        };
        Entity::insert_many(rows)
            .on_conflict(conflict)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// Forgets the summaries of `ids` (erased, merged away, or about to be rebuilt from events).
pub async fn delete<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    ids: &[String],
) -> Result<(), DbErr> {
    for chunk in ids.chunks(CHUNK) {
        Entity::delete_many()
            .filter(Column::MerchantId.eq(merchant_id))
            .filter(Column::CustomerId.is_in(chunk.iter().cloned()))
            .exec(db)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(applied_through: i64) -> KeptSummary {
        KeptSummary {
            summary: EventSummary {
                event_count: applied_through,
                ..Default::default()
            },
            applied_through,
            applied_beyond: BTreeSet::from([applied_through + 2]),
            rebuilt_at: DateTime::parse_from_rfc3339("2026-03-01T12:00:00.123456Z")
                .expect("time")
                .to_utc(),
            grace_seconds: 60,
            recent_event_ids: HashSet::from(["e1".to_owned()]),
        }
    }

    #[tokio::test]
    async fn summaries_round_trip_and_a_rebuild_keeps_one_the_consumer_wrote_meanwhile() {
        let db = caravan_store::testing::sqlite_memory().await.expect("db");
        let ids = ["c1".to_owned()];
        save(&db, "acme", &[("c1", &kept(5))], Write::Replace)
            .await
            .expect("save");
        let loaded = load(&db, "acme", &ids).await.expect("load");
        assert_eq!(loaded.get("c1"), Some(&kept(5)), "read back as written");
        // A rebuild job's save finds the consumer's summary: it stays.
        save(&db, "acme", &[("c1", &kept(3))], Write::KeepNewer)
            .await
            .expect("keep");
        let loaded = load(&db, "acme", &ids).await.expect("load");
        assert_eq!(loaded["c1"].applied_through, 5);
        // The consumer replaces.
        save(&db, "acme", &[("c1", &kept(9))], Write::Replace)
            .await
            .expect("replace");
        assert_eq!(load(&db, "acme", &ids).await.expect("load")["c1"], kept(9));
        delete(&db, "acme", &ids).await.expect("delete");
        assert!(load(&db, "acme", &ids).await.expect("load").is_empty());
    }
}
