//! Sums of money in minor units that cannot wrap.
//!
//! Each amount Caravan stores fits in an `i64` with room to spare (ingestion caps them at
//! 10^15 minor units), but a customer's lifetime revenue is a sum of thousands of them and
//! can exceed `i64::MAX`; in a release build an `i64` sum would then wrap to a negative
//! figure. Sums are therefore taken in `i128` (which no count of `i64` amounts a process can
//! hold overflows) and brought back to the `i64` of the contracts' `Money` saturated, so
//! that a figure too large to represent reads as the largest one, never as a wrong one.

/// The exact sum of `amounts`.
pub fn sum_minor(amounts: impl IntoIterator<Item = i64>) -> i128 {
    amounts.into_iter().map(i128::from).sum()
}

/// `amount` as an `i64`, saturated at `i64::MIN` / `i64::MAX`.
pub fn saturate(amount: i128) -> i64 {
    i64::try_from(amount).unwrap_or(if amount < 0 { i64::MIN } else { i64::MAX })
}

/// The mean of `total` over `count` items, rounded towards zero and saturated; `None` for
/// no items.
pub fn mean_minor(total: i128, count: usize) -> Option<i64> {
    let count = i128::try_from(count).ok().filter(|n| *n > 0)?;
    Some(saturate(total / count))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_beyond_i64_saturate_instead_of_wrapping() {
        // 9,300 orders of 10^15 minor units: 9.3 × 10^18 > i64::MAX ≈ 9.22 × 10^18.
        let total = sum_minor(std::iter::repeat_n(1_000_000_000_000_000, 9_300));
        assert_eq!(total, 9_300_000_000_000_000_000);
        assert_eq!(saturate(total), i64::MAX);
        assert_eq!(mean_minor(total, 9_300), Some(1_000_000_000_000_000));
        assert_eq!(saturate(-total), i64::MIN);
    }

    #[test]
    fn ordinary_sums_are_exact() {
        assert_eq!(saturate(sum_minor([1_999, -500, 1])), 1_500);
        assert_eq!(mean_minor(3_000, 4), Some(750));
        assert_eq!(mean_minor(3_000, 0), None);
        assert_eq!(sum_minor([i64::MAX, i64::MAX]), 2 * i128::from(i64::MAX));
    }
}
