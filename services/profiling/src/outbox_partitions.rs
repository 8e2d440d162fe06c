//! The outbox split among profiling replicas (`profiling.consumer_partitions`).
//!
//! Entries are partitioned by a hash of the customer, so one customer's changes always go
//! to one partition and are applied in order. Each partition is a consumer of its own in
//! `consumer_offsets`: a lease (`caravan_store::consumer_lease`) and a committed offset.
//! Every partition reads the outbox rows after its offset and keeps its own entries; gaps
//! in the sequence are judged on all rows, as with one consumer.
//!
//! Replicas share the partitions: each announces itself with a row of its own (a lease on
//! `profiling-member-<hash of the replica>` that it renews at every round) and takes at
//! most its share, ⌈partitions ÷ live replicas⌉, releasing the rest, so that a replica
//! that joins gets partitions at its next rounds and a dead one's are taken over when
//! their leases expire.

use std::time::Duration;

use caravan_store::UtcDateTime;
use caravan_store::consumer_lease::ConsumerLease;
use caravan_store::entity::consumer_offsets::{self, Column};
use caravan_store::sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter};
use caravan_store::sea_orm::{ConnectionTrait, QuerySelect};

use crate::outbox_consumer::CONSUMER;

/// How the outbox is split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partitioning {
    count: u32,
}

impl Partitioning {
    /// `count` partitions (at least 1).
    pub fn new(count: u32) -> Self {
        Self {
            count: count.max(1),
        }
    }

    pub fn count(self) -> u32 {
        self.count
    }

    /// The consumer name of partition `index`: the plain consumer name when there is one
    /// partition (as before partitions existed), else `profiling-<index>-of-<count>`.
    pub fn consumer_name(self, index: u32) -> String {
        if self.count == 1 {
            CONSUMER.to_owned()
        } else {
            format!("{CONSUMER}-{index}-of-{}", self.count)
        }
    }

    pub fn names(self) -> Vec<String> {
        (0..self.count).map(|i| self.consumer_name(i)).collect()
    }

    /// The partition of a merchant's customer.
    pub fn of(self, merchant_id: &str, customer_id: &str) -> u32 {
        let hash = fnv1a(
            merchant_id
                .bytes()
                .chain(std::iter::once(0))
                .chain(customer_id.bytes()),
        );
        u32::try_from(hash % u64::from(self.count)).unwrap_or(0)
    }
}

/// FNV-1a, 64 bits: stable across processes and versions (unlike `std`'s hasher), so that
/// every replica puts a customer in the same partition.
fn fnv1a(bytes: impl Iterator<Item = u8>) -> u64 {
    bytes.fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const MEMBER_PREFIX: &str = "profiling-member-";

/// This replica's announcement to the others.
#[derive(Debug, Clone)]
pub struct Membership {
    lease: ConsumerLease,
}

impl Membership {
    pub fn new(owner: &str, lease: Duration) -> Self {
        let name = format!("{MEMBER_PREFIX}{:016x}", fnv1a(owner.bytes()));
        Self {
            lease: ConsumerLease::new(&name, owner.to_owned(), lease),
        }
    }

    /// Renews this replica's row and counts the live replicas (itself included).
    pub async fn live_replicas<C: ConnectionTrait>(
        &self,
        db: &C,
        now: UtcDateTime,
    ) -> Result<usize, DbErr> {
        self.lease.acquire(db, now).await?;
        let live: Vec<String> = consumer_offsets::Entity::find()
            .select_only()
            .column(Column::Consumer)
            .filter(Column::Consumer.starts_with(MEMBER_PREFIX))
            .filter(Column::LeaseUntil.gt(now))
            .into_tuple()
            .all(db)
            .await?;
        Ok(live.len().max(1))
    }

    /// Leaves: the others count one replica fewer at once.
    pub async fn leave<C: ConnectionTrait>(&self, db: &C) -> Result<(), DbErr> {
        self.lease.release(db).await
    }
}

/// One partition's lease as the replicas see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub index: u32,
    /// `None`: free (never taken, released, or expired).
    pub owner: Option<String>,
}

/// Who holds each partition at `now`.
pub async fn holders<C: ConnectionTrait>(
    db: &C,
    partitioning: Partitioning,
    now: UtcDateTime,
) -> Result<Vec<Holder>, DbErr> {
    let names = partitioning.names();
    let rows = consumer_offsets::Entity::find()
        .filter(Column::Consumer.is_in(names.clone()))
        .all(db)
        .await?;
    Ok((0..partitioning.count())
        .map(|index| {
            let name = &names[index as usize];
            let owner = rows
                .iter()
                .find(|r| &r.consumer == name)
                .filter(|r| r.lease_until.is_some_and(|u| u > now))
                .and_then(|r| r.lease_owner.clone());
            Holder { index, owner }
        })
        .collect())
}

/// What a replica does with the partitions this round.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Partitions to release: this replica holds more than its share.
    pub release: Vec<u32>,
    /// Partitions to poll: those it holds and keeps, then free ones up to its share.
    pub poll: Vec<u32>,
}

/// This replica's round: keep at most `share` of the partitions it holds, and take free
/// ones up to `share`, starting at a place of its own (so that replicas starting together
/// try different partitions first).
pub fn plan_round(holders: &[Holder], me: &str, share: usize) -> Round {
    let mine: Vec<u32> = holders
        .iter()
        .filter(|h| h.owner.as_deref() == Some(me))
        .map(|h| h.index)
        .collect();
    let keep = mine.len().min(share);
    let mut round = Round {
        release: mine[keep..].to_vec(),
        poll: mine[..keep].to_vec(),
    };
    let count = holders.len();
    if count == 0 {
        return round;
    }
    let start = usize::try_from(fnv1a(me.bytes()) % count as u64).unwrap_or(0);
    for i in 0..count {
        if round.poll.len() >= share {
            break;
        }
        let h = &holders[(start + i) % count];
        if h.owner.is_none() {
            round.poll.push(h.index);
        }
    }
    round
}

/// A replica's share of `partitions` among `replicas`.
pub fn share(partitions: u32, replicas: usize) -> usize {
    (partitions as usize).div_ceil(replicas.max(1))
}

/// Creates the rows of `partitioning`'s partitions that do not exist yet, at the lowest
/// offset any partitioning of the consumer has committed: every entry up to it was applied
/// (by whichever partition held it then), so a new partitioning starts there instead of
/// re-reading the whole outbox. Changing the number of partitions needs every consumer
/// stopped: two partitionings running at once would apply the same customers side by side.
pub async fn ensure_rows<C: ConnectionTrait>(
    db: &C,
    partitioning: Partitioning,
) -> Result<(), DbErr> {
    let names = partitioning.names();
    let existing: Vec<String> = consumer_offsets::Entity::find()
        .select_only()
        .column(Column::Consumer)
        .filter(Column::Consumer.is_in(names.clone()))
        .into_tuple()
        .all(db)
        .await?;
    let missing: Vec<&String> = names.iter().filter(|n| !existing.contains(n)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let start = lowest_committed(db).await?;
    for name in missing {
        ConsumerLease::create_row_at(db, name, start, UtcDateTime::now()).await?;
    }
    Ok(())
}

/// The lowest committed offset of the profiling consumer over every partitioning seen in
/// `consumer_offsets` (0 when it has none). Every entry up to it has been applied by
/// whichever partition it belongs to, once every partition has a row.
pub async fn lowest_committed<C: ConnectionTrait>(db: &C) -> Result<i64, DbErr> {
    let offsets: Vec<i64> = consumer_offsets::Entity::find()
        .select_only()
        .column(Column::LastSeq)
        .filter(
            Condition::any()
                .add(Column::Consumer.eq(CONSUMER))
                .add(Column::Consumer.like(format!("{CONSUMER}-%-of-%"))),
        )
        .into_tuple()
        .all(db)
        .await?;
    Ok(offsets.into_iter().min().unwrap_or(0))
}

/// The lowest committed offset among `names`, `None` if any has no row yet.
pub async fn lowest_of<C: ConnectionTrait>(db: &C, names: &[String]) -> Result<Option<i64>, DbErr> {
    let rows: Vec<(String, i64)> = consumer_offsets::Entity::find()
        .select_only()
        .column(Column::Consumer)
        .column(Column::LastSeq)
        .filter(Column::Consumer.is_in(names.iter().cloned()))
        .into_tuple()
        .all(db)
        .await?;
    if names.iter().any(|n| !rows.iter().any(|(c, _)| c == n)) {
        return Ok(None);
    }
    Ok(rows.into_iter().map(|(_, seq)| seq).min())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(index: u32, owner: Option<&str>) -> Holder {
        Holder {
            index,
            owner: owner.map(str::to_owned),
        }
    }

    #[test]
    fn names_keep_the_plain_consumer_for_one_partition() {
        assert_eq!(Partitioning::new(1).names(), ["profiling"]);
        assert_eq!(Partitioning::new(0).names(), ["profiling"]);
        assert_eq!(
            Partitioning::new(3).names(),
            ["profiling-0-of-3", "profiling-1-of-3", "profiling-2-of-3"]
        );
    }

    #[test]
    fn customers_spread_over_partitions_and_stay_in_theirs() {
        let p = Partitioning::new(4);
        let mut counts = [0u32; 4];
        for i in 0..4_000 {
            let id = format!("c{i}");
            let part = p.of("acme", &id);
            assert_eq!(part, p.of("acme", &id), "stable");
            counts[part as usize] += 1;
        }
        assert!(
            counts.iter().all(|c| (800..1_200).contains(c)),
            "{counts:?}"
        );
        // Fixed values: every replica and version must agree.
        assert_eq!(fnv1a("a".bytes()), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(Partitioning::new(1).of("acme", "c1"), 0);
    }

    #[test]
    fn a_replica_keeps_its_share_and_takes_free_partitions_up_to_it() {
        let holders = [
            holder(0, Some("a")),
            holder(1, Some("a")),
            holder(2, Some("a")),
            holder(3, Some("a")),
        ];
        // A second replica appeared: "a" keeps two and releases two.
        let round = plan_round(&holders, "a", share(4, 2));
        assert_eq!(round.release, [2, 3]);
        assert_eq!(round.poll, [0, 1]);
        // "b" finds nothing free until they are released, then takes them.
        assert_eq!(plan_round(&holders, "b", 2), Round::default());
        let after = [
            holder(0, Some("a")),
            holder(1, Some("a")),
            holder(2, None),
            holder(3, None),
        ];
        let mut taken = plan_round(&after, "b", 2).poll;
        taken.sort_unstable();
        assert_eq!(taken, [2, 3]);
        // Alone again ("b" died, its leases expired): "a" takes everything.
        let mut all = plan_round(&after, "a", share(4, 1)).poll;
        all.sort_unstable();
        assert_eq!(all, [0, 1, 2, 3]);
        assert_eq!(share(4, 3), 2);
        assert_eq!(share(1, 3), 1);
    }
}
