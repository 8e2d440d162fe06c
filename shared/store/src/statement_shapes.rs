//! Keeping the number of distinct statement texts small.
//!
//! Every statement with bound values is prepared on the connection (sqlx keeps the prepared
//! statements of each pooled connection in a cache keyed by the SQL text). Preparing is not
//! free on MariaDB: a multi-row INSERT of a few hundred rows, or an `IN (...)` list of a
//! hundred ids, took about 9 ms to prepare on the benchmark machine, as long as inserting
//! a thousand events. Statements whose row or id count follows the data (a batch's orders,
//! its unknown customers) had a new text nearly every time, so each batch paid that again.
//!
//! Two shapes keep the texts few: multi-row INSERTs go in full chunks and then in
//! power-of-two pieces ([`insert_rows_ladder`]), and `IN` lists are padded to a power of
//! two by repeating their last id ([`padded_in_list`]), which does not change what they
//! match. A table then has at most a dozen texts, all of which stay prepared.

/// How many of `available` rows (at most `max_rows`) the next INSERT takes: all
/// `max_rows` when there are that many, otherwise the largest power of two that fits.
pub fn insert_rows_ladder(available: usize, max_rows: usize) -> usize {
    let max_rows = max_rows.max(1);
    if available >= max_rows {
        max_rows
    } else if available == 0 {
        0
    } else {
        1 << available.ilog2()
    }
}

/// `ids` padded to the next power of two (at least 1) by repeating the last one, for an
/// `IN (...)` list: the same matches, one of few statement texts. Empty stays empty.
pub fn padded_in_list<T: Clone>(ids: &[T]) -> Vec<T> {
    let Some(last) = ids.last() else {
        return Vec::new();
    };
    let mut padded = Vec::with_capacity(ids.len().next_power_of_two());
    padded.extend_from_slice(ids);
    padded.resize(ids.len().next_power_of_two(), last.clone());
    padded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserts_go_in_full_chunks_then_powers_of_two() {
        assert_eq!(insert_rows_ladder(2500, 1000), 1000);
        assert_eq!(insert_rows_ladder(1000, 1000), 1000);
        assert_eq!(insert_rows_ladder(999, 1000), 512);
        assert_eq!(insert_rows_ladder(100, 1000), 64);
        assert_eq!(insert_rows_ladder(1, 1000), 1);
        assert_eq!(insert_rows_ladder(0, 1000), 0);
        // 100 rows: 64 + 32 + 4, three texts shared with every other count below 128.
        let mut left = 100;
        let mut pieces = Vec::new();
        while left > 0 {
            let n = insert_rows_ladder(left, 1000);
            pieces.push(n);
            left -= n;
        }
        assert_eq!(pieces, [64, 32, 4]);
    }

    #[test]
    fn in_lists_are_padded_with_their_last_id() {
        assert_eq!(padded_in_list(&["a", "b", "c"]), ["a", "b", "c", "c"]);
        assert_eq!(padded_in_list(&["a", "b"]), ["a", "b"]);
        assert_eq!(padded_in_list(&["a"]), ["a"]);
        assert!(padded_in_list::<&str>(&[]).is_empty());
        assert_eq!(padded_in_list(&(0..100).collect::<Vec<_>>()).len(), 128);
    }
}
