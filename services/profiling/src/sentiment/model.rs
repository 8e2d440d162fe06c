//! The trained model and its binary file format.
//!
//! File layout (all integers little-endian):
//!
//! ```text
//! magic   8 bytes  "CRVSENT\0"
//! version u16      FORMAT_VERSION
//! payload          raw DEFLATE stream of:
//!   config         str   (training configuration, `key=value` lines)
//!   files          u16 n, then n × { name: str, rows: u32, sha256: [u8; 32] }
//!   langid         u8 bits, u8 n, then n × { language: u8, table }
//!   sentiment      u8 n, then n × { language: u8, bits: u8, normalize: u8, bias: f32,
//!                                   cue_weight: f32, temperature: f32, table }
//! str   = u32 byte length + UTF-8
//! table = default: f32, scale: f32, count: u32, then count × { index delta: LEB128 u32,
//!         value: i16 } (value × scale is the weight; absent indices take `default`)
//! ```

use std::io::{Read, Write};

use super::Language;

/// File magic.
pub const MAGIC: &[u8; 8] = b"CRVSENT\0";
/// Current format version.
pub const FORMAT_VERSION: u16 = 1;

/// Errors reading a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not a sentiment model (bad magic)")]
    BadMagic,
    #[error("unsupported sentiment model format version {0}")]
    Version(u16),
    #[error("truncated or corrupt sentiment model")]
    Truncated,
    #[error("invalid sentiment model: {0}")]
    Invalid(String),
    #[error("model i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// A weight table: dense in memory, sparse and quantised (i16) on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Value of indices not stored.
    pub default: f32,
    /// Dense values, length `2^bits`.
    pub values: Vec<f32>,
}

impl Table {
    /// Quantise to i16 with one scale (max |value - default| / 32767) and drop entries
    /// whose |value - default| is below `prune` (absolute). Returns the quantised table.
    pub fn quantised(values: &[f32], default: f32, prune: f32) -> Table {
        let max = values
            .iter()
            .map(|v| (v - default).abs())
            .fold(0.0f32, f32::max);
        let scale = if max > 0.0 { max / 32767.0 } else { 1.0 };
        let values = values
            .iter()
            .map(|&v| {
                let d = v - default;
                if d.abs() < prune {
                    default
                } else {
                    default + (d / scale).round() * scale
                }
            })
            .collect();
        Table { default, values }
    }

    fn scale(&self) -> f32 {
        let max = self
            .values
            .iter()
            .map(|v| (v - self.default).abs())
            .fold(0.0f32, f32::max);
        if max > 0.0 { max / 32767.0 } else { 1.0 }
    }

    /// Number of stored (non-default) entries.
    pub fn stored(&self) -> usize {
        self.values.iter().filter(|&&v| v != self.default).count()
    }

    fn write(&self, w: &mut Vec<u8>) {
        let scale = self.scale();
        put_f32(w, self.default);
        put_f32(w, scale);
        put_u32(w, len_u32(self.stored()));
        let mut last = 0u32;
        for (i, &v) in self.values.iter().enumerate() {
            if v == self.default {
                continue;
            }
            let i = len_u32(i);
            put_varint(w, i - last);
            last = i;
            let q = ((v - self.default) / scale)
                .round()
                .clamp(-32767.0, 32767.0);
            // In range by the clamp above.
            w.extend_from_slice(&(q as i16).to_le_bytes());
        }
    }

    fn read(r: &mut Reader<'_>, bits: u8) -> Result<Table, ModelError> {
        let default = r.f32()?;
        let scale = r.f32()?;
        let count = r.u32()? as usize;
        let size = 1usize << bits;
        let mut values = vec![default; size];
        let mut idx = 0u32;
        for _ in 0..count {
            idx = idx
                .checked_add(r.varint()?)
                .ok_or_else(|| ModelError::Invalid("index overflow".into()))?;
            let q = i16::from_le_bytes([r.u8()?, r.u8()?]);
            let slot = values
                .get_mut(idx as usize)
                .ok_or_else(|| ModelError::Invalid("index out of range".into()))?;
            *slot = default + f32::from(q) * scale;
        }
        Ok(Table { default, values })
    }
}

/// A linear sentiment classifier for one language: z = bias + Σ w_i x_i, positive when z > 0.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    pub language: Language,
    pub bits: u8,
    /// Features are binary; when true they are scaled by 1/sqrt(count) (logistic regression),
    /// when false they count 1 each (naive Bayes).
    pub normalize: bool,
    pub bias: f32,
    /// Log-odds per hand-written e-commerce cue, added to the calibrated margin.
    pub cue_weight: f32,
    /// Calibration: the log-odds are temperature · margin + cue_weight · cues (temperature
    /// fitted on cross-validated margins; it does not change the classifier's sign).
    pub temperature: f32,
    pub weights: Table,
}

impl LinearModel {
    /// The classifier's raw margin for a feature set (without cues).
    pub fn margin(&self, features: &[u32]) -> f32 {
        if features.is_empty() {
            return 0.0;
        }
        let sum: f32 = features
            .iter()
            .map(|&i| self.weights.values.get(i as usize).copied().unwrap_or(0.0))
            .sum();
        let x = if self.normalize {
            1.0 / (features.len() as f32).sqrt()
        } else {
            1.0
        };
        self.bias + sum * x
    }
}

/// Character-trigram naive Bayes tables for the alphabetic languages.
#[derive(Debug, Clone, PartialEq)]
pub struct LangIdModel {
    pub bits: u8,
    /// Log-probability tables per language.
    pub tables: Vec<(Language, Table)>,
}

/// A training data file the model was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFileDigest {
    pub name: String,
    pub rows: u32,
    pub sha256: [u8; 32],
}

/// The whole model file.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub config: String,
    pub files: Vec<DataFileDigest>,
    pub langid: LangIdModel,
    pub sentiment: Vec<LinearModel>,
}

impl Model {
    /// The sentiment classifier for a language.
    pub fn classifier(&self, language: Language) -> Option<&LinearModel> {
        self.sentiment.iter().find(|m| m.language == language)
    }

    /// Serialise to the file format.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ModelError> {
        let mut p = Vec::new();
        put_str(&mut p, &self.config);
        put_u16(
            &mut p,
            u16::try_from(self.files.len()).map_err(|_| too_many())?,
        );
        for f in &self.files {
            put_str(&mut p, &f.name);
            put_u32(&mut p, f.rows);
            p.extend_from_slice(&f.sha256);
        }
        p.push(self.langid.bits);
        p.push(u8::try_from(self.langid.tables.len()).map_err(|_| too_many())?);
        for (lang, t) in &self.langid.tables {
            p.push(lang.index());
            t.write(&mut p);
        }
        p.push(u8::try_from(self.sentiment.len()).map_err(|_| too_many())?);
        for m in &self.sentiment {
            p.push(m.language.index());
            p.push(m.bits);
            p.push(u8::from(m.normalize));
            put_f32(&mut p, m.bias);
            put_f32(&mut p, m.cue_weight);
            put_f32(&mut p, m.temperature);
            m.weights.write(&mut p);
        }
        let mut out = Vec::with_capacity(p.len() / 2);
        out.extend_from_slice(MAGIC);
        put_u16(&mut out, FORMAT_VERSION);
        let mut enc = flate2::write::DeflateEncoder::new(out, flate2::Compression::best());
        enc.write_all(&p)?;
        Ok(enc.finish()?)
    }

    /// Parse the file format.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        if bytes.len() < 10 || &bytes[..8] != MAGIC {
            return Err(ModelError::BadMagic);
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION {
            return Err(ModelError::Version(version));
        }
        let mut payload = Vec::new();
        flate2::read::DeflateDecoder::new(&bytes[10..])
            .read_to_end(&mut payload)
            .map_err(|_| ModelError::Truncated)?;
        let mut r = Reader {
            bytes: &payload,
            pos: 0,
        };
        let config = r.str()?;
        let n = r.u16()?;
        let mut files = Vec::new();
        for _ in 0..n {
            let name = r.str()?;
            let rows = r.u32()?;
            let mut sha256 = [0u8; 32];
            for b in &mut sha256 {
                *b = r.u8()?;
            }
            files.push(DataFileDigest { name, rows, sha256 });
        }
        let bits = checked_bits(r.u8()?)?;
        let n = r.u8()?;
        let mut tables = Vec::new();
        for _ in 0..n {
            let lang = r.language()?;
            tables.push((lang, Table::read(&mut r, bits)?));
        }
        let langid = LangIdModel { bits, tables };
        let n = r.u8()?;
        let mut sentiment = Vec::new();
        for _ in 0..n {
            let language = r.language()?;
            let bits = checked_bits(r.u8()?)?;
            let normalize = r.u8()? != 0;
            let bias = r.f32()?;
            let cue_weight = r.f32()?;
            let temperature = r.f32()?;
            let weights = Table::read(&mut r, bits)?;
            sentiment.push(LinearModel {
                language,
                bits,
                normalize,
                bias,
                cue_weight,
                temperature,
                weights,
            });
        }
        if r.pos != payload.len() {
            return Err(ModelError::Invalid("trailing bytes".into()));
        }
        Ok(Model {
            config,
            files,
            langid,
            sentiment,
        })
    }
}

fn too_many() -> ModelError {
    ModelError::Invalid("too many entries".into())
}

fn checked_bits(bits: u8) -> Result<u8, ModelError> {
    if (1..=24).contains(&bits) {
        Ok(bits)
    } else {
        Err(ModelError::Invalid(format!("bad hash width {bits}")))
    }
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn put_u16(w: &mut Vec<u8>, v: u16) {
    w.extend_from_slice(&v.to_le_bytes());
}
fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}
fn put_f32(w: &mut Vec<u8>, v: f32) {
    w.extend_from_slice(&v.to_le_bytes());
}
fn put_str(w: &mut Vec<u8>, s: &str) {
    put_u32(w, len_u32(s.len()));
    w.extend_from_slice(s.as_bytes());
}
fn put_varint(w: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        w.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    w.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], ModelError> {
        let end = self.pos.checked_add(n).ok_or(ModelError::Truncated)?;
        let s = self.bytes.get(self.pos..end).ok_or(ModelError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, ModelError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, ModelError> {
        let s = self.take(2)?;
        Ok(u16::from_le_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, ModelError> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn f32(&mut self) -> Result<f32, ModelError> {
        Ok(f32::from_bits(self.u32()?))
    }
    fn str(&mut self) -> Result<String, ModelError> {
        let n = self.u32()? as usize;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| ModelError::Invalid("bad UTF-8".into()))
    }
    fn varint(&mut self) -> Result<u32, ModelError> {
        let mut v = 0u32;
        for shift in (0..35).step_by(7) {
            let b = self.u8()?;
            v |= u32::from(b & 0x7f)
                .checked_shl(shift)
                .ok_or(ModelError::Truncated)?;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ModelError::Invalid("varint too long".into()))
    }
    fn language(&mut self) -> Result<Language, ModelError> {
        let i = self.u8()?;
        Language::from_index(i).ok_or_else(|| ModelError::Invalid(format!("language {i}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Model {
        let mut w = vec![0.0f32; 1 << 8];
        w[3] = 1.5;
        w[200] = -0.25;
        w[255] = 0.001;
        let mut l = vec![-9.0f32; 1 << 8];
        l[7] = -2.0;
        Model {
            config: "seed=1\n".into(),
            files: vec![DataFileDigest {
                name: "en.csv.gz".into(),
                rows: 12,
                sha256: [7; 32],
            }],
            langid: LangIdModel {
                bits: 8,
                tables: vec![(Language::En, Table::quantised(&l, -9.0, 0.0))],
            },
            sentiment: vec![LinearModel {
                language: Language::Zh,
                bits: 8,
                normalize: true,
                bias: 0.125,
                cue_weight: 0.5,
                temperature: 0.75,
                weights: Table::quantised(&w, 0.0, 0.01),
            }],
        }
    }

    #[test]
    fn round_trip() {
        let m = sample();
        assert_eq!(m.sentiment[0].weights.stored(), 2, "0.001 pruned");
        let bytes = m.to_bytes().expect("serialise");
        assert_eq!(&bytes[..8], MAGIC);
        let back = Model::from_bytes(&bytes).expect("parse");
        assert_eq!(back.config, m.config);
        assert_eq!(back.files, m.files);
        assert_eq!(back.sentiment[0].language, Language::Zh);
        assert_eq!(back.sentiment[0].bias, 0.125);
        for (a, b) in back.sentiment[0]
            .weights
            .values
            .iter()
            .zip(&m.sentiment[0].weights.values)
        {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        assert!((back.langid.tables[0].1.values[7] + 2.0).abs() < 1e-3);
        assert_eq!(back.langid.tables[0].1.values[8], -9.0);
        // Serialisation is deterministic.
        assert_eq!(m.to_bytes().expect("serialise"), bytes);
    }

    #[test]
    fn rejects_corrupt_files() {
        assert!(matches!(Model::from_bytes(b""), Err(ModelError::BadMagic)));
        let mut bytes = sample().to_bytes().expect("serialise");
        bytes[8] = 9;
        assert!(matches!(
            Model::from_bytes(&bytes),
            Err(ModelError::Version(9))
        ));
        let bytes = sample().to_bytes().expect("serialise");
        assert!(Model::from_bytes(&bytes[..bytes.len() - 5]).is_err());
    }
}
