//! How far the profiling consumer may advance its outbox offset.
//!
//! The outbox `seq` is an auto-increment. On MySQL, concurrent transactions commit out of
//! order: seq 41 may become visible after seq 42 (and a rolled-back transaction leaves 41
//! missing for ever). A consumer that jumped its offset to 42 would skip 41 when it appears.
//! So the offset only moves up to the last entry before the first gap that is still young;
//! a gap older than the grace period is taken as a rollback and passed. Entries after a
//! young gap are processed now and again later: profile updates are idempotent
//! recomputations, so at-least-once delivery is safe.

use std::time::Duration;

/// One visible outbox entry: its sequence number and how long ago it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenEntry {
    pub seq: i64,
    pub age: Duration,
}

/// The new committed offset after processing `seen` (sorted by `seq`, all > `offset`).
pub fn advance(offset: i64, seen: &[SeenEntry], gap_grace: Duration) -> i64 {
    let mut committed = offset;
    for entry in seen {
        if entry.seq == committed + 1 {
            committed = entry.seq;
            continue;
        }
        // A gap before `entry`: pass it only when the entry after it is old enough that any
        // transaction which took the missing numbers has long committed or rolled back.
        if entry.age >= gap_grace {
            committed = entry.seq;
        } else {
            break;
        }
    }
    committed
}

#[cfg(test)]
mod tests {
    use super::*;

    const GRACE: Duration = Duration::from_secs(10);

    fn entry(seq: i64, age_secs: u64) -> SeenEntry {
        SeenEntry {
            seq,
            age: Duration::from_secs(age_secs),
        }
    }

    #[test]
    fn contiguous_entries_advance_to_the_last() {
        assert_eq!(
            advance(10, &[entry(11, 0), entry(12, 0), entry(13, 0)], GRACE),
            13
        );
        assert_eq!(advance(10, &[], GRACE), 10);
    }

    #[test]
    fn a_young_gap_holds_the_offset_before_it() {
        // 12 is missing and 13 was written just now: 12 may still commit.
        assert_eq!(
            advance(10, &[entry(11, 1), entry(13, 1), entry(14, 1)], GRACE),
            11
        );
        assert_eq!(advance(10, &[entry(12, 1)], GRACE), 10);
    }

    #[test]
    fn an_old_gap_is_a_rollback_and_is_passed() {
        assert_eq!(
            advance(10, &[entry(11, 60), entry(13, 60), entry(14, 1)], GRACE),
            14
        );
    }
}
