//! The domain form of a strategy: kind-specific parameters, cost model, eligibility and
//! frequency cap, stored as JSON by the strategy store. Money in minor units of the
//! merchant's base currency.

use serde::{Deserialize, Serialize};

use crate::customer::{Channel, CustomerFacts, CustomerKind};

/// Kind-specific parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Params {
    Coupon {
        percent_off: Option<f64>,
        amount_off: Option<i64>,
        min_spend: i64,
        validity_seconds: i64,
    },
    FreeShipping {
        min_spend: i64,
        country_codes: Vec<String>,
        /// Per-order shipping cost assumed where the customer's orders carry none.
        #[serde(default)]
        assumed_shipping_cost: Option<i64>,
    },
    ShippingSubsidy {
        subsidy_rate: f64,
        max_subsidy: Option<i64>,
        /// Per-order shipping cost assumed where the customer's orders carry none.
        #[serde(default)]
        assumed_shipping_cost: Option<i64>,
    },
    ExpeditedDelivery {
        days_saved: i32,
        carrier: String,
    },
    TrackingUpgrade {
        real_time_tracking: bool,
        proactive_delay_notifications: bool,
    },
    AfterSalesGuarantee {
        free_return_days: i32,
        late_delivery_compensation: i64,
        resolution_hours: i32,
    },
    LoyaltyPoints {
        points: i64,
        points_value: i64,
    },
    TierUpgrade {
        target_tier: i32,
        duration_seconds: i64,
    },
    Bundle {
        products: Vec<String>,
        percent_off: f64,
    },
    WinBackMessage {
        channel: Channel,
        template_id: String,
        min_inactive_days: i32,
    },
    SocialAdCampaign {
        platform: i32,
        budget: i64,
        expected_cpm: i64,
    },
}

impl Params {
    /// The kind's proto enum name without prefix, e.g. `COUPON` (stored in `kind`).
    pub fn kind_code(&self) -> &'static str {
        match self {
            Params::Coupon { .. } => "COUPON",
            Params::FreeShipping { .. } => "FREE_SHIPPING",
            Params::ShippingSubsidy { .. } => "SHIPPING_SUBSIDY",
            Params::ExpeditedDelivery { .. } => "EXPEDITED_DELIVERY",
            Params::TrackingUpgrade { .. } => "TRACKING_UPGRADE",
            Params::AfterSalesGuarantee { .. } => "AFTER_SALES_GUARANTEE",
            Params::LoyaltyPoints { .. } => "LOYALTY_POINTS",
            Params::TierUpgrade { .. } => "TIER_UPGRADE",
            Params::Bundle { .. } => "BUNDLE",
            Params::WinBackMessage { .. } => "WIN_BACK_MESSAGE",
            Params::SocialAdCampaign { .. } => "SOCIAL_AD_CAMPAIGN",
        }
    }
}

/// Cost of applying the strategy to one customer, on top of the kind's own cost.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct CostModel {
    pub fixed_cost_per_contact: i64,
    /// Share of the order value of converted customers.
    pub variable_cost_rate: f64,
    pub cost_per_conversion: i64,
}

/// Who may receive the strategy; all conditions must hold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Eligibility {
    /// Segment ids (not names); empty means all.
    pub segments: Vec<String>,
    pub country_codes: Vec<String>,
    pub required_consent: Option<Channel>,
    pub min_lifetime_value: i64,
    pub customer_kinds: Vec<CustomerKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrequencyCap {
    pub max_contacts: i32,
    pub period_seconds: i64,
}

/// A strategy as scoring sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategySpec {
    /// `merchants/{m}/strategies/{s}`.
    pub name: String,
    pub id: String,
    pub params: Params,
    pub cost: CostModel,
    pub eligibility: Eligibility,
    pub frequency_cap: Option<FrequencyCap>,
}

impl StrategySpec {
    /// Why the customer may not receive the strategy, or `None` if eligible. The
    /// frequency cap is checked separately (it needs the contact log).
    pub fn ineligibility(&self, c: &CustomerFacts) -> Option<String> {
        let e = &self.eligibility;
        if !e.segments.is_empty() && !e.segments.iter().any(|s| c.segments.contains(s)) {
            return Some(format!("not in segment(s) {}", e.segments.join(", ")));
        }
        if !e.country_codes.is_empty()
            && !c
                .country
                .as_ref()
                .is_some_and(|cc| e.country_codes.contains(cc))
        {
            return Some(format!(
                "country {} not in {}",
                c.country.as_deref().unwrap_or("unknown"),
                e.country_codes.join(", ")
            ));
        }
        if let Some(channel) = e.required_consent
            && !c.consented.contains(&channel)
        {
            return Some(format!("no consent for {}", channel.label()));
        }
        if e.min_lifetime_value > 0 && c.lifetime_value() < e.min_lifetime_value as f64 {
            return Some(format!(
                "lifetime value {:.0} below minimum {}",
                c.lifetime_value(),
                e.min_lifetime_value
            ));
        }
        if !e.customer_kinds.is_empty() && !e.customer_kinds.contains(&c.kind) {
            return Some(format!("customer kind {:?} not eligible", c.kind));
        }
        match &self.params {
            Params::WinBackMessage {
                channel,
                min_inactive_days,
                ..
            } => {
                if !c.consented.contains(channel) {
                    return Some(format!("no consent for {}", channel.label()));
                }
                let inactive = c.recency_days.unwrap_or(0);
                if c.order_count == 0 || inactive < *min_inactive_days {
                    return Some(format!(
                        "inactive {inactive} days, win-back needs {min_inactive_days}"
                    ));
                }
            }
            Params::FreeShipping { country_codes, .. }
                if !country_codes.is_empty()
                    && !c
                        .country
                        .as_ref()
                        .is_some_and(|cc| country_codes.contains(cc)) =>
            {
                return Some("free shipping does not cover the customer's country".to_owned());
            }
            Params::Coupon { min_spend, .. } | Params::FreeShipping { min_spend, .. }
                if *min_spend > 0 && c.order_value() < *min_spend as f64 =>
            {
                return Some(format!(
                    "expected order value {:.0} below minimum spend {min_spend}",
                    c.order_value()
                ));
            }
            _ => {}
        }
        None
    }

    /// Whether the cap is reached given how many times the customer was contacted with
    /// this strategy within the cap's period.
    pub fn cap_reached(&self, contacts_in_period: u32) -> Option<String> {
        let cap = self.frequency_cap?;
        (cap.max_contacts > 0 && contacts_in_period >= cap.max_contacts as u32).then(|| {
            format!(
                "frequency cap {} per {}d reached",
                cap.max_contacts,
                cap.period_seconds as f64 / 86_400.0
            )
        })
    }
}
