//! The common model interface and top-k selection.

use super::reasons::Reason;

/// What a model knows about the user being scored. `items`/`values` are the user's positive
/// history (matrix row: item indices and aggregated weights).
#[derive(Debug, Clone, Copy, Default)]
pub struct UserContext<'a> {
    /// The user's row in the training matrix, if the user was seen in training.
    pub user: Option<u32>,
    pub items: &'a [u32],
    pub values: &'a [f32],
    pub country: Option<&'a str>,
    pub segment: Option<&'a str>,
}

/// A fitted model scoring every item for one user.
pub trait Recommender: Send + Sync {
    fn name(&self) -> &str;
    /// Writes one score per item into `scores` (length = number of items); higher is better.
    /// Scores may be unnormalised; non-candidates should stay at 0 or below.
    fn score(&self, ctx: &UserContext<'_>, scores: &mut [f32]);
    /// Why `item` was recommended to this user.
    fn explain(&self, ctx: &UserContext<'_>, item: u32) -> Reason;
}

/// Indices of the `k` highest-scoring items that pass `allow`, best first (ties by index).
/// Uses a bounded over-fetch (4k) first, then falls back to a full sort if too many were
/// filtered out.
pub fn top_k(scores: &[f32], k: usize, allow: impl Fn(u32) -> bool) -> Vec<u32> {
    let cmp = |a: &u32, b: &u32| {
        scores[*b as usize]
            .total_cmp(&scores[*a as usize])
            .then(a.cmp(b))
    };
    let mut fetch = (4 * k).max(16);
    loop {
        let mut idx: Vec<u32> = (0..scores.len() as u32)
            .filter(|&i| scores[i as usize].is_finite())
            .collect();
        let full = fetch >= idx.len();
        if !full {
            idx.select_nth_unstable_by(fetch, cmp);
            idx.truncate(fetch);
        }
        idx.sort_unstable_by(cmp);
        let out: Vec<u32> = idx.into_iter().filter(|&i| allow(i)).take(k).collect();
        if out.len() == k || full {
            return out;
        }
        fetch *= 4;
    }
}

/// Threads used for training/evaluation (the target machines have 2 cores).
pub fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
}

/// Maps `f` over `0..n` in contiguous chunks on [`threads`] scoped std threads; results in order.
pub fn parallel_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let t = threads().min(n.max(1));
    let chunk = n.div_ceil(t).max(1);
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..t)
            .map(|c| {
                s.spawn(move || {
                    (c * chunk..((c + 1) * chunk).min(n))
                        .map(f)
                        .collect::<Vec<T>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker thread panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_filters_and_refetches() {
        let scores: Vec<f32> = (0..100).map(|i| i as f32).collect();
        assert_eq!(top_k(&scores, 3, |_| true), vec![99, 98, 97]);
        // Filter out the 80 best: needs the fallback beyond the 4k over-fetch.
        assert_eq!(top_k(&scores, 2, |i| i < 20), vec![19, 18]);
        assert_eq!(top_k(&scores, 5, |i| i < 2), vec![1, 0]);
    }
}
