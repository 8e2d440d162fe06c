//! Evaluation feedback (B2C): ratings, review sentiment, returns and after-sales.

use std::collections::HashMap;

use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::ingestion::v1::{ReturnReason, TicketTopic};
use caravan_proto::caravan::profiling::v1 as pb;

use serde::{Deserialize, Serialize};

use super::{CustomerData, StoredEvent, saturation, share, top_counts};
use crate::sentiment;

/// A running mean.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
struct Mean {
    sum: f64,
    count: u64,
}

impl Mean {
    fn add(&mut self, v: f64) {
        self.sum += v;
        self.count += 1;
    }

    fn get(self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            #[allow(clippy::cast_precision_loss)]
            let n = self.count as f64;
            self.sum / n
        }
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

/// What evaluation feedback keeps of a customer's events, one event at a time. Review
/// texts are scored once, when their event is applied.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeedbackTally {
    ratings: Mean,
    sentiments: Mean,
    satisfaction: Mean,
    resolution: Mean,
    complaints: HashMap<String, i64>,
    reviews: u64,
    tickets: u64,
    return_events: u64,
    returned_units: i64,
}

impl FeedbackTally {
    pub(crate) fn apply(&mut self, e: &StoredEvent) {
        match &e.payload {
            Payload::Review(r) => {
                self.reviews += 1;
                if (1..=5).contains(&r.rating) {
                    self.ratings.add(f64::from(r.rating));
                }
                let text = format!("{} {}", r.title, r.text);
                let lang = (!r.language_code.is_empty()).then_some(r.language_code.as_str());
                if let Some(s) = text_sentiment(&text, lang) {
                    self.sentiments.add(s);
                }
            }
            Payload::AfterSalesTicket(t) => {
                self.tickets += 1;
                if let Some(s) = t.satisfaction.filter(|s| (1..=5).contains(s)) {
                    self.satisfaction.add(f64::from(s));
                }
                if let Some(h) = t.resolution_hours.filter(|h| h.is_finite() && *h >= 0.0) {
                    self.resolution.add(h);
                }
                if let Some(s) = text_sentiment(&t.text, None) {
                    self.sentiments.add(s);
                }
                if let Some(term) = topic_term(t.topic) {
                    *self.complaints.entry(term).or_default() += 1;
                }
            }
            Payload::ReturnGoods(r) => {
                self.return_events += 1;
                self.returned_units = self.returned_units.saturating_add(r.quantity.max(0));
                if let Some(term) = reason_term(r.reason) {
                    *self.complaints.entry(term).or_default() += 1;
                }
            }
            Payload::SocialAction(s) => {
                if let Some(v) = text_sentiment(&s.comment_text, None) {
                    self.sentiments.add(v);
                }
            }
            _ => {}
        }
    }
}

pub fn build(data: &CustomerData) -> pb::EvaluationFeedbackDimension {
    let t = &data.events.feedback;
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
    let returned = t.returned_units.max(whole_returns).min(ordered_units);
    let reviews = usize::try_from(t.reviews).unwrap_or(usize::MAX);
    #[allow(clippy::cast_precision_loss)]
    let evidence = (t.reviews + t.tickets + t.return_events) as f64;
    pb::EvaluationFeedbackDimension {
        completeness: saturation(evidence, 3.0),
        average_rating: t.ratings.get(),
        review_count: i64::try_from(reviews).unwrap_or(i64::MAX),
        sentiment_mean: t.sentiments.get(),
        return_rate: share(
            usize::try_from(returned).unwrap_or(0),
            usize::try_from(ordered_units).unwrap_or(0),
        ),
        ticket_count: i64::try_from(t.tickets).unwrap_or(i64::MAX),
        average_ticket_satisfaction: t.satisfaction.get(),
        average_resolution_hours: t.resolution.get(),
        top_complaints: top_counts(&t.complaints, 10)
            .into_iter()
            .map(|(term, count)| pb::TermCount { term, count })
            .collect(),
    }
}
