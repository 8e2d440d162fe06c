//! The stored form of a [`TrainedModel`] (`rec_models.params`): a small header, then
//! little-endian fixed-width sections, deflated. Hand-written rather than serde-derived so
//! the layout is explicit and versioned, and decoding a corrupt or foreign blob is an error,
//! never a panic or an out-of-range index at serving time (every index is checked here).
//!
//! Layout (before deflate): magic `CRM1`, kind code, items, users, user countries, history
//! CSR, neighbours, optional EASE rows, optional ALS factors, popularity counts, weights,
//! interaction count, hyper-parameters, then (added later, absent from older blobs, which
//! still decode) popularity by segment.

use std::collections::HashMap;
use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;

use super::als::AlsConfig;
use super::matrix::Csr;
use super::model::{Component, Factors, ModelKind, PopularityCounts, TrainedModel};

const MAGIC: &[u8; 4] = b"CRM1";
/// Refuse blobs that would inflate beyond this (a corrupt length field must not allocate
/// without bound).
const MAX_INFLATED: u64 = 2 << 30;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("model blob: {0}")]
pub struct CodecError(String);

fn err(what: impl Into<String>) -> CodecError {
    CodecError(what.into())
}

/// Encodes `model` (deflated).
pub fn encode(model: &TrainedModel) -> Vec<u8> {
    let mut w = Writer::default();
    w.buf.extend_from_slice(MAGIC);
    w.str(model.kind.code());
    w.strs(&model.items);
    w.strs(&model.users);
    w.u64(model.user_country.len() as u64);
    for c in &model.user_country {
        w.str(c.as_deref().unwrap_or(""));
    }
    w.u64(model.history.rows as u64);
    w.u64(model.history.cols as u64);
    w.u64(model.history.indptr.len() as u64);
    for &p in &model.history.indptr {
        w.u64(p as u64);
    }
    w.u32s(&model.history.indices);
    w.f32s(&model.history.data);
    w.lists(&model.neighbours);
    match &model.ease {
        Some(rows) => {
            w.u8(1);
            w.lists(rows);
        }
        None => w.u8(0),
    }
    match &model.als {
        Some(f) => {
            w.u8(1);
            w.u64(f.config.factors as u64);
            w.f32(f.config.regularization);
            w.f32(f.config.alpha);
            w.u64(f.config.iterations as u64);
            w.u64(f.config.cg_steps as u64);
            w.u64(f.config.seed);
            w.f32s(&f.users);
            w.f32s(&f.items);
        }
        None => w.u8(0),
    }
    w.f32s(&model.popularity.global);
    w.counts_by(&model.popularity.by_country);
    w.f32s(&model.popularity.recent);
    w.u64(model.weights.len() as u64);
    for (c, wt) in &model.weights {
        w.str(c.code());
        w.f32(*wt);
    }
    w.u64(model.interaction_count);
    w.u64(model.hyperparameters.len() as u64);
    for (k, v) in &model.hyperparameters {
        w.str(k);
        w.str(v);
    }
    w.counts_by(&model.popularity.by_segment);
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(&w.buf);
    enc.finish().unwrap_or_default()
}

/// Decodes and checks a blob written by [`encode`].
pub fn decode(blob: &[u8]) -> Result<TrainedModel, CodecError> {
    let mut raw = Vec::new();
    DeflateDecoder::new(blob)
        .take(MAX_INFLATED)
        .read_to_end(&mut raw)
        .map_err(|e| err(format!("inflate: {e}")))?;
    let mut r = Reader { buf: &raw, pos: 0 };
    if r.take(4)? != MAGIC {
        return Err(err("not a Caravan model (bad magic)"));
    }
    let kind_code = r.str()?;
    let kind = ModelKind::from_code(&kind_code).ok_or_else(|| err("unknown kind"))?;
    let items = r.strs()?;
    let users = r.strs()?;
    let n_countries = r.len()?;
    let mut user_country = Vec::with_capacity(n_countries.min(1 << 24));
    for _ in 0..n_countries {
        let c = r.str()?;
        user_country.push((!c.is_empty()).then_some(c));
    }
    let rows = r.len()?;
    let cols = r.len()?;
    let n_ptr = r.len()?;
    let mut indptr = Vec::with_capacity(n_ptr.min(1 << 24));
    for _ in 0..n_ptr {
        indptr.push(r.len()?);
    }
    let history = Csr {
        rows,
        cols,
        indptr,
        indices: r.u32s()?,
        data: r.f32s()?,
    };
    let neighbours = r.lists()?;
    let ease = match r.u8()? {
        0 => None,
        _ => Some(r.lists()?),
    };
    let als = match r.u8()? {
        0 => None,
        _ => {
            let config = AlsConfig {
                factors: r.len()?,
                regularization: r.f32()?,
                alpha: r.f32()?,
                iterations: r.len()?,
                cg_steps: r.len()?,
                seed: r.u64()?,
            };
            Some(Factors {
                config,
                users: r.f32s()?,
                items: r.f32s()?,
            })
        }
    };
    let global = r.f32s()?;
    let by_country = r.counts_by()?;
    let recent = r.f32s()?;
    let n = r.len()?;
    let mut weights = Vec::new();
    for _ in 0..n {
        let c = Component::from_code(&r.str()?).ok_or_else(|| err("unknown component"))?;
        weights.push((c, r.f32()?));
    }
    let interaction_count = r.u64()?;
    let n = r.len()?;
    let mut hyperparameters = Vec::new();
    for _ in 0..n {
        hyperparameters.push((r.str()?, r.str()?));
    }
    let by_segment = if r.pos < raw.len() {
        r.counts_by()?
    } else {
        HashMap::new()
    };
    if r.pos != raw.len() {
        return Err(err("trailing bytes"));
    }
    let model = TrainedModel {
        kind,
        items,
        users,
        user_country,
        history,
        neighbours,
        ease,
        als,
        popularity: PopularityCounts {
            global,
            by_country,
            recent,
            by_segment,
        },
        weights,
        interaction_count,
        hyperparameters,
    };
    check_shapes(&model)?;
    Ok(model)
}

/// Every index and length the serving code relies on.
fn check_shapes(m: &TrainedModel) -> Result<(), CodecError> {
    let (n_items, n_users) = (m.items.len(), m.users.len());
    let h = &m.history;
    let csr_ok = h.rows == n_users
        && h.cols == n_items
        && h.indptr.len() == n_users + 1
        && h.indptr.first() == Some(&0)
        && h.indptr.windows(2).all(|w| w[0] <= w[1])
        && h.indptr.last() == Some(&h.indices.len())
        && h.indices.len() == h.data.len()
        && h.indices.iter().all(|&i| (i as usize) < n_items)
        && (0..n_users).all(|r| {
            h.indices[h.indptr[r]..h.indptr[r + 1]]
                .windows(2)
                .all(|w| w[0] < w[1])
        });
    if !csr_ok || m.user_country.len() != n_users {
        return Err(err("history shape"));
    }
    let lists_ok = |l: &Vec<Vec<(u32, f32)>>| {
        l.len() == n_items && l.iter().flatten().all(|&(j, _)| (j as usize) < n_items)
    };
    if !lists_ok(&m.neighbours) || m.ease.as_ref().is_some_and(|e| !lists_ok(e)) {
        return Err(err("neighbour lists shape"));
    }
    if let Some(f) = &m.als
        && (f.config.factors == 0
            || f.users.len() != n_users * f.config.factors
            || f.items.len() != n_items * f.config.factors)
    {
        return Err(err("ALS factors shape"));
    }
    let p = &m.popularity;
    if p.global.len() != n_items
        || p.recent.len() != n_items
        || p.by_country.values().any(|v| v.len() != n_items)
        || p.by_segment.values().any(|v| v.len() != n_items)
    {
        return Err(err("popularity shape"));
    }
    if m.weights.iter().any(|(_, w)| !w.is_finite() || *w < 0.0) {
        return Err(err("weights"));
    }
    Ok(())
}

#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// Per-label counts (country or segment), sorted by label so blobs are reproducible.
    fn counts_by(&mut self, by: &HashMap<String, Vec<f32>>) {
        let mut labels: Vec<_> = by.iter().collect();
        labels.sort_by(|a, b| a.0.cmp(b.0));
        self.u64(labels.len() as u64);
        for (label, counts) in labels {
            self.str(label);
            self.f32s(counts);
        }
    }

    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }
    fn strs(&mut self, v: &[String]) {
        self.u64(v.len() as u64);
        for s in v {
            self.str(s);
        }
    }
    fn u32s(&mut self, v: &[u32]) {
        self.u64(v.len() as u64);
        for &x in v {
            self.u32(x);
        }
    }
    fn f32s(&mut self, v: &[f32]) {
        self.u64(v.len() as u64);
        for &x in v {
            self.f32(x);
        }
    }
    fn lists(&mut self, lists: &[Vec<(u32, f32)>]) {
        self.u64(lists.len() as u64);
        for l in lists {
            self.u64(l.len() as u64);
            for &(j, s) in l {
                self.u32(j);
                self.f32(s);
            }
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn counts_by(&mut self) -> Result<HashMap<String, Vec<f32>>, CodecError> {
        let n = self.len()?;
        let mut out = HashMap::new();
        for _ in 0..n {
            let label = self.str()?;
            out.insert(label, self.f32s()?);
        }
        Ok(out)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| err("truncated"))?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn f32(&mut self) -> Result<f32, CodecError> {
        Ok(f32::from_le_bytes(self.array()?))
    }
    /// A length or count, bounded by the bytes left (each element takes at least one byte).
    fn len(&mut self) -> Result<usize, CodecError> {
        let n = usize::try_from(self.u64()?).map_err(|_| err("length"))?;
        if n > self.buf.len() {
            return Err(err("length beyond blob"));
        }
        Ok(n)
    }
    fn str(&mut self) -> Result<String, CodecError> {
        let n = self.len()?;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| err("utf-8"))
    }
    fn strs(&mut self) -> Result<Vec<String>, CodecError> {
        let n = self.len()?;
        (0..n).map(|_| self.str()).collect()
    }
    fn u32s(&mut self) -> Result<Vec<u32>, CodecError> {
        let n = self.len()?;
        (0..n).map(|_| self.u32()).collect()
    }
    fn f32s(&mut self) -> Result<Vec<f32>, CodecError> {
        let n = self.len()?;
        (0..n).map(|_| self.f32()).collect()
    }
    fn lists(&mut self) -> Result<Vec<Vec<(u32, f32)>>, CodecError> {
        let n = self.len()?;
        (0..n)
            .map(|_| {
                let m = self.len()?;
                (0..m).map(|_| Ok((self.u32()?, self.f32()?))).collect()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> TrainedModel {
        TrainedModel {
            kind: ModelKind::Blend,
            items: vec!["a".into(), "b".into(), "c".into()],
            users: vec!["u1".into(), "u2".into()],
            user_country: vec![Some("DE".into()), None],
            history: Csr::from_triplets(2, 3, vec![(0, 0, 1.0), (0, 1, 0.5), (1, 2, 2.0)]),
            neighbours: vec![vec![(1, 0.9)], vec![(0, 0.9)], vec![]],
            ease: Some(vec![vec![(1, 0.3)], vec![], vec![(0, 0.1)]]),
            als: Some(Factors {
                config: AlsConfig {
                    factors: 2,
                    ..AlsConfig::default()
                },
                users: vec![0.1, 0.2, 0.3, 0.4],
                items: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            }),
            popularity: PopularityCounts {
                global: vec![2.0, 1.0, 1.0],
                by_country: HashMap::from([("DE".to_string(), vec![1.0, 1.0, 0.0])]),
                recent: vec![0.0, 1.0, 0.0],
                by_segment: HashMap::from([("at-risk".to_string(), vec![0.0, 2.0, 1.0])]),
            },
            weights: vec![(Component::Ease, 0.5), (Component::PopularityCountry, 0.1)],
            interaction_count: 3,
            hyperparameters: vec![("lambda".into(), "500".into())],
        }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        let blob = encode(&m);
        assert_eq!(decode(&blob), Ok(m));
    }

    #[test]
    fn blobs_from_before_segment_popularity_still_decode() {
        let mut m = sample();
        m.popularity.by_segment.clear();
        // The older layout is the current one without the trailing segment section,
        // which for no segments is its count alone (8 bytes).
        let mut raw = Vec::new();
        DeflateDecoder::new(encode(&m).as_slice())
            .read_to_end(&mut raw)
            .expect("inflate");
        raw.truncate(raw.len() - 8);
        let mut enc = DeflateEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(&raw).expect("deflate");
        let old = enc.finish().expect("deflate");
        assert_eq!(decode(&old), Ok(m));
    }

    #[test]
    fn rejects_garbage_truncation_and_bad_indices() {
        assert!(decode(b"not a model").is_err());
        let blob = encode(&sample());
        assert!(decode(&blob[..blob.len() / 2]).is_err());
        let mut bad = sample();
        bad.neighbours[0] = vec![(7, 1.0)];
        assert_eq!(decode(&encode(&bad)), Err(err("neighbour lists shape")));
        let mut bad = sample();
        bad.history.indices[0] = 9;
        assert_eq!(decode(&encode(&bad)), Err(err("history shape")));
    }
}
