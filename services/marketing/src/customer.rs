//! What scoring knows about a customer: a plain snapshot of the profiling service's
//! profile (built by [`crate::profile_adapter`]), so the formulas never see protobuf.
//! Money is in minor units of the merchant's base currency.

/// Marketing consent channels (as in `caravan.common.v1.ConsentChannel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Channel {
    Email,
    Sms,
    Whatsapp,
    Push,
    SocialAds,
}

impl Channel {
    pub fn label(self) -> &'static str {
        match self {
            Channel::Email => "EMAIL",
            Channel::Sms => "SMS",
            Channel::Whatsapp => "WHATSAPP",
            Channel::Push => "PUSH",
            Channel::SocialAds => "SOCIAL_ADS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum CustomerKind {
    #[default]
    Unknown,
    Person,
    Enterprise,
}

/// Purchase decision stage (as in `caravan.common.v1.DecisionStage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stage {
    #[default]
    Unknown,
    NeedRecognition,
    InformationSearch,
    Evaluation,
    Purchase,
    AfterSales,
    Loyal,
}

/// Output of the merchant's value model (BG/NBD + Gamma-Gamma in profiling).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Predictive {
    pub probability_alive: f64,
    /// Expected purchases over `horizon_days`.
    pub expected_purchases: f64,
    pub horizon_days: i32,
    pub expected_order_value: f64,
    pub lifetime_value: f64,
}

/// Logistics experience and sensitivity (report section 4).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Logistics {
    pub late_delivery_share: f64,
    pub average_delay_days: f64,
    pub shipping_cost_sensitivity: f64,
    pub tracking_usage_rate: f64,
    /// Mean shipping cost per order, minor units; `None` when no order carried one.
    pub average_shipping_cost: Option<f64>,
    /// Share of delayed orders followed by an after-sales ticket.
    pub post_delay_ticket_rate: f64,
}

/// The scoring inputs of one customer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerFacts {
    /// `merchants/{m}/customers/{c}`.
    pub customer: String,
    pub kind: CustomerKind,
    /// ISO 3166-1 alpha-2, if known.
    pub country: Option<String>,
    pub consented: Vec<Channel>,
    /// Segment ids the customer is known to be in (`champions`, and the segment being
    /// scored, if any).
    pub segments: Vec<String>,
    /// The RFM segment's id, e.g. `at-risk`; posteriors are kept per segment.
    pub rfm_segment: Option<String>,
    pub recency_days: Option<i32>,
    pub order_count: i64,
    pub average_order_value: f64,
    pub average_days_between_orders: f64,
    pub predictive: Option<Predictive>,
    pub stage: Stage,
    /// Share of orders with a coupon or discount (price sensitivity), 0..1.
    pub discount_order_share: f64,
    pub logistics: Logistics,
    /// Preferred payment method is slow (bank transfer, letter of credit).
    pub slow_payment_method: bool,
    pub payment_failure_rate: f64,
    /// Mean review rating 1..5, if any reviews.
    pub average_rating: Option<f64>,
    /// Social influence score 0..1.
    pub influence: f64,
}

impl CustomerFacts {
    /// Order value used to value a conversion: the value model's expected order value,
    /// else the observed average.
    pub fn order_value(&self) -> f64 {
        match self.predictive {
            Some(p) if p.expected_order_value > 0.0 => p.expected_order_value,
            _ => self.average_order_value.max(0.0),
        }
    }

    pub fn lifetime_value(&self) -> f64 {
        self.predictive.map_or(0.0, |p| p.lifetime_value)
    }
}
