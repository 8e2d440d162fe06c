//! EASE (Steck 2019): a closed-form item×item linear model for implicit feedback.
//!
//! `G = XᵀX + λI`, `P = G⁻¹`, `B_ij = −P_ij / P_jj` (diagonal 0); score of `j` for a user =
//! `Σ_{i ∈ history} x_ui · B_ij`. The inverse is a dense f64 blocked Gauss-Jordan sweep
//! (no pivoting needed: `G` is symmetric positive definite), parallelised over rows. `B` is
//! kept dense in f32 (n² × 4 bytes: 3.6k items ≈ 52 MB) so serving one user is
//! `|history| × n` multiply-adds.

use super::matrix::InteractionMatrix;
use super::reasons::Reason;
use super::scoring::{Recommender, UserContext, parallel_map, threads};

#[derive(Debug, Clone)]
pub struct Ease {
    n: usize,
    /// Row-major `n × n`: row `i` = contribution of history item `i` to every target.
    pub b: Vec<f32>,
    item_ids: Vec<String>,
}

impl Ease {
    /// Fits with L2 weight `lambda`; `binary` uses 0/1 inputs instead of the weights.
    pub fn fit(m: &InteractionMatrix, lambda: f64, binary: bool) -> Self {
        let n = m.n_items();
        let val = |v: f32| if binary { 1.0 } else { f64::from(v) };
        let rows = parallel_map(n, |i| {
            let mut acc = vec![0f64; n];
            let (users, xs) = m.by_item.row(i);
            for (&u, &xu) in users.iter().zip(xs) {
                let (items, ys) = m.by_user.row(u as usize);
                let xu = val(xu);
                for (&j, &y) in items.iter().zip(ys) {
                    acc[j as usize] += xu * val(y);
                }
            }
            acc[i] += lambda;
            acc
        });
        let mut g: Vec<f64> = rows.into_iter().flatten().collect();
        spd_inverse(&mut g, n);
        let mut b = vec![0f32; n * n];
        for i in 0..n {
            for j in 0..n {
                if i != j {
                    b[i * n + j] = (-g[i * n + j] / g[j * n + j]) as f32;
                }
            }
        }
        Self {
            n,
            b,
            item_ids: m.items.ids().to_vec(),
        }
    }

    /// Each row's `top_n` largest positive weights, best first: the sparse form served from
    /// memory and stored (the dense `n²` matrix is too large for one MySQL packet at
    /// catalogue sizes above ~2k items; the dropped weights are the small and negative ones).
    pub fn pruned_rows(&self, top_n: usize) -> Vec<Vec<(u32, f32)>> {
        (0..self.n)
            .map(|i| {
                let row = &self.b[i * self.n..(i + 1) * self.n];
                let mut nb: Vec<(u32, f32)> = row
                    .iter()
                    .enumerate()
                    .filter(|&(_, &w)| w > 0.0)
                    .map(|(j, &w)| (j as u32, w))
                    .collect();
                if nb.len() > top_n {
                    nb.select_nth_unstable_by(top_n, |a, b| b.1.total_cmp(&a.1));
                    nb.truncate(top_n);
                }
                nb.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                nb
            })
            .collect()
    }

    pub fn weight(&self, from: u32, to: u32) -> f32 {
        self.b[from as usize * self.n + to as usize]
    }
}

impl Recommender for Ease {
    fn name(&self) -> &str {
        "ease"
    }
    fn score(&self, ctx: &UserContext<'_>, scores: &mut [f32]) {
        for (&i, &x) in ctx.items.iter().zip(ctx.values) {
            let row = &self.b[i as usize * self.n..(i as usize + 1) * self.n];
            for (s, &w) in scores.iter_mut().zip(row) {
                *s += x * w;
            }
        }
    }
    fn explain(&self, ctx: &UserContext<'_>, item: u32) -> Reason {
        let best = ctx
            .items
            .iter()
            .zip(ctx.values)
            .map(|(&i, &x)| (i, x * self.weight(i, item)))
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((i, c)) if c > 0.0 => Reason::bought_together(&self.item_ids[i as usize]),
            _ => Reason::similar_customers(None),
        }
    }
}

/// In-place inverse of a symmetric positive-definite row-major `n × n` matrix by blocked
/// Gauss-Jordan sweeps (block of pivots K: `A_KK ← A_KK⁻¹`, `A_KR ← A_KK⁻¹A_KR`,
/// `A_RK ← −A_RK A_KK⁻¹`, `A_RR ← A_RR − A_RK A_KK⁻¹ A_KR`). `n³` multiply-adds, one pass over
/// the matrix per block, rows split over threads.
pub fn spd_inverse(a: &mut [f64], n: usize) {
    const BLOCK: usize = 64;
    assert_eq!(a.len(), n * n, "matrix must be n×n");
    let mut k0 = 0;
    while k0 < n {
        let k1 = (k0 + BLOCK).min(n);
        let bsz = k1 - k0;
        let mut kinv = vec![0f64; bsz * bsz];
        for r in 0..bsz {
            kinv[r * bsz..(r + 1) * bsz].copy_from_slice(&a[(k0 + r) * n + k0..(k0 + r) * n + k1]);
        }
        small_inverse(&mut kinv, bsz);
        // T = A_KK⁻¹ · A_K,: with T[:, K] = A_KK⁻¹: the new pivot rows.
        let mut t = vec![0f64; bsz * n];
        for r in 0..bsz {
            let tr = &mut t[r * n..(r + 1) * n];
            for s in 0..bsz {
                let c = kinv[r * bsz + s];
                for (x, &y) in tr.iter_mut().zip(&a[(k0 + s) * n..(k0 + s + 1) * n]) {
                    *x += c * y;
                }
            }
            tr[k0..k1].copy_from_slice(&kinv[r * bsz..(r + 1) * bsz]);
        }
        let rows_per = n.div_ceil(threads()).max(1);
        let (t, kinv) = (&t, &kinv);
        std::thread::scope(|s| {
            for (ci, chunk) in a.chunks_mut(rows_per * n).enumerate() {
                s.spawn(move || update_rows(chunk, ci * rows_per, n, k0, k1, t, kinv));
            }
        });
        k0 = k1;
    }
}

/// Applies one block sweep to the rows `first_row..` held in `chunk`. Columns are processed in
/// tiles so the tile of `t` stays in L2 while all rows stream past it.
fn update_rows(
    chunk: &mut [f64],
    first_row: usize,
    n: usize,
    k0: usize,
    k1: usize,
    t: &[f64],
    kinv: &[f64],
) {
    const TILE: usize = 256;
    let bsz = k1 - k0;
    let rows = chunk.len() / n;
    // Old pivot-column values of every row (read before any column tile is updated).
    let mut c = vec![0f64; rows * bsz];
    for r in 0..rows {
        c[r * bsz..(r + 1) * bsz].copy_from_slice(&chunk[r * n + k0..r * n + k1]);
    }
    let is_pivot = |r: usize| (k0..k1).contains(&(first_row + r));
    let mut j0 = 0;
    while j0 < n {
        let j1 = (j0 + TILE).min(n);
        for r in 0..rows {
            if is_pivot(r) {
                continue;
            }
            let row = &mut chunk[r * n + j0..r * n + j1];
            let cr = &c[r * bsz..(r + 1) * bsz];
            let mut s0 = 0;
            while s0 + 4 <= bsz {
                let (c0, c1, c2, c3) = (cr[s0], cr[s0 + 1], cr[s0 + 2], cr[s0 + 3]);
                let t0 = &t[s0 * n + j0..s0 * n + j1];
                let t1 = &t[(s0 + 1) * n + j0..(s0 + 1) * n + j1];
                let t2 = &t[(s0 + 2) * n + j0..(s0 + 2) * n + j1];
                let t3 = &t[(s0 + 3) * n + j0..(s0 + 3) * n + j1];
                for ((((x, &y0), &y1), &y2), &y3) in row.iter_mut().zip(t0).zip(t1).zip(t2).zip(t3)
                {
                    *x -= c0 * y0 + c1 * y1 + c2 * y2 + c3 * y3;
                }
                s0 += 4;
            }
            for (sk, &cs) in cr.iter().enumerate().skip(s0) {
                for (x, &y) in row.iter_mut().zip(&t[sk * n + j0..sk * n + j1]) {
                    *x -= cs * y;
                }
            }
        }
        j0 = j1;
    }
    for r in 0..rows {
        let row = &mut chunk[r * n..(r + 1) * n];
        if is_pivot(r) {
            let i = first_row + r - k0;
            row.copy_from_slice(&t[i * n..(i + 1) * n]);
            continue;
        }
        let cr = &c[r * bsz..(r + 1) * bsz];
        for (col, x) in row[k0..k1].iter_mut().enumerate() {
            *x = -(0..bsz)
                .map(|sk| cr[sk] * kinv[sk * bsz + col])
                .sum::<f64>();
        }
    }
}

/// Unblocked in-place Gauss-Jordan inverse without pivoting (SPD input).
fn small_inverse(a: &mut [f64], n: usize) {
    for k in 0..n {
        let d = a[k * n + k];
        a[k * n + k] = 1.0;
        for j in 0..n {
            a[k * n + j] /= d;
        }
        for i in 0..n {
            if i == k {
                continue;
            }
            let f = a[i * n + k];
            a[i * n + k] = 0.0;
            for j in 0..n {
                a[i * n + j] -= f * a[k * n + j];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_inverse_is_an_inverse() {
        // A random SPD matrix larger than one block: A = MᵀM + nI.
        let n = 150;
        let mut state = 42u64;
        let mut rnd = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64) / f64::from(u32::MAX) - 0.25
        };
        let m: Vec<f64> = (0..n * n).map(|_| rnd()).collect();
        let mut a = vec![0f64; n * n];
        for i in 0..n {
            for j in 0..n {
                a[i * n + j] = (0..n).map(|k| m[k * n + i] * m[k * n + j]).sum::<f64>()
                    + if i == j { 1.0 } else { 0.0 };
            }
        }
        let mut inv = a.clone();
        spd_inverse(&mut inv, n);
        for i in 0..n {
            for j in 0..n {
                let p: f64 = (0..n).map(|k| a[i * n + k] * inv[k * n + j]).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((p - want).abs() < 1e-8, "({i},{j}) = {p}");
            }
        }
    }

    #[test]
    fn recovers_block_structure() {
        // Two blocks: users 0..6 buy items a0..a3, users 6..12 buy b0..b3, each user missing one.
        let m = crate::engine::test_fixtures::two_blocks();
        let ease = Ease::fit(&m, 1.0, true);
        let u = m.users.get("u0").expect("u0");
        let (items, values) = m.by_user.row(u as usize);
        let ctx = UserContext {
            user: Some(u),
            items,
            values,
            ..UserContext::default()
        };
        let mut s = vec![0f32; m.n_items()];
        ease.score(&ctx, &mut s);
        let a0 = s[m.items.get("a0").expect("a0") as usize];
        for b in ["b0", "b1", "b2", "b3"] {
            assert!(
                a0 > s[m.items.get(b).expect("b") as usize] + 0.1,
                "held-out a0 beats other block"
            );
        }
        assert_eq!(
            ease.explain(&ctx, m.items.get("a0").expect("a0")).kind,
            crate::engine::reasons::ReasonKind::BoughtTogether
        );
    }
}
