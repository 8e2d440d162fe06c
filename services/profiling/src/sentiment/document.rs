//! Sentiment of a whole document (review, ticket, comment) as AnalyzeSentiment reports it:
//! the overall score from the classifier on the full text, a magnitude that adds up the
//! strength of each sentence (so it grows with length, like the score of a long rant does
//! not), and MIXED when strongly positive and strongly negative sentences cancel out.

use super::{Language, Model, Polarity, analyze_with, language_id};

/// A sentence counts as strongly polar from this |score| on, and a document whose overall
/// |score| stays below it while holding strong sentences of both signs is mixed.
pub const STRONG: f32 = 0.5;

/// Polarity of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentPolarity {
    Positive,
    Negative,
    Neutral,
    /// Strong positive and strong negative sentences, no clear overall sign.
    Mixed,
}

/// The result of [`analyze_document`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DocumentSentiment {
    pub language: Language,
    pub language_detected: bool,
    pub polarity: DocumentPolarity,
    /// Overall score in [-1, 1].
    pub score: f32,
    /// Σ |sentence score|, ≥ 0.
    pub magnitude: f32,
}

/// Splits at sentence ends (Latin and CJK punctuation, semicolons, line breaks); keeps
/// pieces with at least one letter or digit.
pub fn sentences(text: &str) -> Vec<&str> {
    text.split(['.', '!', '?', ';', '\n', '。', '！', '？', '；', '…'])
        .map(str::trim)
        .filter(|s| s.chars().any(char::is_alphanumeric))
        .collect()
}

/// Analyses `text` in `language`, or in the detected language when `None`.
pub fn analyze_document(
    model: &Model,
    text: &str,
    language: Option<Language>,
) -> DocumentSentiment {
    let (language, detected) = match language {
        Some(l) => (l, false),
        None => (language_id::detect(&model.langid, text).language, true),
    };
    let code = Some(language.code());
    let overall = analyze_with(model, text, code);
    let scores: Vec<f32> = sentences(text)
        .into_iter()
        .map(|s| analyze_with(model, s, code).score)
        .collect();
    let magnitude = scores.iter().map(|s| s.abs()).sum::<f32>();
    let strong_positive = scores.iter().any(|s| *s >= STRONG);
    let strong_negative = scores.iter().any(|s| *s <= -STRONG);
    let polarity = if strong_positive && strong_negative && overall.score.abs() < STRONG {
        DocumentPolarity::Mixed
    } else {
        match overall.polarity {
            Polarity::Positive => DocumentPolarity::Positive,
            Polarity::Negative => DocumentPolarity::Negative,
            Polarity::Neutral => DocumentPolarity::Neutral,
        }
    };
    DocumentSentiment {
        language,
        language_detected: detected,
        polarity,
        score: overall.score,
        magnitude,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sentiment::embedded_model;

    fn model() -> &'static Model {
        embedded_model().unwrap_or_else(|e| panic!("embedded model: {e}"))
    }

    #[test]
    fn splits_latin_and_cjk_sentences() {
        assert_eq!(
            sentences("Great mug! Arrived broken. ...\n  ok?"),
            ["Great mug", "Arrived broken", "ok"]
        );
        assert_eq!(sentences("质量很好。发货太慢！"), ["质量很好", "发货太慢"]);
        assert!(sentences(" ... !! ").is_empty());
    }

    #[test]
    fn magnitude_grows_with_length_and_the_score_stays_in_range() {
        let one = analyze_document(model(), "Great quality, fast delivery.", Some(Language::En));
        let three = analyze_document(
            model(),
            "Great quality, fast delivery. I love it. Excellent seller, would buy again.",
            Some(Language::En),
        );
        assert_eq!(one.polarity, DocumentPolarity::Positive);
        assert!(three.magnitude > one.magnitude, "{one:?} {three:?}");
        assert!((-1.0..=1.0).contains(&three.score));
        assert!(!one.language_detected);
    }

    #[test]
    fn detects_the_language_when_not_given() {
        let d = analyze_document(model(), "到货就坏了，拒绝退款，非常失望。", None);
        assert_eq!(d.language, Language::Zh);
        assert!(d.language_detected);
        assert_eq!(d.polarity, DocumentPolarity::Negative);
    }
}
