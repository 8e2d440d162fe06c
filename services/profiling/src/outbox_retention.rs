//! Deleting outbox rows that every consumer has applied, once they are older than the
//! retention (`profiling.outbox_retention_seconds`). Without it the outbox grows with every
//! batch for ever (32.5 MB beside 115.7 MB of events after 823,000 events), and its rows
//! keep customer and event ids after the events themselves are gone.
//!
//! A row goes only when it is at or below the lowest committed offset of the consumers
//! named (every partition of the profiling consumer, `outbox_partitions`; replicas'
//! membership rows and the rows of a former partitioning are not consumers) and older
//! than the retention (so an
//! operator can still look at recent traffic or rewind an offset a little). The newest row
//! always stays: an auto-increment restarts after the largest key left in the table on
//! some engines, and a restarted sequence below the committed offset would hide every new
//! entry from the consumer.

use std::time::Duration;

use caravan_store::UtcDateTime;
use caravan_store::entity::outbox;
use caravan_store::sea_orm::{
    ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use chrono::{DateTime, Utc};

/// Rows deleted per statement: packed rows list up to a whole ingestion batch each (tens of
/// kilobytes), so a few hundred keep each transaction short.
const ROWS_PER_DELETE: i64 = 500;

/// Deletes the outbox rows that every one of `consumers` has committed past and that were
/// written more than `keep` before `now`; returns how many went.
pub async fn delete_applied(
    db: &DatabaseConnection,
    consumers: &[String],
    keep: Duration,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let Some(limit) = deletable_up_to(db, consumers).await? else {
        return Ok(0);
    };
    let cutoff =
        UtcDateTime::new(now - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX));
    let mut deleted = 0;
    loop {
        let oldest: Option<(i64, UtcDateTime)> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Seq)
            .column(outbox::Column::CreatedAt)
            .filter(outbox::Column::Seq.lte(limit))
            .order_by_asc(outbox::Column::Seq)
            .into_tuple()
            .one(db)
            .await?;
        let Some((first, written)) = oldest else {
            break;
        };
        if written >= cutoff {
            break;
        }
        let upper = limit.min(first.saturating_add(ROWS_PER_DELETE - 1));
        let gone = outbox::Entity::delete_many()
            .filter(outbox::Column::Seq.between(first, upper))
            .filter(outbox::Column::CreatedAt.lt(cutoff))
            .exec(db)
            .await?
            .rows_affected;
        if gone == 0 {
            break;
        }
        deleted += gone;
    }
    Ok(deleted)
}

/// The largest `seq` that may go: the lowest committed offset of `consumers`, kept below
/// the newest row. `None` when nothing may go (a consumer without a row yet, or an empty
/// outbox).
async fn deletable_up_to(
    db: &DatabaseConnection,
    consumers: &[String],
) -> Result<Option<i64>, DbErr> {
    let lowest_offset = crate::outbox_partitions::lowest_of(db, consumers).await?;
    let newest: Option<i64> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Seq)
        .order_by_desc(outbox::Column::Seq)
        .into_tuple()
        .one(db)
        .await?;
    Ok(match (lowest_offset, newest) {
        (Some(offset), Some(newest)) => Some(offset.min(newest - 1)),
        _ => None,
    })
}

/// Decides when the consumer runs [`delete_applied`]: at most once per `every`.
#[derive(Debug)]
pub struct RetentionSchedule {
    keep: Duration,
    every: Duration,
    last: Option<std::time::Instant>,
}

impl RetentionSchedule {
    /// Deletes rows older than `keep`, checking a tenth of `keep` apart (at least every
    /// second, at most every minute).
    pub fn new(keep: Duration) -> Self {
        Self {
            keep,
            every: (keep / 10).clamp(Duration::from_secs(1), Duration::from_secs(60)),
            last: None,
        }
    }

    /// Runs the deletion if it is due; failures are logged and retried when next due.
    pub async fn run_if_due(&mut self, db: &DatabaseConnection, consumers: &[String]) {
        if self.last.is_some_and(|at| at.elapsed() < self.every) {
            return;
        }
        self.last = Some(std::time::Instant::now());
        match delete_applied(db, consumers, self.keep, Utc::now()).await {
            Ok(0) => {}
            Ok(n) => {
                caravan_platform::metrics::global()
                    .outbox_rows_deleted
                    .inc_by(n);
                tracing::debug!(rows = n, "applied outbox rows past their retention deleted");
            }
            Err(e) => {
                tracing::warn!(error = %e, "applied outbox rows could not be deleted; retrying later")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use caravan_store::entity::consumer_offsets;
    use caravan_store::sea_orm::ActiveValue::{NotSet, Set};
    use chrono::TimeZone;

    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, minute, 0).unwrap()
    }

    async fn row(db: &DatabaseConnection, minute: u32) {
        outbox::Entity::insert(outbox::ActiveModel {
            seq: NotSet,
            merchant_id: Set("acme".to_owned()),
            event_id: Set(format!("e{minute}")),
            customer_id: Set("c1".to_owned()),
            kind: Set("event".to_owned()),
            created_at: Set(UtcDateTime::new(at(minute))),
            entry_count: Set(1),
            entries: Set(None),
            trace_parent: Set(None),
        })
        .exec(db)
        .await
        .expect("insert");
    }

    async fn offset(db: &DatabaseConnection, consumer: &str, seq: i64) {
        consumer_offsets::Entity::insert(consumer_offsets::ActiveModel {
            consumer: Set(consumer.to_owned()),
            last_seq: Set(seq),
            updated_at: Set(UtcDateTime::new(at(0))),
            lease_owner: Set(None),
            lease_until: Set(None),
        })
        .exec(db)
        .await
        .expect("offset");
    }

    async fn seqs(db: &DatabaseConnection) -> Vec<i64> {
        outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Seq)
            .order_by_asc(outbox::Column::Seq)
            .into_tuple()
            .all(db)
            .await
            .expect("seqs")
    }

    const HOUR: Duration = Duration::from_secs(3600);

    fn names(consumers: &[&str]) -> Vec<String> {
        consumers.iter().map(|c| (*c).to_owned()).collect()
    }

    #[tokio::test]
    async fn only_rows_every_consumer_applied_and_older_than_the_retention_go() {
        let db = caravan_store::testing::sqlite_memory().await.expect("db");
        for minute in 1..=10 {
            row(&db, minute).await;
        }
        let both = names(&["profiling-0-of-2", "profiling-1-of-2"]);
        // No consumer has committed anything yet: nothing may go.
        assert_eq!(
            delete_applied(&db, &both, HOUR, at(59) + chrono::Duration::hours(5)).await,
            Ok(0)
        );
        offset(&db, "profiling-0-of-2", 7).await;
        // One partition has no row yet: nothing may go.
        assert_eq!(
            delete_applied(&db, &both, HOUR, at(59) + chrono::Duration::hours(5)).await,
            Ok(0)
        );
        offset(&db, "profiling-1-of-2", 5).await;
        // A replica's membership row and a former partitioning are not consumers.
        offset(&db, "profiling-member-0123456789abcdef", 0).await;
        offset(&db, "profiling", 1).await;
        // At 12:09 with one minute kept, rows written before 12:08 are old enough, but the
        // slower partition is at 5.
        let deleted = delete_applied(&db, &both, Duration::from_secs(60), at(9)).await;
        assert_eq!(deleted, Ok(5));
        assert_eq!(seqs(&db).await, vec![6, 7, 8, 9, 10]);
        // Young rows stay even when applied.
        let first = names(&["profiling-0-of-2"]);
        assert_eq!(delete_applied(&db, &first, HOUR, at(10)).await, Ok(0));
        assert_eq!(seqs(&db).await, vec![6, 7, 8, 9, 10]);
        assert_eq!(
            delete_applied(&db, &first, HOUR, at(59) + chrono::Duration::hours(5)).await,
            Ok(2)
        );
        assert_eq!(seqs(&db).await, vec![8, 9, 10]);
    }

    #[tokio::test]
    async fn the_newest_row_stays_so_the_sequence_never_restarts_below_the_offset() {
        let db = caravan_store::testing::sqlite_memory().await.expect("db");
        for minute in 1..=3 {
            row(&db, minute).await;
        }
        offset(&db, "profiling", 3).await;
        let late = at(59) + chrono::Duration::hours(5);
        assert_eq!(
            delete_applied(&db, &names(&["profiling"]), HOUR, late).await,
            Ok(2)
        );
        assert_eq!(seqs(&db).await, vec![3]);
        row(&db, 4).await;
        assert_eq!(
            seqs(&db).await,
            vec![3, 4],
            "the next entry is after the offset"
        );
    }

    #[tokio::test]
    async fn a_large_backlog_goes_in_several_statements() {
        let db = caravan_store::testing::sqlite_memory().await.expect("db");
        let rows = u32::try_from(ROWS_PER_DELETE).expect("small") * 2 + 7;
        for n in 0..rows {
            row(&db, n % 60).await;
        }
        offset(&db, "profiling", i64::from(rows)).await;
        let late = at(59) + chrono::Duration::hours(5);
        assert_eq!(
            delete_applied(&db, &names(&["profiling"]), HOUR, late).await,
            Ok(u64::from(rows) - 1)
        );
        assert_eq!(seqs(&db).await, vec![i64::from(rows)]);
    }

    #[test]
    fn the_schedule_checks_a_tenth_of_the_retention_apart_within_bounds() {
        assert_eq!(RetentionSchedule::new(HOUR).every, Duration::from_secs(60));
        assert_eq!(
            RetentionSchedule::new(Duration::from_secs(100)).every,
            Duration::from_secs(10)
        );
        assert_eq!(
            RetentionSchedule::new(Duration::from_secs(2)).every,
            Duration::from_secs(1)
        );
    }
}
