//! Language identification for the six supported languages.
//!
//! Unicode script first: a text with Han characters making up at least a quarter of its
//! letters is Chinese. Otherwise a character-trigram naive Bayes model over en/de/es/fr/pt
//! (trained from the labelled sentiment files' text, see `training`) picks the language.

use super::Language;
use super::features::langid_trigrams;
use super::model::LangIdModel;

/// Hash buckets for language-id trigrams: 2^16.
pub const LANGID_BITS: u8 = 16;

/// A detected language.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Detection {
    pub language: Language,
    /// Posterior probability of the chosen language in [0, 1] (0 when there was nothing
    /// to go on).
    pub confidence: f32,
}

/// Whether a character is a CJK (Han) ideograph.
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Detect the language of `text` (English when there are no letters at all).
pub fn detect(model: &LangIdModel, text: &str) -> Detection {
    let (mut han, mut letters) = (0usize, 0usize);
    for c in text.chars() {
        if is_han(c) {
            han += 1;
        } else if c.is_alphabetic() {
            letters += 1;
        }
    }
    if han > 0 && han * 4 >= letters {
        return Detection {
            language: Language::Zh,
            confidence: 1.0,
        };
    }
    let grams = langid_trigrams(text, model.bits);
    if grams.is_empty() || model.tables.is_empty() {
        return Detection {
            language: Language::En,
            confidence: 0.0,
        };
    }
    let scores: Vec<(Language, f32)> = model
        .tables
        .iter()
        .map(|(lang, t)| {
            let s: f32 = grams
                .iter()
                .map(|&g| t.values.get(g as usize).copied().unwrap_or(t.default))
                .sum();
            (*lang, s)
        })
        .collect();
    let (best, top) = scores
        .iter()
        .copied()
        .fold((Language::En, f32::NEG_INFINITY), |a, b| {
            if b.1 > a.1 { b } else { a }
        });
    let z: f32 = scores.iter().map(|(_, s)| (s - top).exp()).sum();
    Detection {
        language: best,
        confidence: 1.0 / z,
    }
}

/// Train the trigram tables: per language, add-one smoothed log-probabilities over the
/// hashed trigram buckets.
pub fn train(samples: &[(Language, &str)], bits: u8) -> LangIdModel {
    use super::model::Table;
    let size = 1usize << bits;
    let mut tables = Vec::new();
    for lang in Language::ALL {
        if lang == Language::Zh {
            continue;
        }
        let mut counts = vec![0u32; size];
        let mut total = 0u64;
        for (l, text) in samples {
            if *l == lang {
                for g in langid_trigrams(text, bits) {
                    counts[g as usize] += 1;
                    total += 1;
                }
            }
        }
        if total == 0 {
            continue;
        }
        let denom = (total as f64 + size as f64).ln();
        let values: Vec<f32> = counts
            .iter()
            .map(|&c| ((f64::from(c) + 1.0).ln() - denom) as f32)
            .collect();
        let default = (-denom) as f32;
        tables.push((lang, Table::quantised(&values, default, 0.0)));
    }
    LangIdModel { bits, tables }
}
