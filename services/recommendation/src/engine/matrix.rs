//! Compact CSR user×item matrix with id↔index maps.

use std::collections::HashMap;

use super::interactions::{Interaction, WeightConfig};

/// Dense `u32` indices for string ids, in first-seen order.
#[derive(Debug, Clone, Default)]
pub struct IndexMap {
    ids: Vec<String>,
    index: HashMap<String, u32>,
}

impl IndexMap {
    pub fn get_or_insert(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(id.to_owned());
        self.index.insert(id.to_owned(), i);
        i
    }
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }
    pub fn id(&self, i: u32) -> &str {
        &self.ids[i as usize]
    }
    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}

/// Compressed sparse rows with `f32` values; column indices sorted within each row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Csr {
    pub rows: usize,
    pub cols: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub data: Vec<f32>,
}

impl Csr {
    /// Builds from (row, col, value) triplets; duplicates are summed.
    pub fn from_triplets(rows: usize, cols: usize, mut t: Vec<(u32, u32, f32)>) -> Self {
        t.sort_unstable_by_key(|&(r, c, _)| (r, c));
        let mut indptr = vec![0usize; rows + 1];
        let mut indices = Vec::with_capacity(t.len());
        let mut data: Vec<f32> = Vec::with_capacity(t.len());
        let mut last: Option<(u32, u32)> = None;
        for (r, c, v) in t {
            if last == Some((r, c)) {
                if let Some(d) = data.last_mut() {
                    *d += v;
                }
                continue;
            }
            last = Some((r, c));
            indptr[r as usize + 1] += 1;
            indices.push(c);
            data.push(v);
        }
        for r in 0..rows {
            indptr[r + 1] += indptr[r];
        }
        Self {
            rows,
            cols,
            indptr,
            indices,
            data,
        }
    }

    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (a, b) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[a..b], &self.data[a..b])
    }

    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    pub fn transpose(&self) -> Self {
        let mut t = Vec::with_capacity(self.nnz());
        for r in 0..self.rows {
            let (idx, val) = self.row(r);
            for (&c, &v) in idx.iter().zip(val) {
                t.push((c, r as u32, v));
            }
        }
        Self::from_triplets(self.cols, self.rows, t)
    }
}

/// The training matrix: aggregated signed weights per (user, item), with non-positive cells
/// dropped (returns/negative reviews cancel purchases), plus the transpose.
#[derive(Debug, Clone, Default)]
pub struct InteractionMatrix {
    pub users: IndexMap,
    pub items: IndexMap,
    pub by_user: Csr,
    pub by_item: Csr,
}

impl InteractionMatrix {
    /// Aggregates `interactions` with `cfg` as seen from `now` (Unix seconds). Only
    /// users/items with at least one positive cell get an index.
    pub fn build(interactions: &[Interaction], cfg: &WeightConfig, now: i64) -> Self {
        let mut sums: HashMap<(&str, &str), f64> = HashMap::new();
        for it in interactions {
            *sums
                .entry((it.customer.as_str(), it.item.as_str()))
                .or_default() += cfg.weight(it, now);
        }
        let mut cells: Vec<((&str, &str), f64)> =
            sums.into_iter().filter(|&(_, v)| v > 1e-9).collect();
        cells.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut users = IndexMap::default();
        let mut items = IndexMap::default();
        let mut t = Vec::with_capacity(cells.len());
        for ((u, i), v) in cells {
            t.push((users.get_or_insert(u), items.get_or_insert(i), v as f32));
        }
        let by_user = Csr::from_triplets(users.len(), items.len(), t);
        let by_item = by_user.transpose();
        Self {
            users,
            items,
            by_user,
            by_item,
        }
    }

    pub fn n_users(&self) -> usize {
        self.users.len()
    }
    pub fn n_items(&self) -> usize {
        self.items.len()
    }
    /// Distinct users per item (the popularity count).
    pub fn item_user_counts(&self) -> Vec<f32> {
        (0..self.n_items())
            .map(|i| self.by_item.row(i).0.len() as f32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::interactions::InteractionKind;

    #[test]
    fn aggregates_and_drops_cancelled_cells() {
        let mk = |c: &str, i: &str, k| Interaction {
            customer: c.into(),
            item: i.into(),
            kind: k,
            weight: 1.0,
            time: 0,
        };
        let rows = vec![
            mk("u1", "a", InteractionKind::Purchase),
            mk("u1", "a", InteractionKind::Purchase),
            mk("u1", "b", InteractionKind::Purchase),
            mk("u1", "b", InteractionKind::Return),
            mk("u2", "b", InteractionKind::Purchase),
        ];
        let cfg = WeightConfig {
            half_life_days: None,
            ..WeightConfig::default()
        };
        let m = InteractionMatrix::build(&rows, &cfg, 0);
        assert_eq!(m.n_users(), 2);
        let u1 = m.users.get("u1").expect("u1") as usize;
        let (idx, val) = m.by_user.row(u1);
        assert_eq!(idx.len(), 1, "b was returned and drops out");
        assert_eq!(m.items.id(idx[0]), "a");
        assert!((val[0] - 2.0).abs() < 1e-6);
        assert_eq!(m.by_item.nnz(), 2);
        let b = m.items.get("b").expect("b") as usize;
        assert_eq!(m.item_user_counts()[b], 1.0);
    }
}
