//! Builds one customer's portrait from their record, events and orders: every dimension of
//! the B2C (six) or B2B (five) profile model, the decision stage with its evidence, and the
//! rule tags. Pure: the caller loads the data (see `profile_store`) and supplies the
//! merchant context; nothing here touches the network or the database.
//!
//! Merchant-relative facts (RFM quintiles, the influence rank, predicted value) need the
//! other customers too; they are filled in by `merchant_refresh` and at read time.

mod basic;
mod behaviour;
mod content;
mod decision_stage;
mod feedback;
mod opportunity;
pub mod rule_tags;
mod social;
mod stage_tally;
mod summary;
mod transactions;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::profiling::v1 as pb;
use caravan_store::entity::{customer_contacts, customers, orders};
use chrono::{DateTime, Utc};

pub use basic::import_tags;
pub use rule_tags::RuleTag;
pub use summary::EventSummary;

/// A stored event, decoded.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub event_id: String,
    pub occur_time: DateTime<Utc>,
    pub session_id: Option<String>,
    pub payload: Payload,
}

/// One order as projected by ingestion, with its lines summarised.
#[derive(Debug, Clone)]
pub struct OrderFacts {
    pub order: orders::Model,
    /// Units over all lines.
    pub units: i64,
    /// Resource names of the ordered products.
    pub products: Vec<String>,
}

/// What the portrait needs to know about a product.
#[derive(Debug, Clone, Default)]
pub struct ProductInfo {
    pub category_path: String,
    pub brand: Option<String>,
}

/// Everything stored about one customer.
#[derive(Debug, Clone)]
pub struct CustomerData {
    pub customer: customers::Model,
    pub contacts: Vec<customer_contacts::Model>,
    /// What the portrait keeps of the customer's events.
    pub events: EventSummary,
    pub orders: Vec<OrderFacts>,
    /// By product resource name; shared by the customers loaded together.
    pub products: Arc<HashMap<String, ProductInfo>>,
    /// Resource names of customers referred (by anyone loaded together) who have placed an
    /// order; shared like `products`.
    pub converted_referrals: Arc<HashSet<String>>,
}

/// The merchant-level context of a build.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The instant recency is measured against: the merchant's latest event time, capped
    /// at now. For a live merchant that is now; for a historical import (such as the 2011
    /// Online Retail data) it is the end of the data, so stages and recency stay
    /// meaningful instead of everyone being "dormant since 2011".
    pub as_of: DateTime<Utc>,
    pub base_currency: String,
    /// Units of base currency per unit of each other currency (latest known rate).
    pub rates_to_base: HashMap<String, f64>,
}

impl BuildContext {
    /// `amount_minor` of `currency` in base-currency minor units, when convertible.
    /// Minor-unit exponents are assumed equal (2) for both currencies.
    pub fn to_base(&self, currency: &str, amount_minor: i64) -> Option<i64> {
        if currency == self.base_currency {
            return Some(amount_minor);
        }
        let rate = self.rates_to_base.get(currency)?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        Some((amount_minor as f64 * rate).round() as i64)
    }

    fn money(&self, amount_minor: i64) -> common::Money {
        common::Money {
            currency_code: self.base_currency.clone(),
            amount_minor,
        }
    }
}

/// A built portrait, before the merchant-relative facts are added.
#[derive(Debug, Clone)]
pub struct BuiltProfile {
    pub profile: pb::Profile,
    /// Social influence before ranking (0 for B2B).
    pub influence_raw: f64,
    pub rule_tags: Vec<RuleTag>,
}

/// Builds the portrait of `data.customer`.
pub fn build(data: &CustomerData, ctx: &BuildContext) -> BuiltProfile {
    let customer = &data.customer;
    let enterprise = customer.kind == "ENTERPRISE";
    let customer_name = format!(
        "merchants/{}/customers/{}",
        customer.merchant_id, customer.id
    );
    let mut profile = pb::Profile {
        name: format!("{customer_name}/profile"),
        customer: customer_name,
        kind: if enterprise {
            common::CustomerKind::Enterprise as i32
        } else {
            common::CustomerKind::Person as i32
        },
        event_count: data.events.event_count,
        last_event_time: data.events.last_event_time.map(to_timestamp),
        update_time: Some(to_timestamp(Utc::now())),
        ..Default::default()
    };
    profile.website_behaviour = Some(behaviour::build(data, ctx));
    profile.content_preference = Some(content::build(data, ctx));
    profile.transactions = Some(transactions::build(data, ctx));
    let mut influence_raw = 0.0;
    if enterprise {
        profile.basic = Some(pb::profile::Basic::Enterprise(basic::enterprise(customer)));
        profile.contacts = Some(opportunity::contacts(data));
        profile.purchasing_potential = Some(opportunity::potential(data, ctx));
    } else {
        profile.basic = Some(pb::profile::Basic::Person(basic::person(data)));
        profile.evaluation_feedback = Some(feedback::build(data));
        let (social, raw) = social::build(data);
        profile.social_sharing = Some(social);
        influence_raw = raw;
    }
    profile.decision_stage = Some(decision_stage::assess(data, ctx));
    profile.completeness = overall_completeness(&profile);
    let rule_tags = rule_tags::derive(&profile, data);
    BuiltProfile {
        profile,
        influence_raw,
        rule_tags,
    }
}

/// Mean completeness of the dimensions that apply to the profile's kind.
pub fn overall_completeness(p: &pb::Profile) -> f64 {
    let mut parts = vec![
        match &p.basic {
            Some(pb::profile::Basic::Person(b)) => b.completeness,
            Some(pb::profile::Basic::Enterprise(b)) => b.completeness,
            None => 0.0,
        },
        p.website_behaviour.as_ref().map_or(0.0, |d| d.completeness),
        p.content_preference
            .as_ref()
            .map_or(0.0, |d| d.completeness),
        p.transactions.as_ref().map_or(0.0, |d| d.completeness),
    ];
    if p.kind == common::CustomerKind::Enterprise as i32 {
        parts.push(p.contacts.as_ref().map_or(0.0, |d| d.completeness));
    } else {
        parts.push(
            p.evaluation_feedback
                .as_ref()
                .map_or(0.0, |d| d.completeness),
        );
        parts.push(p.social_sharing.as_ref().map_or(0.0, |d| d.completeness));
    }
    #[allow(clippy::cast_precision_loss)]
    let n = parts.len() as f64;
    parts.iter().sum::<f64>() / n
}

/// Evidence-saturation curve used for every "how much data is there" completeness:
/// 0 without evidence, 0.63 at `scale` observations, approaching 1.
pub(crate) fn saturation(evidence: f64, scale: f64) -> f64 {
    if evidence <= 0.0 {
        0.0
    } else {
        1.0 - (-evidence / scale).exp()
    }
}

/// `part / whole`, 0 when `whole` is 0.
pub(crate) fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        #[allow(clippy::cast_precision_loss)]
        let r = part as f64 / whole as f64;
        r
    }
}

/// Days from `from` to `to` (fractional, may be negative).
pub(crate) fn days_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let secs = (to - from).num_seconds() as f64;
    secs / 86_400.0
}

/// Counts of keys, sorted by count descending then key, at most `limit`.
pub(crate) fn top_counts<K: Ord + Clone>(counts: &HashMap<K, i64>, limit: usize) -> Vec<(K, i64)> {
    let mut v: Vec<(K, i64)> = counts.iter().map(|(k, c)| (k.clone(), *c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}
