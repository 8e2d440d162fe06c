//! One consumer of the outbox at a time, however many replicas run it.
//!
//! A consumer's row in `consumer_offsets` holds its committed offset and a lease: the
//! replica that owns it and until when. Before each poll a replica takes the lease if it is
//! free or expired, or renews its own; a replica that does not hold it stands by. The
//! offset is committed only by the holder, so a replica that stalled past its lease (a long
//! pause, a network partition) cannot move the offset under the one that took over. Its
//! last batch may have been processed twice meanwhile, which consumers must tolerate
//! anyway: they are idempotent.
//!
//! Times are the replicas' own clocks. A clock running ahead by `s` sees a lease expire
//! `s` early, so skews must stay well below the lease duration minus the renewal interval
//! (NTP keeps them in milliseconds; the default lease is 30 s).

use std::future::Future;
use std::time::Duration;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter, Set};

use crate::UtcDateTime;
use crate::entity::consumer_offsets::{self, Column};

/// The last outbox `seq` `consumer` has committed (0 before its first commit).
pub async fn committed_offset<C: ConnectionTrait>(db: &C, consumer: &str) -> Result<i64, DbErr> {
    Ok(consumer_offsets::Entity::find_by_id(consumer.to_owned())
        .one(db)
        .await?
        .map_or(0, |r| r.last_seq))
}

/// A replica's claim to consume the outbox as `consumer`.
#[derive(Debug, Clone)]
pub struct ConsumerLease {
    consumer: String,
    owner: String,
    duration: Duration,
}

impl ConsumerLease {
    /// `owner` names this replica uniquely (see [`replica_owner_id`]); `duration` is how
    /// long the lease holds without renewal, which is how long a crashed holder delays
    /// the others.
    pub fn new(consumer: &str, owner: String, duration: Duration) -> Self {
        Self {
            consumer: consumer.to_owned(),
            owner,
            duration,
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Runs `work` while renewing the lease every third of its duration, so that work
    /// longer than the lease (a poll that rebuilds a large merchant) is not taken over
    /// half-way. Returns `None`, dropping `work` unfinished, if the lease was lost anyway
    /// (renewal failed or came too late); the caller must then not commit.
    pub async fn hold_while<C: ConnectionTrait, F: Future>(
        &self,
        db: &C,
        work: F,
    ) -> Result<Option<F::Output>, DbErr> {
        let renew = async {
            loop {
                tokio::time::sleep(self.duration / 3).await;
                if self.acquire(db, UtcDateTime::now()).await?.is_none() {
                    return Ok::<(), DbErr>(());
                }
            }
        };
        tokio::select! {
            output = work => Ok(Some(output)),
            lost = renew => lost.map(|()| None),
        }
    }

    /// Takes the lease if it is free or expired at `now`, or renews it if this replica
    /// holds it. Returns the committed offset if this replica holds the lease until `now`
    /// + the duration, `None` if another replica holds it.
    pub async fn acquire<C: ConnectionTrait>(
        &self,
        db: &C,
        now: UtcDateTime,
    ) -> Result<Option<i64>, DbErr> {
        let until = UtcDateTime::new(
            now.get()
                .checked_add_signed(chrono_duration(self.duration))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
        );
        let take = || {
            consumer_offsets::Entity::update_many()
                .col_expr(Column::LeaseOwner, Expr::value(self.owner.clone()))
                .col_expr(Column::LeaseUntil, Expr::value(until))
                .filter(Column::Consumer.eq(self.consumer.as_str()))
                .filter(
                    Condition::any()
                        .add(Column::LeaseOwner.is_null())
                        .add(Column::LeaseOwner.eq(self.owner.as_str()))
                        .add(Column::LeaseUntil.is_null())
                        .add(Column::LeaseUntil.lt(now)),
                )
                .exec(db)
        };
        take().await?;
        // Read back rather than trust the affected-row count: MySQL counts a row whose
        // values did not change as unaffected.
        let row = match self.row(db).await? {
            Some(row) => row,
            // The consumer's first poll ever: create its row, then take the lease.
            None => {
                self.create_row(db, now).await?;
                take().await?;
                self.row(db).await?.ok_or_else(|| {
                    DbErr::RecordNotFound(format!("consumer_offsets row {}", self.consumer))
                })?
            }
        };
        Ok((row.lease_owner.as_deref() == Some(self.owner.as_str())).then_some(row.last_seq))
    }

    async fn row<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<Option<consumer_offsets::Model>, DbErr> {
        consumer_offsets::Entity::find_by_id(self.consumer.clone())
            .one(db)
            .await
    }

    /// The committed offset: the last outbox `seq` processed (0 before the first commit).
    pub async fn offset<C: ConnectionTrait>(&self, db: &C) -> Result<i64, DbErr> {
        committed_offset(db, &self.consumer).await
    }

    /// Commits `seq` as the offset if this replica still holds the lease. Returns false,
    /// changing nothing, if another replica has taken it over.
    pub async fn commit<C: ConnectionTrait>(
        &self,
        db: &C,
        seq: i64,
        now: UtcDateTime,
    ) -> Result<bool, DbErr> {
        let result = consumer_offsets::Entity::update_many()
            .col_expr(Column::LastSeq, Expr::value(seq))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::Consumer.eq(self.consumer.as_str()))
            .filter(Column::LeaseOwner.eq(self.owner.as_str()))
            .exec(db)
            .await?;
        Ok(result.rows_affected > 0)
    }

    /// Gives the lease up, so that a standing-by replica takes over at its next poll
    /// instead of after the lease expires.
    pub async fn release<C: ConnectionTrait>(&self, db: &C) -> Result<(), DbErr> {
        consumer_offsets::Entity::update_many()
            .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
            .col_expr(Column::LeaseUntil, Expr::value(Option::<UtcDateTime>::None))
            .filter(Column::Consumer.eq(self.consumer.as_str()))
            .filter(Column::LeaseOwner.eq(self.owner.as_str()))
            .exec(db)
            .await?;
        Ok(())
    }

    /// Creates the consumer's row (offset 0, no lease), unless a concurrent replica just
    /// did.
    async fn create_row<C: ConnectionTrait>(&self, db: &C, now: UtcDateTime) -> Result<(), DbErr> {
        Self::create_row_at(db, &self.consumer, 0, now).await
    }

    /// Creates `consumer`'s row at offset `last_seq`, without a lease, unless it exists.
    pub async fn create_row_at<C: ConnectionTrait>(
        db: &C,
        consumer: &str,
        last_seq: i64,
        now: UtcDateTime,
    ) -> Result<(), DbErr> {
        consumer_offsets::Entity::insert(consumer_offsets::ActiveModel {
            consumer: Set(consumer.to_owned()),
            last_seq: Set(last_seq),
            updated_at: Set(now),
            lease_owner: Set(None),
            lease_until: Set(None),
        })
        // Setting the key to itself: a no-op both backends accept. (sea-query's `do_nothing`
        // gave SQL that MariaDB 10.11 rejects with error 1064.)
        .on_conflict(
            OnConflict::column(Column::Consumer)
                .update_column(Column::Consumer)
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        Ok(())
    }
}

/// A name for this process that no other replica shares: the host (the pod name on
/// Kubernetes), the process id and the clock's sub-second nanoseconds at start (two
/// processes with the same pid on one host, e.g. a container restarted, still differ), at
/// most 128 characters.
pub fn replica_owner_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".to_owned());
    let host: String = host.chars().take(80).collect();
    let suffix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{host}-{}-{suffix:08x}", std::process::id())
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_ids_name_the_process_and_fit_the_column() {
        let id = replica_owner_id();
        assert!(id.contains(&format!("-{}-", std::process::id())), "{id}");
        assert!(id.len() <= 128, "{id}");
    }
}
