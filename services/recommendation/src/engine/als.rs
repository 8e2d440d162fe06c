//! Implicit-feedback ALS (Hu, Koren, Volinsky 2008) with the conjugate-gradient inner solver
//! (Takács et al. 2011), confidence `c = 1 + α·r`, preference `p = 1` for observed cells.
//!
//! Per user: minimise `Σ_i c_ui (p_ui − x_uᵀy_i)² + λ‖x_u‖²`, i.e. solve
//! `(YᵀY + λI + Σ_{i∈u} (c_ui − 1) y_i y_iᵀ) x_u = Σ_{i∈u} c_ui y_i` with `cg_steps` CG steps
//! warm-started from the previous factor; symmetrically for items. Serving is one dot product
//! per item (`n_items × factors`).

use serde::{Deserialize, Serialize};

use super::matrix::{Csr, InteractionMatrix};
use super::reasons::Reason;
use super::scoring::{Recommender, UserContext, parallel_map};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlsConfig {
    pub factors: usize,
    pub regularization: f32,
    pub alpha: f32,
    pub iterations: usize,
    pub cg_steps: usize,
    pub seed: u64,
}

impl Default for AlsConfig {
    fn default() -> Self {
        Self {
            factors: 64,
            regularization: 0.1,
            alpha: 10.0,
            iterations: 15,
            cg_steps: 3,
            seed: 7,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Als {
    pub config: AlsConfig,
    /// Row-major `n_users × factors`.
    pub user_factors: Vec<f32>,
    /// Row-major `n_items × factors`.
    pub item_factors: Vec<f32>,
    item_ids: Vec<String>,
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `out = G·x` for a dense symmetric `f × f` matrix `g`.
fn matvec(g: &[f32], x: &[f32], out: &mut [f32]) {
    let f = x.len();
    for (r, o) in out.iter_mut().enumerate() {
        *o = dot(&g[r * f..(r + 1) * f], x);
    }
}

/// `YᵀY + λI`.
fn gram(y: &[f32], f: usize, reg: f32) -> Vec<f32> {
    let mut g = vec![0f64; f * f];
    for row in y.chunks_exact(f) {
        for a in 0..f {
            let ra = f64::from(row[a]);
            for b in a..f {
                g[a * f + b] += ra * f64::from(row[b]);
            }
        }
    }
    let mut out = vec![0f32; f * f];
    for a in 0..f {
        for b in a..f {
            let v = g[a * f + b] as f32 + if a == b { reg } else { 0.0 };
            out[a * f + b] = v;
            out[b * f + a] = v;
        }
    }
    out
}

/// CG solve for one row; `x` is the warm start and the result.
#[allow(clippy::too_many_arguments)]
fn solve_row(
    yty: &[f32],
    y: &[f32],
    f: usize,
    idx: &[u32],
    vals: &[f32],
    alpha: f32,
    steps: usize,
    x: &mut [f32],
) {
    let mut r = vec![0f32; f];
    let mut ap = vec![0f32; f];
    // r = b − A x
    matvec(yty, x, &mut r);
    for v in r.iter_mut() {
        *v = -*v;
    }
    for (&i, &v) in idx.iter().zip(vals) {
        let yi = &y[i as usize * f..(i as usize + 1) * f];
        let c = 1.0 + alpha * v;
        let coef = c - (c - 1.0) * dot(yi, x);
        for (rr, &yv) in r.iter_mut().zip(yi) {
            *rr += coef * yv;
        }
    }
    let mut p = r.clone();
    let mut rsold = dot(&r, &r);
    for _ in 0..steps {
        if rsold < 1e-20 {
            break;
        }
        matvec(yty, &p, &mut ap);
        for (&i, &v) in idx.iter().zip(vals) {
            let yi = &y[i as usize * f..(i as usize + 1) * f];
            let coef = alpha * v * dot(yi, &p);
            for (a, &yv) in ap.iter_mut().zip(yi) {
                *a += coef * yv;
            }
        }
        let step = rsold / dot(&p, &ap).max(1e-30);
        for k in 0..f {
            x[k] += step * p[k];
            r[k] -= step * ap[k];
        }
        let rsnew = dot(&r, &r);
        for k in 0..f {
            p[k] = r[k] + rsnew / rsold * p[k];
        }
        rsold = rsnew;
    }
}

fn half_step(x: &mut [f32], y: &[f32], rows: &Csr, cfg: &AlsConfig) {
    let f = cfg.factors;
    let yty = gram(y, f, cfg.regularization);
    let x_ro: &[f32] = x;
    let solved = parallel_map(rows.rows, |r| {
        let (idx, vals) = rows.row(r);
        let mut xr = x_ro[r * f..(r + 1) * f].to_vec();
        solve_row(&yty, y, f, idx, vals, cfg.alpha, cfg.cg_steps, &mut xr);
        xr
    });
    for (r, xr) in solved.into_iter().enumerate() {
        x[r * f..(r + 1) * f].copy_from_slice(&xr);
    }
}

impl Als {
    pub fn fit(m: &InteractionMatrix, cfg: AlsConfig) -> Self {
        let f = cfg.factors;
        let mut state = cfg.seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut rnd = move || {
            // splitmix64 → uniform [0, 0.01)
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 24) as f32) * 0.01
        };
        let mut user_factors: Vec<f32> = (0..m.n_users() * f).map(|_| rnd()).collect();
        let mut item_factors: Vec<f32> = (0..m.n_items() * f).map(|_| rnd()).collect();
        for _ in 0..cfg.iterations {
            half_step(&mut user_factors, &item_factors, &m.by_user, &cfg);
            half_step(&mut item_factors, &user_factors, &m.by_item, &cfg);
        }
        Self {
            config: cfg,
            user_factors,
            item_factors,
            item_ids: m.items.ids().to_vec(),
        }
    }

    /// The user's factor: the trained one, or folded in from the history (new users).
    pub fn user_vector(&self, ctx: &UserContext<'_>) -> Vec<f32> {
        let f = self.config.factors;
        match ctx.user {
            Some(u) if (u as usize + 1) * f <= self.user_factors.len() => {
                self.user_factors[u as usize * f..(u as usize + 1) * f].to_vec()
            }
            _ => {
                let yty = gram(&self.item_factors, f, self.config.regularization);
                let mut x = vec![0f32; f];
                solve_row(
                    &yty,
                    &self.item_factors,
                    f,
                    ctx.items,
                    ctx.values,
                    self.config.alpha,
                    f.min(20),
                    &mut x,
                );
                x
            }
        }
    }
}

impl Recommender for Als {
    fn name(&self) -> &str {
        "als"
    }
    fn score(&self, ctx: &UserContext<'_>, scores: &mut [f32]) {
        let f = self.config.factors;
        let x = self.user_vector(ctx);
        for (s, y) in scores.iter_mut().zip(self.item_factors.chunks_exact(f)) {
            *s += dot(&x, y);
        }
    }
    fn explain(&self, ctx: &UserContext<'_>, item: u32) -> Reason {
        let f = self.config.factors;
        let yj = &self.item_factors[item as usize * f..(item as usize + 1) * f];
        let anchor = ctx
            .items
            .iter()
            .map(|&i| {
                (
                    i,
                    dot(&self.item_factors[i as usize * f..(i as usize + 1) * f], yj),
                )
            })
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(i, _)| self.item_ids[i as usize].as_str());
        Reason::similar_customers(anchor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_block_structure_and_is_deterministic() {
        let m = crate::engine::test_fixtures::two_blocks();
        let cfg = AlsConfig {
            factors: 4,
            regularization: 0.01,
            alpha: 10.0,
            iterations: 20,
            cg_steps: 3,
            seed: 1,
        };
        let als = Als::fit(&m, cfg);
        assert_eq!(
            als.user_factors,
            Als::fit(&m, cfg).user_factors,
            "deterministic"
        );
        for (user, held, other) in [("u0", "a0", "b"), ("u7", "b1", "a")] {
            let u = m.users.get(user).expect("user");
            let (items, values) = m.by_user.row(u as usize);
            let ctx = UserContext {
                user: Some(u),
                items,
                values,
                ..UserContext::default()
            };
            let mut s = vec![0f32; m.n_items()];
            als.score(&ctx, &mut s);
            let h = s[m.items.get(held).expect("held") as usize];
            for k in 0..4 {
                assert!(
                    h > s[m.items.get(&format!("{other}{k}")).expect("o") as usize],
                    "{user}: {held} beats {other}{k}"
                );
            }
            // Fold-in of the same history agrees on the ranking.
            let mut s2 = vec![0f32; m.n_items()];
            als.score(&UserContext { user: None, ..ctx }, &mut s2);
            assert!(
                s2[m.items.get(held).expect("held") as usize]
                    > s2[m.items.get(&format!("{other}0")).expect("o") as usize]
            );
        }
    }
}
