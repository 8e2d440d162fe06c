//! Offline ranking metrics at k. Exact definitions (the Python benchmark uses the same):
//!
//! For one user with recommendation list `R` (length ≤ k, best first) and relevant set `T`
//! (|T| ≥ 1), `hits = |R ∩ T|`:
//! - precision@k = hits / k (k, not |R|: a short list is not rewarded);
//! - recall@k = hits / |T|;
//! - NDCG@k = DCG / IDCG with binary relevance, `DCG = Σ_{r=1..|R|} [R_r ∈ T] / log2(r + 1)`,
//!   `IDCG = Σ_{r=1..min(|T|, k)} 1 / log2(r + 1)`;
//! - hit rate@k = 1 if hits > 0 else 0.
//!
//! Each is averaged over evaluated users. Catalogue coverage@k = |∪ users' R| / (number of
//! items in the training catalogue).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub k: usize,
    pub users: usize,
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
    pub hit_rate: f64,
    pub coverage: f64,
}

/// Per-user (precision, recall, ndcg, hit) for list `recs` against sorted/unsorted `relevant`.
pub fn user_metrics(recs: &[u32], relevant: &[u32], k: usize) -> (f64, f64, f64, f64) {
    if relevant.is_empty() || k == 0 {
        return (0.0, 0.0, 0.0, 0.0);
    }
    let mut hits = 0usize;
    let mut dcg = 0f64;
    for (r, item) in recs.iter().take(k).enumerate() {
        if relevant.contains(item) {
            hits += 1;
            dcg += 1.0 / ((r + 2) as f64).log2();
        }
    }
    let idcg: f64 = (0..relevant.len().min(k))
        .map(|r| 1.0 / ((r + 2) as f64).log2())
        .sum();
    (
        hits as f64 / k as f64,
        hits as f64 / relevant.len() as f64,
        dcg / idcg,
        if hits > 0 { 1.0 } else { 0.0 },
    )
}

/// Averages per-user lists; `n_items` is the catalogue size for coverage.
pub fn aggregate<'a>(
    lists: impl IntoIterator<Item = (&'a [u32], &'a [u32])>,
    k: usize,
    n_items: usize,
) -> Metrics {
    let mut m = Metrics {
        k,
        ..Metrics::default()
    };
    let mut covered = vec![false; n_items];
    for (recs, relevant) in lists {
        let (p, r, n, h) = user_metrics(recs, relevant, k);
        m.users += 1;
        m.precision += p;
        m.recall += r;
        m.ndcg += n;
        m.hit_rate += h;
        for &i in recs.iter().take(k) {
            if let Some(c) = covered.get_mut(i as usize) {
                *c = true;
            }
        }
    }
    if m.users > 0 {
        let u = m.users as f64;
        m.precision /= u;
        m.recall /= u;
        m.ndcg /= u;
        m.hit_rate /= u;
    }
    if n_items > 0 {
        m.coverage = covered.iter().filter(|&&c| c).count() as f64 / n_items as f64;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_example() {
        // k = 3, recs [5, 1, 7], relevant {1, 9}: one hit at rank 2.
        let (p, r, n, h) = user_metrics(&[5, 1, 7], &[1, 9], 3);
        assert!((p - 1.0 / 3.0).abs() < 1e-12);
        assert!((r - 0.5).abs() < 1e-12);
        // DCG = 1/log2(3); IDCG = 1 + 1/log2(3).
        let l3 = 3f64.log2();
        assert!((n - (1.0 / l3) / (1.0 + 1.0 / l3)).abs() < 1e-12);
        assert_eq!(h, 1.0);
        // Perfect list: NDCG 1 even when |T| > k (ideal over min(|T|, k)).
        assert!((user_metrics(&[1, 2], &[1, 2, 3], 2).2 - 1.0).abs() < 1e-12);
        assert_eq!(user_metrics(&[4], &[1], 1), (0.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn aggregate_and_coverage() {
        let a: (&[u32], &[u32]) = (&[0, 1], &[0]);
        let b: (&[u32], &[u32]) = (&[1, 2], &[3]);
        let m = aggregate([a, b], 2, 10);
        assert_eq!(m.users, 2);
        assert!((m.hit_rate - 0.5).abs() < 1e-12);
        assert!((m.precision - 0.25).abs() < 1e-12);
        assert!((m.coverage - 0.3).abs() < 1e-12);
    }
}
