//! Proto <-> domain conversions with validation: money, durations, strategies. Field
//! violations name the request field (e.g. `strategy.coupon.percent_off`).

use caravan_platform::FieldViolations;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::marketing::v1 as pb;
use caravan_proto::caravan::marketing::v1::strategy::Parameters;

use crate::customer::CustomerKind;
use crate::profile_adapter::{channel_from_proto, channel_to_proto};
use crate::strategy::{CostModel, Eligibility, FrequencyCap, Params};
use crate::strategy_store::{ACTIVE, StoredStrategy, StrategyFields};

/// Money in the merchant's base currency, as minor units (>= 0).
/// An optional assumed shipping cost: positive, in the base currency.
fn assumed_shipping_cost(
    money: Option<&common::Money>,
    base: &str,
    field: &str,
    v: &mut FieldViolations,
) -> Option<i64> {
    let m = money?;
    if m.amount_minor == 0 {
        v.add(field, "must be positive when set");
    }
    Some(money_in(Some(m), base, field, v))
}

pub fn money_in(
    money: Option<&common::Money>,
    base: &str,
    field: &str,
    v: &mut FieldViolations,
) -> i64 {
    let Some(m) = money else { return 0 };
    if m.currency_code != base {
        v.add(
            field,
            format!(
                "currency {:?} must be the merchant's base currency {base}",
                m.currency_code
            ),
        );
        return 0;
    }
    if m.amount_minor < 0 {
        v.add(field, "must not be negative");
        return 0;
    }
    m.amount_minor
}

pub fn money(amount_minor: i64, currency: &str) -> common::Money {
    common::Money {
        currency_code: currency.to_owned(),
        amount_minor,
    }
}

/// f64 minor units rounded to the nearest unit.
pub fn money_f(amount_minor: f64, currency: &str) -> common::Money {
    money(amount_minor.round() as i64, currency)
}

fn duration_seconds(
    d: Option<&prost_types::Duration>,
    field: &str,
    v: &mut FieldViolations,
) -> Option<i64> {
    let d = d?;
    if d.seconds < 0 || d.nanos < 0 || (d.seconds == 0 && d.nanos == 0) {
        v.add(field, "must be positive");
        return None;
    }
    // Ten years is far beyond any campaign; it also keeps time arithmetic in range.
    if d.seconds > MAX_DURATION_SECONDS {
        v.add(field, "must be at most 3650 days");
        return None;
    }
    Some(d.seconds)
}

const MAX_DURATION_SECONDS: i64 = 3650 * 86_400;

fn duration(seconds: i64) -> prost_types::Duration {
    prost_types::Duration { seconds, nanos: 0 }
}

fn percent(x: f64, field: &str, v: &mut FieldViolations) -> f64 {
    if !(x.is_finite() && x > 0.0 && x <= 100.0) {
        v.add(field, "must be greater than 0 and at most 100");
    }
    x
}

/// Strategy ids match `[a-z][a-z0-9-]{2,62}`.
pub fn check_resource_id(id: &str) -> Result<(), String> {
    caravan_core::names::MerchantId::parse(id)
        .map(|_| ())
        .map_err(|_| format!("{id:?} must match [a-z][a-z0-9-]{{2,62}}"))
}

fn kind_of(p: &Parameters) -> pb::StrategyKind {
    match p {
        Parameters::Coupon(_) => pb::StrategyKind::Coupon,
        Parameters::FreeShipping(_) => pb::StrategyKind::FreeShipping,
        Parameters::ShippingSubsidy(_) => pb::StrategyKind::ShippingSubsidy,
        Parameters::ExpeditedDelivery(_) => pb::StrategyKind::ExpeditedDelivery,
        Parameters::TrackingUpgrade(_) => pb::StrategyKind::TrackingUpgrade,
        Parameters::AfterSalesGuarantee(_) => pb::StrategyKind::AfterSalesGuarantee,
        Parameters::LoyaltyPoints(_) => pb::StrategyKind::LoyaltyPoints,
        Parameters::TierUpgrade(_) => pb::StrategyKind::TierUpgrade,
        Parameters::Bundle(_) => pb::StrategyKind::Bundle,
        Parameters::WinBackMessage(_) => pb::StrategyKind::WinBackMessage,
        Parameters::SocialAdCampaign(_) => pb::StrategyKind::SocialAdCampaign,
    }
}

pub fn kind_from_code(code: &str) -> pb::StrategyKind {
    pb::StrategyKind::from_str_name(&format!("STRATEGY_KIND_{code}"))
        .unwrap_or(pb::StrategyKind::Unspecified)
}

fn params_in(p: &Parameters, base: &str, v: &mut FieldViolations) -> Params {
    let f = |name: &str| format!("strategy.{name}");
    match p {
        Parameters::Coupon(c) => {
            let (percent_off, amount_off) = match &c.discount {
                Some(pb::coupon_parameters::Discount::PercentOff(x)) => {
                    (Some(percent(*x, &f("coupon.percent_off"), v)), None)
                }
                Some(pb::coupon_parameters::Discount::AmountOff(m)) => {
                    let a = money_in(Some(m), base, &f("coupon.amount_off"), v);
                    if a == 0 {
                        v.add(f("coupon.amount_off"), "must be positive");
                    }
                    (None, Some(a))
                }
                None => {
                    v.add(
                        f("coupon.discount"),
                        "percent_off or amount_off is required",
                    );
                    (None, None)
                }
            };
            Params::Coupon {
                percent_off,
                amount_off,
                min_spend: money_in(c.min_spend.as_ref(), base, &f("coupon.min_spend"), v),
                validity_seconds: duration_seconds(c.validity.as_ref(), &f("coupon.validity"), v)
                    .unwrap_or(14 * 86_400),
            }
        }
        Parameters::FreeShipping(s) => {
            for (i, cc) in s.country_codes.iter().enumerate() {
                if !caravan_core::iso::is_country(cc) {
                    v.add(
                        f(&format!("free_shipping.country_codes[{i}]")),
                        format!("{cc:?} is not an ISO 3166-1 alpha-2 code"),
                    );
                }
            }
            Params::FreeShipping {
                min_spend: money_in(s.min_spend.as_ref(), base, &f("free_shipping.min_spend"), v),
                country_codes: s.country_codes.clone(),
                assumed_shipping_cost: assumed_shipping_cost(
                    s.assumed_shipping_cost.as_ref(),
                    base,
                    &f("free_shipping.assumed_shipping_cost"),
                    v,
                ),
            }
        }
        Parameters::ShippingSubsidy(s) => {
            if !(s.subsidy_rate > 0.0 && s.subsidy_rate < 1.0) {
                v.add(
                    f("shipping_subsidy.subsidy_rate"),
                    "must be greater than 0 and below 1",
                );
            }
            Params::ShippingSubsidy {
                subsidy_rate: s.subsidy_rate,
                max_subsidy: s
                    .max_subsidy
                    .as_ref()
                    .map(|m| money_in(Some(m), base, &f("shipping_subsidy.max_subsidy"), v)),
                assumed_shipping_cost: assumed_shipping_cost(
                    s.assumed_shipping_cost.as_ref(),
                    base,
                    &f("shipping_subsidy.assumed_shipping_cost"),
                    v,
                ),
            }
        }
        Parameters::ExpeditedDelivery(e) => {
            if !(1..=60).contains(&e.days_saved) {
                v.add(f("expedited_delivery.days_saved"), "must be 1 to 60");
            }
            Params::ExpeditedDelivery {
                days_saved: e.days_saved,
                carrier: e.carrier.clone(),
            }
        }
        Parameters::TrackingUpgrade(t) => Params::TrackingUpgrade {
            real_time_tracking: t.real_time_tracking,
            proactive_delay_notifications: t.proactive_delay_notifications,
        },
        Parameters::AfterSalesGuarantee(a) => {
            if a.free_return_days < 0 || a.resolution_hours < 0 {
                v.add(
                    f("after_sales_guarantee"),
                    "free_return_days and resolution_hours must not be negative",
                );
            }
            Params::AfterSalesGuarantee {
                free_return_days: a.free_return_days,
                late_delivery_compensation: money_in(
                    a.late_delivery_compensation.as_ref(),
                    base,
                    &f("after_sales_guarantee.late_delivery_compensation"),
                    v,
                ),
                resolution_hours: a.resolution_hours,
            }
        }
        Parameters::LoyaltyPoints(l) => {
            if l.points <= 0 {
                v.add(f("loyalty_points.points"), "must be positive");
            }
            if l.points_value.is_none() {
                v.add(f("loyalty_points.points_value"), "is required");
            }
            Params::LoyaltyPoints {
                points: l.points,
                points_value: money_in(
                    l.points_value.as_ref(),
                    base,
                    &f("loyalty_points.points_value"),
                    v,
                ),
            }
        }
        Parameters::TierUpgrade(t) => {
            if !matches!(pb::LoyaltyTier::try_from(t.target_tier), Ok(tier) if tier != pb::LoyaltyTier::Unspecified)
            {
                v.add(f("tier_upgrade.target_tier"), "is required");
            }
            Params::TierUpgrade {
                target_tier: t.target_tier,
                duration_seconds: duration_seconds(
                    t.duration.as_ref(),
                    &f("tier_upgrade.duration"),
                    v,
                )
                .unwrap_or(90 * 86_400),
            }
        }
        Parameters::Bundle(b) => {
            if b.products.len() < 2 {
                v.add(f("bundle.products"), "at least two products are required");
            }
            for (i, product) in b.products.iter().enumerate() {
                if caravan_core::names::parse_child_name(product, "products").is_err() {
                    v.add(
                        f(&format!("bundle.products[{i}]")),
                        "must be merchants/{merchant}/products/{product}",
                    );
                }
            }
            Params::Bundle {
                products: b.products.clone(),
                percent_off: percent(b.percent_off, &f("bundle.percent_off"), v),
            }
        }
        Parameters::WinBackMessage(w) => {
            let channel = channel_from_proto(w.channel);
            if channel.is_none() {
                v.add(f("win_back_message.channel"), "is required");
            }
            if w.min_inactive_days < 0 {
                v.add(
                    f("win_back_message.min_inactive_days"),
                    "must not be negative",
                );
            }
            Params::WinBackMessage {
                channel: channel.unwrap_or(crate::customer::Channel::Email),
                template_id: w.template_id.clone(),
                min_inactive_days: if w.min_inactive_days == 0 {
                    90
                } else {
                    w.min_inactive_days
                },
            }
        }
        Parameters::SocialAdCampaign(s) => {
            if !matches!(common::SocialPlatform::try_from(s.platform), Ok(p) if p != common::SocialPlatform::Unspecified)
            {
                v.add(f("social_ad_campaign.platform"), "is required");
            }
            if s.budget.is_none() {
                v.add(f("social_ad_campaign.budget"), "is required");
            }
            Params::SocialAdCampaign {
                platform: s.platform,
                budget: money_in(s.budget.as_ref(), base, &f("social_ad_campaign.budget"), v),
                expected_cpm: money_in(
                    s.expected_cpm.as_ref(),
                    base,
                    &f("social_ad_campaign.expected_cpm"),
                    v,
                ),
            }
        }
    }
}

fn params_out(p: &Params, cur: &str) -> Parameters {
    let m = |x: i64| Some(money(x, cur));
    match p {
        Params::Coupon {
            percent_off,
            amount_off,
            min_spend,
            validity_seconds,
        } => Parameters::Coupon(pb::CouponParameters {
            discount: match (percent_off, amount_off) {
                (Some(x), _) => Some(pb::coupon_parameters::Discount::PercentOff(*x)),
                (None, Some(a)) => Some(pb::coupon_parameters::Discount::AmountOff(money(*a, cur))),
                _ => None,
            },
            min_spend: (*min_spend > 0).then(|| money(*min_spend, cur)),
            validity: Some(duration(*validity_seconds)),
        }),
        Params::FreeShipping {
            min_spend,
            country_codes,
            assumed_shipping_cost,
        } => Parameters::FreeShipping(pb::FreeShippingParameters {
            min_spend: (*min_spend > 0).then(|| money(*min_spend, cur)),
            country_codes: country_codes.clone(),
            assumed_shipping_cost: assumed_shipping_cost.map(|x| money(x, cur)),
        }),
        Params::ShippingSubsidy {
            subsidy_rate,
            max_subsidy,
            assumed_shipping_cost,
        } => Parameters::ShippingSubsidy(pb::ShippingSubsidyParameters {
            subsidy_rate: *subsidy_rate,
            max_subsidy: max_subsidy.map(|x| money(x, cur)),
            assumed_shipping_cost: assumed_shipping_cost.map(|x| money(x, cur)),
        }),
        Params::ExpeditedDelivery {
            days_saved,
            carrier,
        } => Parameters::ExpeditedDelivery(pb::ExpeditedDeliveryParameters {
            days_saved: *days_saved,
            carrier: carrier.clone(),
        }),
        Params::TrackingUpgrade {
            real_time_tracking,
            proactive_delay_notifications,
        } => Parameters::TrackingUpgrade(pb::TrackingUpgradeParameters {
            real_time_tracking: *real_time_tracking,
            proactive_delay_notifications: *proactive_delay_notifications,
        }),
        Params::AfterSalesGuarantee {
            free_return_days,
            late_delivery_compensation,
            resolution_hours,
        } => Parameters::AfterSalesGuarantee(pb::AfterSalesGuaranteeParameters {
            free_return_days: *free_return_days,
            late_delivery_compensation: m(*late_delivery_compensation),
            resolution_hours: *resolution_hours,
        }),
        Params::LoyaltyPoints {
            points,
            points_value,
        } => Parameters::LoyaltyPoints(pb::LoyaltyPointsParameters {
            points: *points,
            points_value: m(*points_value),
        }),
        Params::TierUpgrade {
            target_tier,
            duration_seconds,
        } => Parameters::TierUpgrade(pb::TierUpgradeParameters {
            target_tier: *target_tier,
            duration: Some(duration(*duration_seconds)),
        }),
        Params::Bundle {
            products,
            percent_off,
        } => Parameters::Bundle(pb::BundleParameters {
            products: products.clone(),
            percent_off: *percent_off,
        }),
        Params::WinBackMessage {
            channel,
            template_id,
            min_inactive_days,
        } => Parameters::WinBackMessage(pb::WinBackMessageParameters {
            channel: channel_to_proto(*channel) as i32,
            template_id: template_id.clone(),
            min_inactive_days: *min_inactive_days,
        }),
        Params::SocialAdCampaign {
            platform,
            budget,
            expected_cpm,
        } => Parameters::SocialAdCampaign(pb::SocialAdCampaignParameters {
            platform: *platform,
            budget: m(*budget),
            expected_cpm: (*expected_cpm > 0).then(|| money(*expected_cpm, cur)),
        }),
    }
}

/// Segment resource names -> ids (checked to belong to the merchant).
pub fn segment_id(name: &str, merchant_id: &str, field: &str, v: &mut FieldViolations) -> String {
    match caravan_core::names::parse_child_name(name, "segments") {
        Ok((m, id)) if m.as_str() == merchant_id => id,
        Ok(_) => {
            v.add(field, "segment of another merchant");
            String::new()
        }
        Err(e) => {
            v.add(field, e.to_string());
            String::new()
        }
    }
}

/// Validates a strategy for create/update. `kind` must match the parameters case.
pub fn strategy_in(
    s: &pb::Strategy,
    merchant_id: &str,
    base: &str,
) -> Result<StrategyFields, FieldViolations> {
    let mut v = FieldViolations::new();
    let display_name = s.display_name.trim().to_owned();
    if display_name.is_empty() || display_name.chars().count() > 255 {
        v.add(
            "strategy.display_name",
            "is required, at most 255 characters",
        );
    }
    if s.description.chars().count() > 4000 {
        v.add("strategy.description", "at most 4000 characters");
    }
    let params = match &s.parameters {
        Some(p) => {
            if s.kind != kind_of(p) as i32 {
                v.add(
                    "strategy.kind",
                    format!(
                        "must be {} to match the parameters",
                        kind_of(p).as_str_name()
                    ),
                );
            }
            Some(params_in(p, base, &mut v))
        }
        None => {
            v.add(
                "strategy.parameters",
                "kind-specific parameters are required",
            );
            None
        }
    };
    let cm = s.cost_model.clone().unwrap_or_default();
    if !(0.0..=1.0).contains(&cm.variable_cost_rate) {
        v.add(
            "strategy.cost_model.variable_cost_rate",
            "must be in [0, 1]",
        );
    }
    let cost = CostModel {
        fixed_cost_per_contact: money_in(
            cm.fixed_cost_per_contact.as_ref(),
            base,
            "strategy.cost_model.fixed_cost_per_contact",
            &mut v,
        ),
        variable_cost_rate: cm.variable_cost_rate,
        cost_per_conversion: money_in(
            cm.cost_per_conversion.as_ref(),
            base,
            "strategy.cost_model.cost_per_conversion",
            &mut v,
        ),
    };
    let e = s.eligibility.clone().unwrap_or_default();
    let mut eligibility = Eligibility {
        segments: e
            .segments
            .iter()
            .enumerate()
            .map(|(i, n)| {
                segment_id(
                    n,
                    merchant_id,
                    &format!("strategy.eligibility.segments[{i}]"),
                    &mut v,
                )
            })
            .collect(),
        country_codes: e.country_codes.clone(),
        required_consent: channel_from_proto(e.required_consent_channel),
        min_lifetime_value: money_in(
            e.min_customer_lifetime_value.as_ref(),
            base,
            "strategy.eligibility.min_customer_lifetime_value",
            &mut v,
        ),
        customer_kinds: Vec::new(),
    };
    for (i, cc) in e.country_codes.iter().enumerate() {
        if !caravan_core::iso::is_country(cc) {
            v.add(
                format!("strategy.eligibility.country_codes[{i}]"),
                format!("{cc:?} is not an ISO 3166-1 alpha-2 code"),
            );
        }
    }
    if e.required_consent_channel != 0 && eligibility.required_consent.is_none() {
        v.add(
            "strategy.eligibility.required_consent_channel",
            "unknown channel",
        );
    }
    for (i, k) in e.customer_kinds.iter().enumerate() {
        match common::CustomerKind::try_from(*k) {
            Ok(common::CustomerKind::Person) => {
                eligibility.customer_kinds.push(CustomerKind::Person)
            }
            Ok(common::CustomerKind::Enterprise) => {
                eligibility.customer_kinds.push(CustomerKind::Enterprise)
            }
            _ => v.add(
                format!("strategy.eligibility.customer_kinds[{i}]"),
                "must be PERSON or ENTERPRISE",
            ),
        }
    }
    let frequency_cap = match &s.frequency_cap {
        Some(cap) if cap.max_contacts > 0 => {
            let period =
                duration_seconds(cap.period.as_ref(), "strategy.frequency_cap.period", &mut v);
            if cap.period.is_none() {
                v.add(
                    "strategy.frequency_cap.period",
                    "is required with max_contacts",
                );
            }
            period.map(|p| FrequencyCap {
                max_contacts: cap.max_contacts,
                period_seconds: p,
            })
        }
        Some(cap) if cap.max_contacts < 0 => {
            v.add(
                "strategy.frequency_cap.max_contacts",
                "must not be negative",
            );
            None
        }
        _ => None,
    };
    match (v.is_empty(), params) {
        (true, Some(params)) => Ok(StrategyFields {
            display_name,
            description: s.description.clone(),
            params,
            cost,
            eligibility,
            frequency_cap,
        }),
        _ => Err(v),
    }
}

pub fn strategy_out(s: &StoredStrategy) -> pb::Strategy {
    let cur = &s.currency;
    let e = &s.spec.eligibility;
    pb::Strategy {
        name: s.spec.name.clone(),
        display_name: s.display_name.clone(),
        description: s.description.clone(),
        kind: kind_from_code(s.spec.params.kind_code()) as i32,
        parameters: Some(params_out(&s.spec.params, cur)),
        cost_model: Some(pb::CostModel {
            fixed_cost_per_contact: Some(money(s.spec.cost.fixed_cost_per_contact, cur)),
            variable_cost_rate: s.spec.cost.variable_cost_rate,
            cost_per_conversion: Some(money(s.spec.cost.cost_per_conversion, cur)),
        }),
        eligibility: Some(pb::Eligibility {
            segments: e
                .segments
                .iter()
                .map(|id| format!("merchants/{}/segments/{id}", s.merchant_id))
                .collect(),
            country_codes: e.country_codes.clone(),
            required_consent_channel: e.required_consent.map_or(0, |c| channel_to_proto(c) as i32),
            min_customer_lifetime_value: (e.min_lifetime_value > 0)
                .then(|| money(e.min_lifetime_value, cur)),
            customer_kinds: e
                .customer_kinds
                .iter()
                .map(|k| match k {
                    CustomerKind::Enterprise => common::CustomerKind::Enterprise as i32,
                    _ => common::CustomerKind::Person as i32,
                })
                .collect(),
        }),
        frequency_cap: s.spec.frequency_cap.map(|c| pb::FrequencyCap {
            max_contacts: c.max_contacts,
            period: Some(duration(c.period_seconds)),
        }),
        state: if s.state == ACTIVE {
            pb::StrategyState::Active as i32
        } else {
            pb::StrategyState::Archived as i32
        },
        create_time: Some(to_timestamp(s.created_at.get())),
        update_time: Some(to_timestamp(s.updated_at.get())),
        archive_time: (s.state != ACTIVE).then(|| to_timestamp(s.updated_at.get())),
    }
}
