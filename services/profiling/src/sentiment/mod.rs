//! Review sentiment for English, Chinese, Spanish, German, French and Portuguese.
//!
//! Method (measured in BENCHMARKS.md, "Review sentiment"): per language a linear classifier
//! over hashed features (character n-grams, word unigrams with negation marking and word
//! bigrams; see [`features`]) trained by [`training`] from the labelled files in
//! `data/reviews`, plus a small hand-written e-commerce cue list ([`cues`]). The
//! language, when not given, is detected from the Unicode script (Han → zh) and a
//! character-trigram naive Bayes model ([`language_id`]).
//!
//! The trained model is `models/sentiment-v1.bin`, embedded with `include_bytes!`: nothing
//! is read or downloaded at run time. Regenerate it with
//! `cargo run --release -p caravan-profiling --bin caravan-train-sentiment -- --data
//! data/reviews --out services/profiling/models/sentiment-v1.bin`.

pub mod cues;
pub mod document;
pub mod external_eval;
pub mod features;
pub mod language_id;
pub mod model;
pub mod training;

use std::sync::OnceLock;

pub use model::{Model, ModelError};

/// The embedded model file.
pub static MODEL_BYTES: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/sentiment-v1.bin"
));

/// A supported language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    En,
    Zh,
    Es,
    De,
    Fr,
    Pt,
}

impl Language {
    /// All supported languages.
    pub const ALL: [Language; 6] = [
        Language::En,
        Language::Zh,
        Language::Es,
        Language::De,
        Language::Fr,
        Language::Pt,
    ];

    /// ISO 639-1 code.
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Zh => "zh",
            Language::Es => "es",
            Language::De => "de",
            Language::Fr => "fr",
            Language::Pt => "pt",
        }
    }

    /// Parse a language tag: `en`, `EN`, `pt-BR`, `zh_Hant`, `zh-CN` ... (primary subtag).
    pub fn parse(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or_default();
        Language::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(primary))
    }

    /// Index used in the model file.
    pub fn index(self) -> u8 {
        match self {
            Language::En => 0,
            Language::Zh => 1,
            Language::Es => 2,
            Language::De => 3,
            Language::Fr => 4,
            Language::Pt => 5,
        }
    }

    /// Inverse of [`Language::index`].
    pub fn from_index(i: u8) -> Option<Language> {
        Language::ALL.into_iter().find(|l| l.index() == i)
    }
}

/// Polarity of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polarity {
    Positive,
    Negative,
    /// |score| below [`NEUTRAL_BAND`], or nothing recognisable in the text.
    Neutral,
}

/// Scores with |score| below this are reported as neutral. The labelled data are binary,
/// so the benchmark scores by the sign of `score` alone.
pub const NEUTRAL_BAND: f32 = 0.1;

/// The result of [`analyze`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sentiment {
    pub language: Language,
    /// True when the language was detected rather than given (or the given one was not
    /// supported).
    pub language_detected: bool,
    pub polarity: Polarity,
    /// 2·P(positive) − 1, in [-1, 1] (calibrated on cross-validated margins of the
    /// labelled data, so on subtitles-trained languages it is calibrated for subtitles).
    pub score: f32,
    /// Confidence in the polarity in [0, 1]: |score|, times the language-id confidence
    /// when the language was detected.
    pub confidence: f32,
}

/// The embedded model, parsed once.
pub fn embedded_model() -> Result<&'static Model, &'static ModelError> {
    static MODEL: OnceLock<Result<Model, ModelError>> = OnceLock::new();
    MODEL
        .get_or_init(|| Model::from_bytes(MODEL_BYTES))
        .as_ref()
}

/// The classifier's margin (log-odds of positive) for `text` in `language` under `model`,
/// including the cue score; `None` when the model has no classifier for the language.
pub fn margin(model: &Model, language: Language, text: &str) -> Option<f32> {
    let clf = model.classifier(language)?;
    let feats = features::sentiment_features(language, text, clf.bits);
    let cue = if clf.cue_weight != 0.0 {
        cues::cue_score(language, text)
    } else {
        0.0
    };
    if feats.is_empty() && cue == 0.0 {
        return Some(0.0);
    }
    Some(clf.temperature * clf.margin(&feats) + clf.cue_weight * cue)
}

/// Sentiment of one review with the embedded model. `language` is a tag such as `"de"` or
/// `"pt-BR"`; when `None` or unsupported the language is detected.
///
/// # Panics
/// If the embedded model file is corrupt (a build error caught by the unit tests).
pub fn analyze(text: &str, language: Option<&str>) -> Sentiment {
    let model = embedded_model().expect("embedded sentiment model models/sentiment-v1.bin");
    analyze_with(model, text, language)
}

/// [`analyze`] with an explicit model.
pub fn analyze_with(model: &Model, text: &str, language: Option<&str>) -> Sentiment {
    let (lang, detected, lang_conf) = match language.and_then(Language::parse) {
        Some(l) => (l, false, 1.0),
        None => {
            let d = language_id::detect(&model.langid, text);
            (d.language, true, d.confidence)
        }
    };
    let z = margin(model, lang, text).unwrap_or(0.0);
    let score = (z / 2.0).tanh();
    let polarity = if score.abs() < NEUTRAL_BAND {
        Polarity::Neutral
    } else if score > 0.0 {
        Polarity::Positive
    } else {
        Polarity::Negative
    };
    Sentiment {
        language: lang,
        language_detected: detected,
        polarity,
        score,
        confidence: score.abs() * lang_conf,
    }
}

#[cfg(test)]
mod tests;
