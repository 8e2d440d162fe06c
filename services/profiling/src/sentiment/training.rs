//! Training and held-out evaluation of the sentiment model (used by the
//! `caravan-train-sentiment` binary and by tests).
//!
//! * Data: every `*.csv.gz` in the data directory (header `language,text,label`, label
//!   `pos`/`neg`). Files whose name contains `xed` are subtitles, the rest reviews.
//! * Shipped classifier per language: trained on all of that language's files, except that
//!   Chinese is trained on the review file(s) only (the Chinese subtitles are scored out of
//!   domain instead).
//! * Candidates per language: logistic regression (SGD, class-balanced, L2 λ ∈ {1e-6, 1e-5})
//!   and binarised multinomial naive Bayes (α ∈ {0.01, 0.03, 0.1, 0.3}), each with cue weight
//!   ∈ {0, 0.25, 0.5, 1, 2} (log-odds per cue, added to the temperature-calibrated margin). Each candidate is scored by stratified 5-fold cross-validation on each
//!   file separately (train on the other four folds of that file only). Per language the
//!   classifier with the best mean macro-F1 at cue weight 0 is kept; the cue weight is then
//!   the largest whose macro-F1 is within 0.005 of the best (cues are for review vocabulary
//!   the subtitle files lack, so they are kept unless they measurably hurt).
//! * Everything is deterministic (fixed seed, splitmix64, sorted inputs).

use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use anyhow::Context;
use sha2::Digest;

use super::Language;
use super::cues::cue_score;
use super::features::{SENTIMENT_BITS, sentiment_features};
use super::language_id::{self, LANGID_BITS};
use super::model::{DataFileDigest, LinearModel, Model, Table};

/// One labelled data file.
#[derive(Debug, Clone)]
pub struct DataFile {
    pub name: String,
    pub language: Language,
    /// Reviews (true) or subtitles (false).
    pub review: bool,
    /// (text, positive)
    pub rows: Vec<(String, bool)>,
    pub sha256: [u8; 32],
}

impl DataFile {
    pub fn positives(&self) -> usize {
        self.rows.iter().filter(|r| r.1).count()
    }
    pub fn kind(&self) -> &'static str {
        if self.review { "reviews" } else { "subtitles" }
    }
}

/// SHA-256 of a file's bytes.
pub fn file_sha256(path: &Path) -> anyhow::Result<[u8; 32]> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(sha2::Sha256::digest(&bytes).into())
}

/// The `*.csv.gz` files of a data directory, sorted by name.
pub fn data_file_paths(dir: &Path) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading data directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".csv.gz"))
        .collect();
    paths.sort();
    anyhow::ensure!(!paths.is_empty(), "no *.csv.gz files in {}", dir.display());
    Ok(paths)
}

/// Load every labelled file of a data directory.
pub fn load_dir(dir: &Path) -> anyhow::Result<Vec<DataFile>> {
    let mut files = Vec::new();
    for path in data_file_paths(dir)? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bytes = std::fs::read(&path).with_context(|| format!("reading {name}"))?;
        let sha256: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .with_context(|| format!("decompressing {name}"))?;
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let mut rows = Vec::new();
        let mut language = None;
        for (i, rec) in reader.records().enumerate() {
            let rec = rec.with_context(|| format!("{name}: row {}", i + 2))?;
            let (lang, text, label) = (
                rec.get(0).unwrap_or_default(),
                rec.get(1).unwrap_or_default(),
                rec.get(2).unwrap_or_default(),
            );
            let lang = Language::parse(lang)
                .with_context(|| format!("{name}: row {}: language {lang:?}", i + 2))?;
            anyhow::ensure!(
                language.is_none_or(|l| l == lang),
                "{name}: mixed languages"
            );
            language = Some(lang);
            let pos = match label {
                "pos" => true,
                "neg" => false,
                other => anyhow::bail!("{name}: row {}: label {other:?}", i + 2),
            };
            rows.push((text.to_string(), pos));
        }
        let language = language.with_context(|| format!("{name}: no rows"))?;
        files.push(DataFile {
            review: !name.contains("xed"),
            name,
            language,
            rows,
            sha256,
        });
    }
    Ok(files)
}

/// A classifier family with its hyper-parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Algo {
    LogReg { lambda: f32 },
    NaiveBayes { alpha: f32 },
}

impl std::fmt::Display for Algo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Algo::LogReg { lambda } => write!(f, "logreg λ={lambda:e}"),
            Algo::NaiveBayes { alpha } => write!(f, "nb α={alpha}"),
        }
    }
}

/// Training configuration (fixed; recorded in the model header).
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub folds: usize,
    pub epochs: usize,
    pub eta0: f32,
    /// Weights with |w − default| < prune × max |w − default| are dropped.
    pub prune: f32,
    pub algos: Vec<Algo>,
    pub cue_weights: Vec<f32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 20_261_123,
            folds: 5,
            epochs: 12,
            eta0: 0.5,
            prune: 0.02,
            algos: vec![
                Algo::LogReg { lambda: 1e-6 },
                Algo::LogReg { lambda: 1e-5 },
                Algo::NaiveBayes { alpha: 0.01 },
                Algo::NaiveBayes { alpha: 0.03 },
                Algo::NaiveBayes { alpha: 0.1 },
                Algo::NaiveBayes { alpha: 0.3 },
            ],
            cue_weights: vec![0.0, 0.25, 0.5, 1.0, 2.0],
        }
    }
}

impl Config {
    fn describe(&self) -> String {
        let algos: Vec<String> = self.algos.iter().map(ToString::to_string).collect();
        format!(
            "seed={}\nfolds={}\nepochs={}\neta0={}\nprune={}\nsentiment_bits={}\nlangid_bits={}\nalgos={}\ncue_weights={:?}\n",
            self.seed,
            self.folds,
            self.epochs,
            self.eta0,
            self.prune,
            SENTIMENT_BITS,
            LANGID_BITS,
            algos.join(","),
            self.cue_weights
        )
    }
}

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            // Modulo bias is irrelevant here.
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// A training/evaluation sample: feature buckets, label.
pub type Sample<'a> = (&'a [u32], bool);

/// Train one linear classifier.
pub fn train_linear(
    language: Language,
    samples: &[Sample<'_>],
    algo: Algo,
    cue_weight: f32,
    cfg: &Config,
) -> LinearModel {
    let size = 1usize << SENTIMENT_BITS;
    let n = samples.len().max(1) as f32;
    let npos = samples.iter().filter(|s| s.1).count().max(1) as f32;
    let nneg = samples.iter().filter(|s| !s.1).count().max(1) as f32;
    let (weights, default, bias, normalize) = match algo {
        Algo::LogReg { lambda } => {
            let mut v = vec![0.0f32; size];
            let mut scale = 1.0f32;
            let mut bias = 0.0f32;
            let mut order: Vec<usize> = (0..samples.len()).collect();
            let mut rng = Rng(cfg.seed ^ u64::from(language.index()));
            let mut t = 0f32;
            for _ in 0..cfg.epochs {
                rng.shuffle(&mut order);
                for &i in &order {
                    let (feats, y) = samples[i];
                    let eta = cfg.eta0 / (1.0 + lambda * cfg.eta0 * t);
                    t += 1.0;
                    scale *= 1.0 - eta * lambda;
                    if scale < 1e-6 {
                        v.iter_mut().for_each(|w| *w *= scale);
                        scale = 1.0;
                    }
                    if feats.is_empty() {
                        continue;
                    }
                    let x = 1.0 / (feats.len() as f32).sqrt();
                    let dot: f32 = feats.iter().map(|&j| v[j as usize]).sum();
                    let z = bias + scale * x * dot;
                    let p = 1.0 / (1.0 + (-z).exp());
                    let (target, cw) = if y {
                        (1.0, n / (2.0 * npos))
                    } else {
                        (0.0, n / (2.0 * nneg))
                    };
                    let g = (p - target) * cw;
                    let step = eta * g * x / scale;
                    for &j in feats {
                        v[j as usize] -= step;
                    }
                    bias -= eta * g * 0.1;
                }
            }
            v.iter_mut().for_each(|w| *w *= scale);
            (v, 0.0, bias, true)
        }
        Algo::NaiveBayes { alpha } => {
            let mut cp = vec![0u32; size];
            let mut cn = vec![0u32; size];
            let (mut tp, mut tn) = (0f64, 0f64);
            for (feats, y) in samples {
                let (c, t) = if *y {
                    (&mut cp, &mut tp)
                } else {
                    (&mut cn, &mut tn)
                };
                for &j in *feats {
                    c[j as usize] += 1;
                }
                *t += feats.len() as f64;
            }
            let a = f64::from(alpha);
            let lp = (tp + a * size as f64).ln();
            let ln_ = (tn + a * size as f64).ln();
            let w: Vec<f32> = cp
                .iter()
                .zip(&cn)
                .map(|(&p, &q)| {
                    ((f64::from(p) + a).ln() - lp - (f64::from(q) + a).ln() + ln_) as f32
                })
                .collect();
            let default = (ln_ - lp) as f32;
            (w, default, 0.0, false)
        }
    };
    let max = weights
        .iter()
        .map(|w| (w - default).abs())
        .fold(0.0f32, f32::max);
    LinearModel {
        language,
        bits: SENTIMENT_BITS,
        normalize,
        bias,
        cue_weight,
        temperature: 1.0,
        weights: Table::quantised(&weights, default, cfg.prune * max),
    }
}

/// Binary confusion counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub tp: usize,
    pub tn: usize,
    pub fp: usize,
    pub fn_: usize,
}

impl Counts {
    pub fn add(&mut self, predicted_pos: bool, pos: bool) {
        match (predicted_pos, pos) {
            (true, true) => self.tp += 1,
            (false, false) => self.tn += 1,
            (true, false) => self.fp += 1,
            (false, true) => self.fn_ += 1,
        }
    }
    pub fn total(&self) -> usize {
        self.tp + self.tn + self.fp + self.fn_
    }
    pub fn accuracy(&self) -> f64 {
        (self.tp + self.tn) as f64 / self.total().max(1) as f64
    }
    pub fn macro_f1(&self) -> f64 {
        let f1 = |tp: usize, fp: usize, fn_: usize| {
            let d = 2 * tp + fp + fn_;
            if d == 0 {
                0.0
            } else {
                2.0 * tp as f64 / d as f64
            }
        };
        (f1(self.tp, self.fp, self.fn_) + f1(self.tn, self.fn_, self.fp)) / 2.0
    }
}

/// Majority-class accuracy of a file (the baseline).
pub fn majority_baseline(file: &DataFile) -> f64 {
    let p = file.positives();
    p.max(file.rows.len() - p) as f64 / file.rows.len().max(1) as f64
}

/// Features and cue scores of a file, computed once.
struct Prepared {
    feats: Vec<Vec<u32>>,
    cues: Vec<f32>,
    labels: Vec<bool>,
    folds: Vec<usize>,
}

fn prepare(file: &DataFile, cfg: &Config) -> Prepared {
    let feats = file
        .rows
        .iter()
        .map(|(t, _)| sentiment_features(file.language, t, SENTIMENT_BITS))
        .collect();
    let cues = file
        .rows
        .iter()
        .map(|(t, _)| cue_score(file.language, t))
        .collect();
    let labels: Vec<bool> = file.rows.iter().map(|r| r.1).collect();
    // Stratified folds: shuffle each class, deal round-robin.
    let mut rng = Rng(cfg.seed ^ super::features::hash64(file.name.as_bytes()));
    let mut folds = vec![0; labels.len()];
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        rng.shuffle(&mut idx);
        for (rank, i) in idx.into_iter().enumerate() {
            folds[i] = rank % cfg.folds;
        }
    }
    Prepared {
        feats,
        cues,
        labels,
        folds,
    }
}

fn predict(m: &LinearModel, feats: &[u32], cue: f32) -> bool {
    m.temperature * m.margin(feats) + m.cue_weight * cue >= 0.0
}

/// One row of the candidate grid.
#[derive(Debug, Clone)]
pub struct GridRow {
    pub file: String,
    pub algo: Algo,
    pub cue_weight: f32,
    pub counts: Counts,
}

/// Cross-validated counts of every candidate on one file (training on that file's other
/// folds only).
/// Also returns, per algorithm, every row's out-of-fold classifier margin (without cues).
fn cross_validate(
    file: &DataFile,
    prep: &Prepared,
    cfg: &Config,
) -> (Vec<GridRow>, Vec<(Algo, Vec<f32>)>) {
    let mut rows = Vec::new();
    let mut oof = Vec::new();
    for &algo in &cfg.algos {
        let mut margins = vec![0.0f32; prep.labels.len()];
        for fold in 0..cfg.folds {
            let train: Vec<Sample<'_>> = (0..prep.labels.len())
                .filter(|&i| prep.folds[i] != fold)
                .map(|i| (prep.feats[i].as_slice(), prep.labels[i]))
                .collect();
            let m = train_linear(file.language, &train, algo, 0.0, cfg);
            for i in (0..prep.labels.len()).filter(|&i| prep.folds[i] == fold) {
                margins[i] = m.margin(&prep.feats[i]);
            }
        }
        // Cues are added to the calibrated margin, so a cue weight is in log-odds units
        // whatever the classifier.
        let pairs: Vec<(f32, bool)> = margins
            .iter()
            .copied()
            .zip(prep.labels.iter().copied())
            .collect();
        let t = fit_temperature(&pairs);
        let mut counts = vec![Counts::default(); cfg.cue_weights.len()];
        for ((&z, &cue), &label) in margins.iter().zip(&prep.cues).zip(&prep.labels) {
            for (c, &cw) in counts.iter_mut().zip(&cfg.cue_weights) {
                c.add(t * z + cw * cue >= 0.0, label);
            }
        }
        for (counts, &cue_weight) in counts.into_iter().zip(&cfg.cue_weights) {
            rows.push(GridRow {
                file: file.name.clone(),
                algo,
                cue_weight,
                counts,
            });
        }
        oof.push((algo, margins));
    }
    (rows, oof)
}

/// Temperature `a` ≥ 0 maximising Σ log σ(±a·z) over out-of-fold margins (golden-section
/// search on log a), so that `tanh(a·z/2)` is a calibrated 2·P(pos) − 1. Sign-preserving.
pub fn fit_temperature(margins: &[(f32, bool)]) -> f32 {
    let nll = |log_a: f64| -> f64 {
        let a = log_a.exp();
        margins
            .iter()
            .map(|&(z, y)| {
                let t = a * f64::from(z) * if y { 1.0 } else { -1.0 };
                // log(1 + e^-t), stable
                if t > 0.0 {
                    (-t).exp().ln_1p()
                } else {
                    -t + t.exp().ln_1p()
                }
            })
            .sum()
    };
    let (mut lo, mut hi) = (-10.0f64, 3.0f64);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..80 {
        let (x1, x2) = (hi - g * (hi - lo), lo + g * (hi - lo));
        if nll(x1) < nll(x2) {
            hi = x2;
        } else {
            lo = x1;
        }
    }
    ((lo + hi) / 2.0).exp() as f32
}

/// Whether a file trains (and selects) the shipped classifier of its language.
pub fn trains_shipped(file: &DataFile) -> bool {
    file.language != Language::Zh || file.review
}

/// Language-id held-out accuracy per language: (language, correct, total).
pub type LangIdScore = (Language, usize, usize);

/// Everything the training command reports.
#[derive(Debug)]
pub struct Outcome {
    pub model: Model,
    pub grid: Vec<GridRow>,
    /// Per file: the chosen candidate's cross-validated counts.
    pub chosen: Vec<(String, Algo, f32, Counts)>,
    /// Files not used for a language's shipped model, scored by it (out of domain).
    pub out_of_domain: Vec<(String, Counts)>,
    pub langid: Vec<LangIdScore>,
}

/// Run the cross-validation grid, select per language, train the final model on all data,
/// and measure out-of-domain files and language id.
pub fn run(files: &[DataFile], cfg: &Config, log: &mut dyn FnMut(&str)) -> Outcome {
    let mut grid = Vec::new();
    let mut oof = Vec::new();
    let mut prepared = Vec::new();
    for file in files {
        log(&format!(
            "cross-validating {} ({} rows)",
            file.name,
            file.rows.len()
        ));
        let prep = prepare(file, cfg);
        let (rows, margins) = cross_validate(file, &prep, cfg);
        grid.extend(rows);
        oof.push(margins);
        prepared.push(prep);
    }
    let mut chosen = Vec::new();
    let mut sentiment = Vec::new();
    let mut out_of_domain = Vec::new();
    for lang in Language::ALL {
        let names: Vec<&str> = files
            .iter()
            .filter(|f| f.language == lang && trains_shipped(f))
            .map(|f| f.name.as_str())
            .collect();
        if names.is_empty() {
            continue;
        }
        let mean_f1 = |algo: Algo, cw: f32| {
            let v: Vec<f64> = grid
                .iter()
                .filter(|r| r.algo == algo && r.cue_weight == cw && names.contains(&&*r.file))
                .map(|r| r.counts.macro_f1())
                .collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        };
        let mut best = (cfg.algos[0], f64::MIN);
        for &algo in &cfg.algos {
            let f = mean_f1(algo, 0.0);
            if f > best.1 {
                best = (algo, f);
            }
        }
        let algo = best.0;
        let top = cfg
            .cue_weights
            .iter()
            .map(|&cw| mean_f1(algo, cw))
            .fold(f64::MIN, f64::max);
        let cue_weight = cfg
            .cue_weights
            .iter()
            .copied()
            .filter(|&cw| mean_f1(algo, cw) >= top - 0.005)
            .fold(0.0f32, f32::max);
        for r in &grid {
            if r.algo == algo && r.cue_weight == cue_weight && names.contains(&&*r.file) {
                chosen.push((r.file.clone(), algo, cue_weight, r.counts));
            }
        }
        let train: Vec<Sample<'_>> = files
            .iter()
            .zip(&prepared)
            .filter(|(f, _)| f.language == lang && trains_shipped(f))
            .flat_map(|(_, p)| {
                p.feats
                    .iter()
                    .map(Vec::as_slice)
                    .zip(p.labels.iter().copied())
            })
            .collect();
        log(&format!(
            "training {} on {} rows: {algo}, cue weight {cue_weight}",
            lang.code(),
            train.len()
        ));
        let mut m = train_linear(lang, &train, algo, cue_weight, cfg);
        let calib: Vec<(f32, bool)> = files
            .iter()
            .zip(&prepared)
            .zip(&oof)
            .filter(|((f, _), _)| f.language == lang && trains_shipped(f))
            .flat_map(|((_, p), o)| {
                let margins = o
                    .iter()
                    .find(|(a, _)| *a == algo)
                    .map(|(_, v)| v.as_slice());
                (0..p.labels.len()).map(move |i| {
                    let z = margins.and_then(|v| v.get(i)).copied().unwrap_or(0.0);
                    (z, p.labels[i])
                })
            })
            .collect();
        m.temperature = fit_temperature(&calib);
        for (f, p) in files.iter().zip(&prepared) {
            if f.language == lang && !trains_shipped(f) {
                let mut c = Counts::default();
                for i in 0..p.labels.len() {
                    c.add(predict(&m, &p.feats[i], p.cues[i]), p.labels[i]);
                }
                out_of_domain.push((f.name.clone(), c));
            }
        }
        sentiment.push(m);
    }

    // Language id: held out every fifth row (by hash) of each file; final model on all rows.
    let held_out = |f: &DataFile, i: usize| {
        super::features::hash64(format!("{}#{i}", f.name).as_bytes()).is_multiple_of(5)
    };
    let langid_sources: Vec<&DataFile> = files.iter().filter(|f| trains_shipped(f)).collect();
    let train_rows: Vec<(Language, &str)> = langid_sources
        .iter()
        .flat_map(|f| {
            f.rows
                .iter()
                .enumerate()
                .filter(|(i, _)| !held_out(f, *i))
                .map(|(_, r)| (f.language, r.0.as_str()))
        })
        .collect();
    let lid = language_id::train(&train_rows, LANGID_BITS);
    let mut langid = Vec::new();
    for lang in Language::ALL {
        let (mut ok, mut total) = (0, 0);
        for f in files.iter().filter(|f| f.language == lang) {
            for (i, r) in f.rows.iter().enumerate() {
                if held_out(f, i) {
                    total += 1;
                    if language_id::detect(&lid, &r.0).language == lang {
                        ok += 1;
                    }
                }
            }
        }
        langid.push((lang, ok, total));
    }
    let all_rows: Vec<(Language, &str)> = langid_sources
        .iter()
        .flat_map(|f| f.rows.iter().map(|r| (f.language, r.0.as_str())))
        .collect();
    let langid_model = language_id::train(&all_rows, LANGID_BITS);

    let model = Model {
        config: cfg.describe(),
        files: files
            .iter()
            .map(|f| DataFileDigest {
                name: f.name.clone(),
                rows: u32::try_from(f.rows.len()).unwrap_or(u32::MAX),
                sha256: f.sha256,
            })
            .collect(),
        langid: langid_model,
        sentiment,
    };
    Outcome {
        model,
        grid,
        chosen,
        out_of_domain,
        langid,
    }
}

/// Markdown report of an outcome.
pub fn report(files: &[DataFile], out: &Outcome, model_bytes: Option<usize>) -> String {
    let mut s = String::new();
    let file = |name: &str| files.iter().find(|f| f.name == name);
    let _ = writeln!(
        s,
        "Stratified {}-fold cross-validation per file (each fold's classifier trained only on \
         the other folds of the same file); accuracy by the sign of the score.\n",
        5
    );
    let _ = writeln!(
        s,
        "| file | kind | rows (neg/pos) | classifier (cue weight) | accuracy | macro-F1 | majority baseline |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for (name, algo, cw, c) in &out.chosen {
        if let Some(f) = file(name) {
            let p = f.positives();
            let _ = writeln!(
                s,
                "| `{name}` | {} | {} ({}/{}) | {algo} ({cw}) | {:.1}% | {:.3} | {:.1}% |",
                f.kind(),
                f.rows.len(),
                f.rows.len() - p,
                p,
                100.0 * c.accuracy(),
                c.macro_f1(),
                100.0 * majority_baseline(f)
            );
        }
    }
    if !out.out_of_domain.is_empty() {
        let _ = writeln!(
            s,
            "\nOut of domain (file not used in training; scored by the shipped classifier of its language, trained on all of that language's review rows):\n"
        );
        let _ = writeln!(
            s,
            "| file | rows (neg/pos) | accuracy | macro-F1 | majority baseline |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|");
        for (name, c) in &out.out_of_domain {
            if let Some(f) = file(name) {
                let p = f.positives();
                let _ = writeln!(
                    s,
                    "| `{name}` | {} ({}/{}) | {:.1}% | {:.3} | {:.1}% |",
                    f.rows.len(),
                    f.rows.len() - p,
                    p,
                    100.0 * c.accuracy(),
                    c.macro_f1(),
                    100.0 * majority_baseline(f)
                );
            }
        }
    }
    let _ = writeln!(
        s,
        "\nLanguage identification, held-out rows (every 5th row by hash, model trained on the rest; \
         zh by script, `zh_xed` is traditional-script subtitles, some lines are untranslated English):\n"
    );
    let _ = writeln!(s, "| language | held-out rows | accuracy |");
    let _ = writeln!(s, "|---|---|---|");
    for (lang, ok, total) in &out.langid {
        if *total > 0 {
            let _ = writeln!(
                s,
                "| {} | {total} | {:.1}% |",
                lang.code(),
                100.0 * *ok as f64 / *total as f64
            );
        }
    }
    let _ = writeln!(s, "\nShipped model:\n");
    for m in &out.model.sentiment {
        let _ = writeln!(
            s,
            "- {}: {} weights stored, {}, cue weight {}, temperature {:.4}",
            m.language.code(),
            m.weights.stored(),
            if m.normalize {
                "logistic regression"
            } else {
                "naive Bayes"
            },
            m.cue_weight,
            m.temperature
        );
    }
    if let Some(b) = model_bytes {
        let _ = writeln!(s, "- model file: {b} bytes");
    }
    let _ = writeln!(
        s,
        "\nAll candidates (cross-validated macro-F1 / accuracy):\n"
    );
    let cws: Vec<f32> = {
        let mut v: Vec<f32> = Vec::new();
        for g in &out.grid {
            if !v.contains(&g.cue_weight) {
                v.push(g.cue_weight);
            }
        }
        v
    };
    let head: Vec<String> = cws.iter().map(|c| format!("cue {c}")).collect();
    let _ = writeln!(s, "| file | classifier | {} |", head.join(" | "));
    let _ = writeln!(s, "|---|---|{}", "---|".repeat(cws.len()));
    let mut i = 0;
    while i < out.grid.len() {
        let r = &out.grid[i];
        let cells: Vec<String> = out.grid[i..]
            .iter()
            .take_while(|g| g.file == r.file && g.algo == r.algo)
            .map(|g| {
                format!(
                    "{:.3} / {:.1}%",
                    g.counts.macro_f1(),
                    100.0 * g.counts.accuracy()
                )
            })
            .collect();
        let _ = writeln!(s, "| `{}` | {} | {} |", r.file, r.algo, cells.join(" | "));
        i += cells.len().max(1);
    }
    s
}

/// Hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
