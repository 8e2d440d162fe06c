//! Evaluation feedback (B2C): ratings, review sentiment, returns and after-sales.

use std::collections::HashMap;

use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::ingestion::v1::{ReturnReason, TicketTopic};
use caravan_proto::caravan::profiling::v1 as pb;

use super::{CustomerData, saturation, share, top_counts};
use crate::sentiment;

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        #[allow(clippy::cast_precision_loss)]
        let n = v.len() as f64;
        v.iter().sum::<f64>() / n
    }
}

/// Complaint term of a return reason, e.g. "damaged".
fn reason_term(reason: i32) -> Option<String> {
    let r = ReturnReason::try_from(reason)
        .ok()
        .filter(|r| *r != ReturnReason::Unspecified)?;
    Some(
        r.as_str_name()
            .trim_start_matches("RETURN_REASON_")
            .to_lowercase(),
    )
}

fn topic_term(topic: i32) -> Option<String> {
    let t = TicketTopic::try_from(topic)
        .ok()
        .filter(|t| *t != TicketTopic::Unspecified)?;
    Some(
        t.as_str_name()
            .trim_start_matches("TICKET_TOPIC_")
            .to_lowercase(),
    )
}

fn text_sentiment(text: &str, language: Option<&str>) -> Option<f64> {
    let text = text.trim();
    (!text.is_empty()).then(|| f64::from(sentiment::analyze(text, language).score))
}

pub fn build(data: &CustomerData) -> pb::EvaluationFeedbackDimension {
    let mut ratings = Vec::new();
    let mut sentiments = Vec::new();
    let mut satisfaction = Vec::new();
    let mut resolution = Vec::new();
    let mut complaints: HashMap<String, i64> = HashMap::new();
    let mut tickets = 0usize;
    let mut returned_units = 0i64;
    for e in &data.events {
        match &e.payload {
            Payload::Review(r) => {
                if (1..=5).contains(&r.rating) {
                    ratings.push(f64::from(r.rating));
                }
                let text = format!("{} {}", r.title, r.text);
                let lang = (!r.language_code.is_empty()).then_some(r.language_code.as_str());
                sentiments.extend(text_sentiment(&text, lang));
            }
            Payload::AfterSalesTicket(t) => {
                tickets += 1;
                satisfaction.extend(
                    t.satisfaction
                        .filter(|s| (1..=5).contains(s))
                        .map(f64::from),
                );
                resolution.extend(t.resolution_hours.filter(|h| h.is_finite() && *h >= 0.0));
                sentiments.extend(text_sentiment(&t.text, None));
                if let Some(term) = topic_term(t.topic) {
                    *complaints.entry(term).or_default() += 1;
                }
            }
            Payload::ReturnGoods(r) => {
                returned_units += r.quantity.max(0);
                if let Some(term) = reason_term(r.reason) {
                    *complaints.entry(term).or_default() += 1;
                }
            }
            Payload::SocialAction(s) => sentiments.extend(text_sentiment(&s.comment_text, None)),
            _ => {}
        }
    }
    // Orders returned as a whole count all their units when no return event says more.
    let ordered_units: i64 = data
        .orders
        .iter()
        .filter(|o| super::transactions::counts(o))
        .map(|o| o.units)
        .sum();
    let whole_returns: i64 = data
        .orders
        .iter()
        .filter(|o| o.order.status == "RETURNED")
        .map(|o| o.units)
        .sum();
    let returned = returned_units.max(whole_returns).min(ordered_units);
    let reviews = ratings.len().max(
        data.events
            .iter()
            .filter(|e| matches!(e.payload, Payload::Review(_)))
            .count(),
    );
    let return_events = data
        .events
        .iter()
        .filter(|e| matches!(e.payload, Payload::ReturnGoods(_)))
        .count();
    #[allow(clippy::cast_precision_loss)]
    let evidence = (reviews + tickets + return_events) as f64;
    pb::EvaluationFeedbackDimension {
        completeness: saturation(evidence, 3.0),
        average_rating: mean(&ratings),
        review_count: i64::try_from(reviews).unwrap_or(i64::MAX),
        sentiment_mean: mean(&sentiments),
        return_rate: share(
            usize::try_from(returned).unwrap_or(0),
            usize::try_from(ordered_units).unwrap_or(0),
        ),
        ticket_count: i64::try_from(tickets).unwrap_or(i64::MAX),
        average_ticket_satisfaction: mean(&satisfaction),
        average_resolution_hours: mean(&resolution),
        top_complaints: top_counts(&complaints, 10)
            .into_iter()
            .map(|(term, count)| pb::TermCount { term, count })
            .collect(),
    }
}
