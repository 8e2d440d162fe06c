//! AnalyzeSentiment: validation and proto mapping around [`crate::sentiment::document`]
//! (embedded model, nothing downloaded or read at run time).

use caravan_core::names::parse_merchant_name;
use caravan_platform::FieldViolations;
use caravan_proto::caravan::profiling::v1 as pb;
use tonic::{Response, Status};

use super::{ProfilingApi, RpcResult};
use crate::error::ProfilingError;
use crate::sentiment::document::{DocumentPolarity, analyze_document};
use crate::sentiment::{Language, embedded_model};

/// Longest text accepted, in characters (Unicode scalar values).
pub const MAX_TEXT_CHARS: usize = 20_000;

/// A well-formed BCP-47 tag in the common shape: a 2-3 letter (or 5-8 letter) primary
/// language subtag, then subtags of 1-8 letters or digits separated by `-`.
pub fn is_bcp47(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary_ok = parts.next().is_some_and(|p| {
        matches!(p.len(), 2 | 3 | 5..=8) && p.chars().all(|c| c.is_ascii_alphabetic())
    });
    primary_ok
        && tag.len() <= 35
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Validates the request; the language when one was given.
fn request(r: &pb::AnalyzeSentimentRequest) -> Result<Option<Language>, ProfilingError> {
    let mut v = FieldViolations::new();
    if let Err(e) = parse_merchant_name(&r.parent) {
        v.add("parent", e.to_string());
    }
    if r.text.trim().is_empty() {
        v.add("text", "is required");
    } else if r.text.chars().count() > MAX_TEXT_CHARS {
        v.add(
            "text",
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        );
    }
    let mut language = None;
    if !r.language_code.is_empty() {
        if !is_bcp47(&r.language_code) {
            v.add(
                "language_code",
                format!("{:?} is not a BCP-47 language tag", r.language_code),
            );
        } else {
            language = Language::parse(&r.language_code);
            if language.is_none() {
                let supported: Vec<&str> = Language::ALL.iter().map(|l| l.code()).collect();
                v.add(
                    "language_code",
                    format!(
                        "{:?} is not supported (supported: {}); leave it empty to detect",
                        r.language_code,
                        supported.join(", ")
                    ),
                );
            }
        }
    }
    v.into_result()?;
    Ok(language)
}

#[tracing::instrument(skip_all, fields(parent = %r.parent, chars = r.text.len()))]
pub async fn analyze(
    _api: &ProfilingApi,
    r: pb::AnalyzeSentimentRequest,
) -> RpcResult<pb::AnalyzeSentimentResponse> {
    let language = request(&r)?;
    let model =
        embedded_model().map_err(|e| Status::internal(format!("embedded sentiment model: {e}")))?;
    // Up to 20,000 characters of feature hashing: CPU work, kept off the async workers.
    let text = r.text;
    let result = tokio::task::spawn_blocking(move || analyze_document(model, &text, language))
        .await
        .map_err(|e| Status::internal(format!("sentiment analysis: {e}")))?;
    let polarity = match result.polarity {
        DocumentPolarity::Positive => pb::SentimentPolarity::Positive,
        DocumentPolarity::Negative => pb::SentimentPolarity::Negative,
        DocumentPolarity::Neutral => pb::SentimentPolarity::Neutral,
        DocumentPolarity::Mixed => pb::SentimentPolarity::Mixed,
    };
    let language_code = if result.language_detected {
        result.language.code().to_owned()
    } else {
        r.language_code
    };
    Ok(Response::new(pb::AnalyzeSentimentResponse {
        language_code,
        polarity: polarity as i32,
        score: f64::from(result.score),
        magnitude: f64::from(result.magnitude),
        method: pb::SentimentMethod::Model as i32,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(r: &pb::AnalyzeSentimentRequest) -> Vec<String> {
        match request(r) {
            Err(ProfilingError::Invalid(v)) => v.iter().map(|x| x.field.clone()).collect(),
            other => panic!("expected violations, got {other:?}"),
        }
    }

    #[test]
    fn bcp47_tags() {
        for ok in ["en", "pt-BR", "zh-Hans", "zh-Hans-CN", "es-419", "deu"] {
            assert!(is_bcp47(ok), "{ok}");
        }
        for bad in [
            "",
            "e",
            "en_US",
            "englishes-us",
            "en--US",
            "1e",
            "en-toolongsubtag",
        ] {
            assert!(!is_bcp47(bad), "{bad}");
        }
    }

    #[test]
    fn violations() {
        let r = pb::AnalyzeSentimentRequest {
            parent: "acme".to_owned(),
            text: "  ".to_owned(),
            language_code: "en_US".to_owned(),
        };
        assert_eq!(fields(&r), ["parent", "text", "language_code"]);
        let long = pb::AnalyzeSentimentRequest {
            parent: "merchants/acme".to_owned(),
            text: "好".repeat(MAX_TEXT_CHARS + 1),
            language_code: "ja".to_owned(),
        };
        assert_eq!(fields(&long), ["text", "language_code"]);
        // Exactly the limit in characters (60,000 bytes) is fine.
        let at_limit = pb::AnalyzeSentimentRequest {
            parent: "merchants/acme".to_owned(),
            text: "好".repeat(MAX_TEXT_CHARS),
            language_code: "zh-Hans".to_owned(),
        };
        assert_eq!(request(&at_limit).ok(), Some(Some(Language::Zh)));
    }
}
