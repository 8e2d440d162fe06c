//! How far profiles lag ingestion: the outbox entries after the consumer's committed offset
//! and the age of the oldest of them, read for the metrics at scrape time (two indexed
//! reads on the outbox's primary key; nothing is kept between scrapes).

use std::sync::Arc;
use std::time::Duration;

use caravan_platform::metrics;
use caravan_store::entity::outbox;
use caravan_store::sea_orm::sea_query::Expr;
use caravan_store::sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use chrono::Utc;

/// Outbox entries not yet applied to profiles.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutboxLag {
    pub pending_entries: i64,
    /// Age of the oldest pending entry; zero when none is pending.
    pub oldest_pending_age: Duration,
}

/// The lag behind `lease`'s committed offset.
/// The lag behind the slowest of `consumers` (the profiling consumer's partitions): entries
/// after its offset count as pending, though other partitions may have applied some.
pub async fn measure(db: &DatabaseConnection, consumers: &[String]) -> Result<OutboxLag, DbErr> {
    let offset = crate::outbox_partitions::lowest_of(db, consumers)
        .await?
        .unwrap_or(0);
    let pending = || outbox::Entity::find().filter(outbox::Column::Seq.gt(offset));
    // SUM is DECIMAL on MySQL: cast to a type both backends decode as f64.
    let entries: Option<f64> = pending()
        .select_only()
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(entry_count), 0) AS DOUBLE)"),
            "entries",
        )
        .into_tuple()
        .one(db)
        .await?;
    let oldest = pending()
        .order_by_asc(outbox::Column::Seq)
        .one(db)
        .await?
        .map(|row| {
            (Utc::now() - row.created_at.get())
                .to_std()
                .unwrap_or_default()
        });
    Ok(OutboxLag {
        // A count of entries: far below 2^53, so the f64 is exact.
        pending_entries: entries.unwrap_or(0.0) as i64,
        oldest_pending_age: oldest.unwrap_or_default(),
    })
}

/// Reports the lag at every metrics scrape.
pub fn report_at_scrape(db: DatabaseConnection, consumers: Vec<String>) {
    metrics::on_scrape(Arc::new(move || {
        let (db, consumers) = (db.clone(), consumers.clone());
        Box::pin(async move {
            match measure(&db, &consumers).await {
                Ok(lag) => {
                    let m = metrics::global();
                    m.outbox_pending_entries.set(lag.pending_entries);
                    m.outbox_oldest_pending_age
                        .set(lag.oldest_pending_age.as_secs_f64());
                }
                Err(err) => tracing::debug!(error = %err, "outbox lag not measured"),
            }
        })
    }));
}
