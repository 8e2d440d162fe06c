//! The one place where a profiling `Profile` (protobuf) becomes [`CustomerFacts`]. Money
//! in the profile is already in the merchant's base currency.

use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::profiling::v1 as profiling;
use caravan_proto::caravan::profiling::v1::profile::Basic;

use crate::customer::{Channel, CustomerFacts, CustomerKind, Logistics, Predictive, Stage};

pub fn channel_from_proto(value: i32) -> Option<Channel> {
    match common::ConsentChannel::try_from(value).ok()? {
        common::ConsentChannel::Email => Some(Channel::Email),
        common::ConsentChannel::Sms => Some(Channel::Sms),
        common::ConsentChannel::Whatsapp => Some(Channel::Whatsapp),
        common::ConsentChannel::Push => Some(Channel::Push),
        common::ConsentChannel::SocialAds => Some(Channel::SocialAds),
        common::ConsentChannel::Unspecified => None,
    }
}

pub fn channel_to_proto(channel: Channel) -> common::ConsentChannel {
    match channel {
        Channel::Email => common::ConsentChannel::Email,
        Channel::Sms => common::ConsentChannel::Sms,
        Channel::Whatsapp => common::ConsentChannel::Whatsapp,
        Channel::Push => common::ConsentChannel::Push,
        Channel::SocialAds => common::ConsentChannel::SocialAds,
    }
}

/// Segment id of a built-in RFM segment, as profiling names it (`champions`, the RFM segment name in kebab case).
pub fn rfm_segment_id(value: i32) -> Option<&'static str> {
    use common::RfmSegment as R;
    Some(match R::try_from(value).ok()? {
        R::Champions => "champions",
        R::Loyal => "loyal",
        R::PotentialLoyalist => "potential-loyalists",
        R::New => "new",
        R::Promising => "promising",
        R::NeedAttention => "need-attention",
        R::AboutToSleep => "about-to-sleep",
        R::AtRisk => "at-risk",
        R::CantLose => "cant-lose",
        R::Hibernating => "hibernating",
        R::Lost => "lost",
        R::Unspecified => return None,
    })
}

fn stage(value: i32) -> Stage {
    use common::DecisionStage as D;
    match D::try_from(value) {
        Ok(D::NeedRecognition) => Stage::NeedRecognition,
        Ok(D::InformationSearch) => Stage::InformationSearch,
        Ok(D::Evaluation) => Stage::Evaluation,
        Ok(D::Purchase) => Stage::Purchase,
        Ok(D::AfterSales) => Stage::AfterSales,
        Ok(D::Loyal) => Stage::Loyal,
        _ => Stage::Unknown,
    }
}

fn minor(money: Option<&common::Money>) -> f64 {
    money.map_or(0.0, |m| m.amount_minor as f64)
}

fn non_negative_rate(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// Maps a profile; `extra_segment` is the segment being scored (its members are in it).
pub fn facts_from_profile(p: &profiling::Profile, extra_segment: Option<&str>) -> CustomerFacts {
    let kind = match common::CustomerKind::try_from(p.kind) {
        Ok(common::CustomerKind::Person) => CustomerKind::Person,
        Ok(common::CustomerKind::Enterprise) => CustomerKind::Enterprise,
        _ => CustomerKind::Unknown,
    };
    let (country, consented) = match &p.basic {
        Some(Basic::Person(person)) => (
            person.country_code.clone(),
            person
                .consented_channels
                .iter()
                .filter_map(|c| channel_from_proto(*c))
                .collect(),
        ),
        Some(Basic::Enterprise(e)) => (e.country_code.clone(), Vec::new()),
        None => (String::new(), Vec::new()),
    };
    let tx = p.transactions.clone().unwrap_or_default();
    let rfm = tx.rfm.unwrap_or_default();
    let rfm_segment = rfm_segment_id(rfm.segment).map(str::to_owned);
    // Profiling lists every segment the customer is in (built-in and custom) by resource
    // name; older profiling versions did not, so the RFM segment is added if missing.
    let mut segments: Vec<String> = p
        .segments
        .iter()
        .filter_map(|name| name.rsplit_once("/segments/").map(|(_, id)| id.to_owned()))
        .collect();
    for id in rfm_segment.iter().map(String::as_str).chain(extra_segment) {
        if !segments.iter().any(|s| s == id) {
            segments.push(id.to_owned());
        }
    }
    let logistics = tx.logistics.unwrap_or_default();
    let post_delay = logistics.post_delay_behaviour.unwrap_or_default();
    let predictive = p.predictive_value.as_ref().map(|v| Predictive {
        probability_alive: non_negative_rate(v.probability_alive),
        expected_purchases: v.expected_purchases.max(0.0),
        horizon_days: v.horizon_days,
        expected_order_value: minor(v.expected_average_order_value.as_ref()).max(0.0),
        lifetime_value: minor(v.customer_lifetime_value.as_ref()),
    });
    let slow_payment_method = matches!(
        common::PaymentMethod::try_from(tx.preferred_payment_method),
        Ok(common::PaymentMethod::BankTransfer | common::PaymentMethod::LetterOfCredit)
    );
    let feedback = p.evaluation_feedback.clone().unwrap_or_default();
    CustomerFacts {
        customer: p.customer.clone(),
        kind,
        country: (!country.is_empty()).then_some(country),
        consented,
        segments,
        rfm_segment,
        recency_days: (tx.rfm.is_some() && tx.order_count > 0).then_some(rfm.recency_days),
        order_count: tx.order_count,
        average_order_value: minor(tx.average_order_value.as_ref()).max(0.0),
        average_days_between_orders: tx.average_days_between_orders.max(0.0),
        predictive,
        stage: stage(p.decision_stage.as_ref().map_or(0, |d| d.stage)),
        discount_order_share: non_negative_rate(tx.discount_order_share),
        logistics: Logistics {
            late_delivery_share: non_negative_rate(logistics.late_delivery_share),
            average_delay_days: logistics.average_delay_days.max(0.0),
            shipping_cost_sensitivity: non_negative_rate(logistics.shipping_cost_sensitivity),
            tracking_usage_rate: non_negative_rate(logistics.tracking_usage_rate),
            average_shipping_cost: logistics
                .average_shipping_cost
                .as_ref()
                .map(|m| (m.amount_minor as f64).max(0.0)),
            post_delay_ticket_rate: non_negative_rate(post_delay.ticket_rate),
        },
        slow_payment_method,
        payment_failure_rate: non_negative_rate(tx.payment_failure_rate),
        average_rating: (feedback.review_count > 0).then_some(feedback.average_rating),
        influence: non_negative_rate(p.social_sharing.as_ref().map_or(0.0, |s| s.influence_score)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_the_fields_scoring_uses() {
        let money = |m: i64| {
            Some(common::Money {
                currency_code: "EUR".to_owned(),
                amount_minor: m,
            })
        };
        let p = profiling::Profile {
            customer: "merchants/acme/customers/c1".to_owned(),
            kind: common::CustomerKind::Person as i32,
            basic: Some(Basic::Person(profiling::BasicPersonDimension {
                country_code: "DE".to_owned(),
                consented_channels: vec![common::ConsentChannel::Email as i32, 99],
                ..Default::default()
            })),
            transactions: Some(profiling::TransactionsDimension {
                order_count: 3,
                average_order_value: money(4_200),
                discount_order_share: 0.25,
                preferred_payment_method: common::PaymentMethod::BankTransfer as i32,
                rfm: Some(profiling::RfmScore {
                    recency_days: 40,
                    segment: common::RfmSegment::AtRisk as i32,
                    ..Default::default()
                }),
                logistics: Some(profiling::LogisticsSensitivity {
                    late_delivery_share: 0.5,
                    average_shipping_cost: money(700),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            predictive_value: Some(profiling::PredictiveValue {
                probability_alive: 0.7,
                expected_purchases: 0.4,
                horizon_days: 90,
                customer_lifetime_value: money(30_000),
                ..Default::default()
            }),
            decision_stage: Some(profiling::DecisionStageAssessment {
                stage: common::DecisionStage::Evaluation as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        let f = facts_from_profile(&p, Some("vip"));
        assert_eq!(f.country.as_deref(), Some("DE"));
        assert_eq!(
            f.consented,
            vec![Channel::Email],
            "unknown channel values are dropped"
        );
        assert_eq!(f.segments, vec!["at-risk".to_owned(), "vip".to_owned()]);
        let listed = profiling::Profile {
            segments: vec![
                "merchants/m/segments/at-risk".to_owned(),
                "merchants/m/segments/big-spenders".to_owned(),
            ],
            ..p.clone()
        };
        assert_eq!(
            facts_from_profile(&listed, Some("vip")).segments,
            vec!["at-risk", "big-spenders", "vip"],
            "segments profiling lists, then the scored one; no duplicates"
        );
        assert_eq!(f.recency_days, Some(40));
        assert_eq!(
            f.order_value(),
            4_200.0,
            "no expected order value: observed average"
        );
        assert_eq!(f.lifetime_value(), 30_000.0);
        assert_eq!(f.stage, Stage::Evaluation);
        assert!(f.slow_payment_method);
        assert_eq!(f.logistics.average_shipping_cost, Some(700.0));
        assert_eq!(
            facts_from_profile(&profiling::Profile::default(), None).predictive,
            None
        );
    }
}
