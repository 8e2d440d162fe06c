//! B2B: enterprise contacts (dimension 2) and purchasing potential (inquiries, RFQs,
//! samples and a scored potential with its components).

use std::collections::HashMap;

use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::profiling::v1 as pb;
use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

use super::basic::enum_value;
use super::{BuildContext, CustomerData, StoredEvent, days_between, saturation, share};

const MAX_CONTACTS: usize = 20;

/// Weights of the purchasing-potential components; they add up to 1.
pub mod weights {
    pub const RFQ_VOLUME: f64 = 0.25;
    pub const RFQ_VALUE: f64 = 0.20;
    pub const SAMPLE_CONVERSION: f64 = 0.20;
    pub const COMPANY_SIZE: f64 = 0.15;
    pub const ENGAGEMENT_RECENCY: f64 = 0.20;
}

/// RFQ value (base currency, major units) at which the value component reaches 0.63.
pub const RFQ_VALUE_SCALE_MAJOR: f64 = 10_000.0;
/// Days over which engagement recency decays by a factor e.
pub const ENGAGEMENT_DECAY_DAYS: f64 = 30.0;

fn mentions(reference: &str, contact_id: &str) -> bool {
    !reference.is_empty()
        && (reference == contact_id || reference.ends_with(&format!("/contacts/{contact_id}")))
}

pub fn contacts(data: &CustomerData) -> pb::ContactsDimension {
    let mut summaries: Vec<pb::ContactSummary> = data
        .contacts
        .iter()
        .map(|c| {
            let mut count = 0i64;
            let mut last: Option<DateTime<Utc>> = None;
            for (reference, (n, at)) in &data.events.opportunity.contact_mentions {
                if mentions(reference, &c.id) {
                    count += n;
                    last = last.max(Some(*at));
                }
            }
            pb::ContactSummary {
                contact: format!(
                    "merchants/{}/customers/{}/contacts/{}",
                    c.merchant_id, c.customer_id, c.id
                ),
                display_name: String::new(),
                job_title: c.job_title.clone().unwrap_or_default(),
                decision_maker: c.decision_maker,
                preferred_channel: enum_value(
                    c.preferred_channel.as_deref(),
                    "CONTACT_CHANNEL_",
                    |n| common::ContactChannel::from_str_name(n).map(|e| e as i32),
                ),
                interaction_count: count,
                last_interaction_time: last.map(to_timestamp),
            }
        })
        .collect();
    summaries.sort_by(|a, b| {
        b.decision_maker
            .cmp(&a.decision_maker)
            .then(b.interaction_count.cmp(&a.interaction_count))
            .then_with(|| a.contact.cmp(&b.contact))
    });
    let decision_makers = data.contacts.iter().filter(|c| c.decision_maker);
    let reachable_dm = decision_makers
        .clone()
        .any(|c| c.email.is_some() || c.phone.is_some() || c.preferred_channel.is_some());
    // A contact at all, a decision maker, and a way to reach that decision maker.
    let completeness = 0.5 * f64::from(u8::from(!data.contacts.is_empty()))
        + 0.3 * f64::from(u8::from(decision_makers.clone().next().is_some()))
        + 0.2 * f64::from(u8::from(reachable_dm));
    let decision_maker_count = i64::try_from(decision_makers.count()).unwrap_or(i64::MAX);
    summaries.truncate(MAX_CONTACTS);
    pb::ContactsDimension {
        completeness,
        contact_count: i64::try_from(data.contacts.len()).unwrap_or(i64::MAX),
        decision_maker_count,
        contacts: summaries,
    }
}

fn component(name: &str, value: f64, weight: f64) -> pb::ScoreComponent {
    let value = value.clamp(0.0, 1.0);
    pb::ScoreComponent {
        name: name.to_owned(),
        value,
        weight,
        contribution: value * weight,
    }
}

/// What the B2B dimensions keep of a customer's events, one event at a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpportunityTally {
    /// Contact reference of inquiries and RFQs -> how many, and the latest.
    contact_mentions: HashMap<String, (i64, DateTime<Utc>)>,
    inquiries: i64,
    rfqs: i64,
    samples: u64,
    paid_samples: u64,
    /// RFQ target prices: (currency, unit price in minor units, units asked for).
    rfq_prices: Vec<(String, i64, i64)>,
    last: Option<DateTime<Utc>>,
}

impl OpportunityTally {
    pub(crate) fn apply(&mut self, e: &StoredEvent) {
        let contact = match &e.payload {
            Payload::Inquiry(i) => {
                self.inquiries += 1;
                &i.contact
            }
            Payload::Rfq(r) => {
                self.rfqs += 1;
                if let Some(price) = &r.target_unit_price {
                    self.rfq_prices.push((
                        price.currency_code.clone(),
                        price.amount_minor,
                        r.quantity.max(0),
                    ));
                }
                &r.contact
            }
            Payload::SampleOrder(s) => {
                self.samples += 1;
                self.paid_samples += u64::from(s.paid);
                self.last = self.last.max(Some(e.occur_time));
                return;
            }
            _ => return,
        };
        self.last = self.last.max(Some(e.occur_time));
        if !contact.is_empty() {
            let m = self
                .contact_mentions
                .entry(contact.clone())
                .or_insert((0, e.occur_time));
            m.0 += 1;
            m.1 = m.1.max(e.occur_time);
        }
    }
}

pub fn potential(data: &CustomerData, ctx: &BuildContext) -> pb::PurchasingPotentialDimension {
    let t = &data.events.opportunity;
    let (inquiries, rfqs, last) = (t.inquiries, t.rfqs, t.last);
    let samples = usize::try_from(t.samples).unwrap_or(usize::MAX);
    let paid_samples = usize::try_from(t.paid_samples).unwrap_or(usize::MAX);
    let mut rfq_value_minor = 0i64;
    for (currency, unit_minor, quantity) in &t.rfq_prices {
        if let Some(unit) = ctx.to_base(currency, *unit_minor) {
            rfq_value_minor = rfq_value_minor.saturating_add(unit.saturating_mul(*quantity));
        }
    }
    let size = enum_value(
        data.customer.size_band.as_deref(),
        "COMPANY_SIZE_BAND_",
        |n| common::CompanySizeBand::from_str_name(n).map(|e| e as i32),
    );
    #[allow(clippy::cast_precision_loss)]
    let rfq_major = rfq_value_minor as f64 / 100.0;
    #[allow(clippy::cast_precision_loss)]
    let components = vec![
        component(
            "rfq_volume",
            saturation(rfqs as f64, 3.0),
            weights::RFQ_VOLUME,
        ),
        component(
            "rfq_value",
            saturation(rfq_major, RFQ_VALUE_SCALE_MAJOR),
            weights::RFQ_VALUE,
        ),
        component(
            "sample_conversion",
            share(paid_samples, samples),
            weights::SAMPLE_CONVERSION,
        ),
        component("company_size", f64::from(size) / 5.0, weights::COMPANY_SIZE),
        component(
            "engagement_recency",
            last.map_or(0.0, |t| {
                (-days_between(t, ctx.as_of).max(0.0) / ENGAGEMENT_DECAY_DAYS).exp()
            }),
            weights::ENGAGEMENT_RECENCY,
        ),
    ];
    let score = 100.0 * components.iter().map(|c| c.contribution).sum::<f64>();
    #[allow(clippy::cast_precision_loss)]
    let evidence = (inquiries + rfqs) as f64 + samples as f64;
    pb::PurchasingPotentialDimension {
        completeness: saturation(evidence, 3.0),
        inquiry_count: inquiries,
        rfq_count: rfqs,
        sample_order_count: i64::try_from(samples).unwrap_or(i64::MAX),
        paid_sample_share: share(paid_samples, samples),
        rfq_target_value: Some(ctx.money(rfq_value_minor)),
        last_opportunity_time: last.map(to_timestamp),
        score,
        components,
    }
}
