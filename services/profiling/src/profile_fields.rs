//! The Profile field paths that filters (`ListProfiles`, segments, analytics) and
//! orderings may use, with their types and how to read them from a profile.

use caravan_platform::proto_time::from_timestamp;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::profiling::v1 as pb;
use pb::profile::Basic;

use crate::filter::{FieldType, FieldValue};

type Getter = fn(&pb::Profile) -> FieldValue;

fn num(v: impl Into<f64>) -> FieldValue {
    FieldValue::Number(v.into())
}

#[allow(clippy::cast_precision_loss)]
fn int(v: i64) -> FieldValue {
    FieldValue::Number(v as f64)
}

fn text(v: &str) -> FieldValue {
    if v.is_empty() {
        FieldValue::Missing
    } else {
        FieldValue::Text(v.to_owned())
    }
}

fn time(t: Option<&prost_types::Timestamp>) -> FieldValue {
    t.and_then(from_timestamp)
        .map_or(FieldValue::Missing, FieldValue::Time)
}

fn enum_name(value: i32, name: fn(i32) -> Option<&'static str>) -> FieldValue {
    if value == 0 {
        return FieldValue::Missing;
    }
    name(value).map_or(FieldValue::Missing, |n| FieldValue::Enum(n.to_owned()))
}

fn money(m: Option<&common::Money>) -> FieldValue {
    m.map_or(FieldValue::Missing, |m| int(m.amount_minor))
}

fn person(p: &pb::Profile) -> Option<&pb::BasicPersonDimension> {
    match &p.basic {
        Some(Basic::Person(b)) => Some(b),
        _ => None,
    }
}

fn enterprise(p: &pb::Profile) -> Option<&pb::BasicEnterpriseDimension> {
    match &p.basic {
        Some(Basic::Enterprise(b)) => Some(b),
        _ => None,
    }
}

macro_rules! opt {
    ($dim:expr, |$d:ident| $body:expr) => {
        match $dim {
            Some($d) => $body,
            None => FieldValue::Missing,
        }
    };
}

fn rfm_segment(v: i32) -> Option<&'static str> {
    common::RfmSegment::try_from(v)
        .ok()
        .map(|e| e.as_str_name())
}
fn stage(v: i32) -> Option<&'static str> {
    common::DecisionStage::try_from(v)
        .ok()
        .map(|e| e.as_str_name())
}
fn kind(v: i32) -> Option<&'static str> {
    common::CustomerKind::try_from(v)
        .ok()
        .map(|e| e.as_str_name())
}
fn payment(v: i32) -> Option<&'static str> {
    common::PaymentMethod::try_from(v)
        .ok()
        .map(|e| e.as_str_name())
}
fn gender(v: i32) -> Option<&'static str> {
    common::Gender::try_from(v).ok().map(|e| e.as_str_name())
}
fn age(v: i32) -> Option<&'static str> {
    common::AgeBand::try_from(v).ok().map(|e| e.as_str_name())
}
fn tier(v: i32) -> Option<&'static str> {
    common::CityTier::try_from(v).ok().map(|e| e.as_str_name())
}
fn channel(v: i32) -> Option<&'static str> {
    common::AcquisitionChannel::try_from(v)
        .ok()
        .map(|e| e.as_str_name())
}
fn size(v: i32) -> Option<&'static str> {
    common::CompanySizeBand::try_from(v)
        .ok()
        .map(|e| e.as_str_name())
}
fn business(v: i32) -> Option<&'static str> {
    common::BusinessType::try_from(v)
        .ok()
        .map(|e| e.as_str_name())
}

/// Every filterable field: path, type, getter.
pub const FIELDS: &[(&str, FieldType, Getter)] = &[
    ("customer", FieldType::Text, |p| text(&p.customer)),
    ("kind", FieldType::Enum("CUSTOMER_KIND_"), |p| {
        enum_name(p.kind, kind)
    }),
    ("completeness", FieldType::Number, |p| num(p.completeness)),
    ("event_count", FieldType::Number, |p| int(p.event_count)),
    ("last_event_time", FieldType::Time, |p| {
        time(p.last_event_time.as_ref())
    }),
    ("update_time", FieldType::Time, |p| {
        time(p.update_time.as_ref())
    }),
    ("person.country_code", FieldType::Text, |p| {
        opt!(person(p), |b| text(&b.country_code))
    }),
    ("person.region", FieldType::Text, |p| {
        opt!(person(p), |b| text(&b.region))
    }),
    ("person.city", FieldType::Text, |p| {
        opt!(person(p), |b| text(&b.city))
    }),
    ("person.city_tier", FieldType::Enum("CITY_TIER_"), |p| {
        opt!(person(p), |b| enum_name(b.city_tier, tier))
    }),
    ("person.age_band", FieldType::Enum("AGE_BAND_"), |p| {
        opt!(person(p), |b| enum_name(b.age_band, age))
    }),
    ("person.gender", FieldType::Enum("GENDER_"), |p| {
        opt!(person(p), |b| enum_name(b.gender, gender))
    }),
    ("person.language_code", FieldType::Text, |p| {
        opt!(person(p), |b| text(&b.language_code))
    }),
    ("person.preferred_currency_code", FieldType::Text, |p| {
        opt!(person(p), |b| text(&b.preferred_currency_code))
    }),
    (
        "person.acquisition_channel",
        FieldType::Enum("ACQUISITION_CHANNEL_"),
        |p| opt!(person(p), |b| enum_name(b.acquisition_channel, channel)),
    ),
    ("person.star_rating", FieldType::Number, |p| {
        opt!(person(p), |b| num(b.star_rating))
    }),
    ("person.import_tags", FieldType::TextList, |p| {
        opt!(person(p), |b| FieldValue::TextList(b.import_tags.clone()))
    }),
    ("enterprise.company_name", FieldType::Text, |p| {
        opt!(enterprise(p), |b| text(&b.company_name))
    }),
    ("enterprise.industry", FieldType::Text, |p| {
        opt!(enterprise(p), |b| text(&b.industry))
    }),
    ("enterprise.country_code", FieldType::Text, |p| {
        opt!(enterprise(p), |b| text(&b.country_code))
    }),
    (
        "enterprise.size_band",
        FieldType::Enum("COMPANY_SIZE_BAND_"),
        |p| opt!(enterprise(p), |b| enum_name(b.size_band, size)),
    ),
    (
        "enterprise.business_type",
        FieldType::Enum("BUSINESS_TYPE_"),
        |p| opt!(enterprise(p), |b| enum_name(b.business_type, business)),
    ),
    ("enterprise.year_founded", FieldType::Number, |p| {
        opt!(enterprise(p), |b| num(b.year_founded))
    }),
    ("enterprise.star_rating", FieldType::Number, |p| {
        opt!(enterprise(p), |b| num(b.star_rating))
    }),
    ("enterprise.import_tags", FieldType::TextList, |p| {
        opt!(enterprise(p), |b| FieldValue::TextList(
            b.import_tags.clone()
        ))
    }),
    ("website_behaviour.session_count", FieldType::Number, |p| {
        opt!(&p.website_behaviour, |d| int(d.session_count))
    }),
    (
        "website_behaviour.product_view_count",
        FieldType::Number,
        |p| opt!(&p.website_behaviour, |d| int(d.product_view_count)),
    ),
    ("website_behaviour.search_count", FieldType::Number, |p| {
        opt!(&p.website_behaviour, |d| int(d.search_count))
    }),
    ("website_behaviour.cart_add_count", FieldType::Number, |p| {
        opt!(&p.website_behaviour, |d| int(d.cart_add_count))
    }),
    (
        "website_behaviour.cart_abandonment_rate",
        FieldType::Number,
        |p| opt!(&p.website_behaviour, |d| num(d.cart_abandonment_rate)),
    ),
    (
        "website_behaviour.last_activity_time",
        FieldType::Time,
        |p| {
            opt!(&p.website_behaviour, |d| time(
                d.last_activity_time.as_ref()
            ))
        },
    ),
    (
        "content_preference.category_affinities.key",
        FieldType::TextList,
        |p| {
            opt!(&p.content_preference, |d| FieldValue::TextList(
                d.category_affinities
                    .iter()
                    .map(|a| a.key.clone())
                    .collect()
            ))
        },
    ),
    (
        "content_preference.brand_affinities.key",
        FieldType::TextList,
        |p| {
            opt!(&p.content_preference, |d| FieldValue::TextList(
                d.brand_affinities.iter().map(|a| a.key.clone()).collect()
            ))
        },
    ),
    (
        "content_preference.favourite_count",
        FieldType::Number,
        |p| opt!(&p.content_preference, |d| int(d.favourite_count)),
    ),
    ("transactions.order_count", FieldType::Number, |p| {
        opt!(&p.transactions, |d| int(d.order_count))
    }),
    (
        "transactions.revenue.amount_minor",
        FieldType::Number,
        |p| opt!(&p.transactions, |d| money(d.revenue.as_ref())),
    ),
    (
        "transactions.average_order_value.amount_minor",
        FieldType::Number,
        |p| opt!(&p.transactions, |d| money(d.average_order_value.as_ref())),
    ),
    ("transactions.first_order_time", FieldType::Time, |p| {
        opt!(&p.transactions, |d| time(d.first_order_time.as_ref()))
    }),
    ("transactions.last_order_time", FieldType::Time, |p| {
        opt!(&p.transactions, |d| time(d.last_order_time.as_ref()))
    }),
    (
        "transactions.rfm.segment",
        FieldType::Enum("RFM_SEGMENT_"),
        |p| {
            opt!(p.transactions.as_ref().and_then(|t| t.rfm.as_ref()), |r| {
                enum_name(r.segment, rfm_segment)
            })
        },
    ),
    ("transactions.rfm.recency_score", FieldType::Number, |p| {
        opt!(p.transactions.as_ref().and_then(|t| t.rfm.as_ref()), |r| {
            num(r.recency_score)
        })
    }),
    ("transactions.rfm.frequency_score", FieldType::Number, |p| {
        opt!(p.transactions.as_ref().and_then(|t| t.rfm.as_ref()), |r| {
            num(r.frequency_score)
        })
    }),
    ("transactions.rfm.monetary_score", FieldType::Number, |p| {
        opt!(p.transactions.as_ref().and_then(|t| t.rfm.as_ref()), |r| {
            num(r.monetary_score)
        })
    }),
    ("transactions.rfm.recency_days", FieldType::Number, |p| {
        opt!(p.transactions.as_ref().and_then(|t| t.rfm.as_ref()), |r| {
            num(r.recency_days)
        })
    }),
    (
        "transactions.preferred_payment_method",
        FieldType::Enum("PAYMENT_METHOD_"),
        |p| {
            opt!(&p.transactions, |d| enum_name(
                d.preferred_payment_method,
                payment
            ))
        },
    ),
    (
        "transactions.payment_failure_rate",
        FieldType::Number,
        |p| opt!(&p.transactions, |d| num(d.payment_failure_rate)),
    ),
    (
        "transactions.discount_order_share",
        FieldType::Number,
        |p| opt!(&p.transactions, |d| num(d.discount_order_share)),
    ),
    (
        "transactions.cancelled_order_count",
        FieldType::Number,
        |p| opt!(&p.transactions, |d| int(d.cancelled_order_count)),
    ),
    (
        "transactions.average_days_between_orders",
        FieldType::Number,
        |p| opt!(&p.transactions, |d| num(d.average_days_between_orders)),
    ),
    (
        "transactions.logistics.late_delivery_share",
        FieldType::Number,
        |p| {
            opt!(
                p.transactions.as_ref().and_then(|t| t.logistics.as_ref()),
                |l| num(l.late_delivery_share)
            )
        },
    ),
    (
        "transactions.logistics.shipping_cost_sensitivity",
        FieldType::Number,
        |p| {
            opt!(
                p.transactions.as_ref().and_then(|t| t.logistics.as_ref()),
                |l| num(l.shipping_cost_sensitivity)
            )
        },
    ),
    (
        "evaluation_feedback.average_rating",
        FieldType::Number,
        |p| opt!(&p.evaluation_feedback, |d| num(d.average_rating)),
    ),
    ("evaluation_feedback.review_count", FieldType::Number, |p| {
        opt!(&p.evaluation_feedback, |d| int(d.review_count))
    }),
    (
        "evaluation_feedback.sentiment_mean",
        FieldType::Number,
        |p| opt!(&p.evaluation_feedback, |d| num(d.sentiment_mean)),
    ),
    ("evaluation_feedback.return_rate", FieldType::Number, |p| {
        opt!(&p.evaluation_feedback, |d| num(d.return_rate))
    }),
    ("evaluation_feedback.ticket_count", FieldType::Number, |p| {
        opt!(&p.evaluation_feedback, |d| int(d.ticket_count))
    }),
    ("social_sharing.share_count", FieldType::Number, |p| {
        opt!(&p.social_sharing, |d| int(d.share_count))
    }),
    ("social_sharing.referral_count", FieldType::Number, |p| {
        opt!(&p.social_sharing, |d| int(d.referral_count))
    }),
    ("social_sharing.influence_score", FieldType::Number, |p| {
        opt!(&p.social_sharing, |d| num(d.influence_score))
    }),
    ("contacts.contact_count", FieldType::Number, |p| {
        opt!(&p.contacts, |d| int(d.contact_count))
    }),
    ("contacts.decision_maker_count", FieldType::Number, |p| {
        opt!(&p.contacts, |d| int(d.decision_maker_count))
    }),
    ("purchasing_potential.score", FieldType::Number, |p| {
        opt!(&p.purchasing_potential, |d| num(d.score))
    }),
    ("purchasing_potential.rfq_count", FieldType::Number, |p| {
        opt!(&p.purchasing_potential, |d| int(d.rfq_count))
    }),
    (
        "purchasing_potential.inquiry_count",
        FieldType::Number,
        |p| opt!(&p.purchasing_potential, |d| int(d.inquiry_count)),
    ),
    (
        "decision_stage.stage",
        FieldType::Enum("DECISION_STAGE_"),
        |p| opt!(&p.decision_stage, |d| enum_name(d.stage, stage)),
    ),
    ("decision_stage.confidence", FieldType::Number, |p| {
        opt!(&p.decision_stage, |d| num(d.confidence))
    }),
    (
        "predictive_value.probability_alive",
        FieldType::Number,
        |p| opt!(&p.predictive_value, |d| num(d.probability_alive)),
    ),
    (
        "predictive_value.expected_purchases",
        FieldType::Number,
        |p| opt!(&p.predictive_value, |d| num(d.expected_purchases)),
    ),
    (
        "predictive_value.expected_spend.amount_minor",
        FieldType::Number,
        |p| opt!(&p.predictive_value, |d| money(d.expected_spend.as_ref())),
    ),
    (
        "predictive_value.customer_lifetime_value.amount_minor",
        FieldType::Number,
        |p| {
            opt!(&p.predictive_value, |d| money(
                d.customer_lifetime_value.as_ref()
            ))
        },
    ),
    ("tags.key", FieldType::TextList, |p| {
        FieldValue::TextList(p.tags.iter().map(|t| t.key.clone()).collect())
    }),
    ("tags.value", FieldType::TextList, |p| {
        FieldValue::TextList(p.tags.iter().map(|t| t.value.clone()).collect())
    }),
];

/// The type of a field path, `None` if it cannot be filtered on.
pub fn field_type(path: &str) -> Option<FieldType> {
    FIELDS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, t, _)| *t)
}

/// The value of a field path on `profile` (`Missing` for unknown paths).
pub fn field_value(profile: &pb::Profile, path: &str) -> FieldValue {
    FIELDS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map_or(FieldValue::Missing, |(_, _, get)| get(profile))
}

/// Whether `order_by` may use the field (numbers and times order meaningfully; `customer`
/// is the default order).
pub fn orderable(path: &str) -> bool {
    matches!(
        field_type(path),
        Some(FieldType::Number | FieldType::Time | FieldType::Text)
    )
}
