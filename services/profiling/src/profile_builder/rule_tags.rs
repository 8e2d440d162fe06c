//! Rule tags: labels derived from the computed portrait. Each rule states its evidence
//! count; confidence grows with evidence (`1 - e^(-n/3)`), so a tag seen once is tentative
//! and one seen ten times is firm ("labels get thicker").

use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::profiling::v1 as pb;

use super::{CustomerData, saturation};

/// A tag a rule assigns, with its support.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleTag {
    pub key: String,
    pub value: String,
    pub confidence: f64,
    pub evidence_count: i64,
    /// The rule id, e.g. `rule.price-sensitivity`.
    pub producer: String,
    /// Why, in English.
    pub reason: String,
}

/// The tag id of a key and value: lower-case, non-alphanumerics replaced by `-`.
pub fn tag_id(key: &str, value: &str) -> String {
    let mut id = String::new();
    for c in format!("{key}-{value}").chars() {
        if c.is_alphanumeric() {
            id.extend(c.to_lowercase());
        } else if !id.ends_with('-') {
            id.push('-');
        }
    }
    id.trim_matches('-').chars().take(128).collect()
}

fn tag(key: &str, value: &str, evidence: i64, reason: String) -> RuleTag {
    #[allow(clippy::cast_precision_loss)]
    let confidence = saturation(evidence as f64, 3.0);
    RuleTag {
        key: key.to_owned(),
        value: value.to_owned(),
        confidence,
        evidence_count: evidence,
        producer: format!("rule.{key}"),
        reason,
    }
}

fn enum_slug(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix)
        .to_lowercase()
        .replace('_', "-")
}

/// The top-level category of a path such as `Home > Kitchen > Mugs`.
pub fn top_category(path: &str) -> &str {
    path.split(['>', '/']).next().unwrap_or(path).trim()
}

/// Every rule tag that holds for `p`.
pub fn derive(p: &pb::Profile, _data: &CustomerData) -> Vec<RuleTag> {
    let mut tags = Vec::new();
    if let Some(t) = &p.transactions {
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let discounted = (t.discount_order_share * t.order_count as f64).round() as i64;
        if t.order_count >= 2 && t.discount_order_share >= 0.5 {
            tags.push(tag(
                "price-sensitivity",
                "high",
                discounted,
                format!("{discounted} of {} orders used a discount", t.order_count),
            ));
        }
        if let Some(l) = &t.logistics
            && let Some(after) = &l.post_delay_behaviour
            && after.delayed_order_count >= 1
            && (after.ticket_rate >= 0.5
                || after.negative_review_rate >= 0.5
                || after.return_rate >= 0.5)
        {
            tags.push(tag(
                "logistics-sensitivity",
                "high",
                after.delayed_order_count,
                format!(
                    "{} late deliveries followed by tickets, bad reviews or returns",
                    after.delayed_order_count
                ),
            ));
        }
        if t.preferred_payment_method != 0 && t.order_count >= 2 {
            let name = common::PaymentMethod::try_from(t.preferred_payment_method)
                .map(|m| enum_slug(m.as_str_name(), "PAYMENT_METHOD_"))
                .unwrap_or_default();
            tags.push(tag(
                "payment",
                &name,
                t.order_count,
                format!("pays with {name} most often"),
            ));
        }
    }
    if let Some(c) = &p.content_preference {
        for a in c
            .category_affinities
            .iter()
            .filter(|a| a.score >= 0.5)
            .take(3)
        {
            let top = top_category(&a.key);
            if top.is_empty() || tags.iter().any(|t| t.key == "interest" && t.value == top) {
                continue;
            }
            tags.push(tag(
                "interest",
                top,
                a.evidence_count,
                format!("category affinity {:.2} for {}", a.score, a.key),
            ));
        }
    }
    if let Some(f) = &p.evaluation_feedback
        && f.return_rate >= 0.3
        && p.transactions.as_ref().is_some_and(|t| t.order_count >= 2)
    {
        tags.push(tag(
            "returns",
            "frequent",
            p.transactions.as_ref().map_or(0, |t| t.order_count),
            format!("returned {:.0}% of units", f.return_rate * 100.0),
        ));
    }
    if let Some(s) = &p.social_sharing {
        let actions = s.share_count + s.referral_count;
        if actions >= 3 {
            tags.push(tag(
                "social",
                "sharer",
                actions,
                format!(
                    "{} shares and {} referrals",
                    s.share_count, s.referral_count
                ),
            ));
        }
    }
    if let Some(b) = &p.website_behaviour
        && b.session_count >= 3
        && let Some(top) = b.device_mix.first()
        && top.share >= 0.6
    {
        let name = common::DeviceType::try_from(top.device_type)
            .map(|d| enum_slug(d.as_str_name(), "DEVICE_TYPE_"))
            .unwrap_or_default();
        tags.push(tag(
            "device",
            &name,
            b.session_count,
            format!("{:.0}% of sessions on {name}", top.share * 100.0),
        ));
    }
    if let Some(o) = &p.purchasing_potential {
        let evidence = o.inquiry_count + o.rfq_count + o.sample_order_count;
        let level = if o.score >= 60.0 {
            Some("hot")
        } else if o.score >= 30.0 {
            Some("warm")
        } else {
            None
        };
        if let Some(level) = level.filter(|_| evidence > 0) {
            tags.push(tag(
                "b2b-lead",
                level,
                evidence,
                format!("purchasing potential {:.0}", o.score),
            ));
        }
    }
    if let Some(stage) = &p.decision_stage
        && stage.stage != 0
        && !stage.evidence.is_empty()
    {
        let name = common::DecisionStage::try_from(stage.stage)
            .map(|s| enum_slug(s.as_str_name(), "DECISION_STAGE_"))
            .unwrap_or_default();
        tags.push(tag(
            "decision-stage",
            &name,
            i64::try_from(stage.evidence.len()).unwrap_or(0),
            format!("stage {name} with confidence {:.2}", stage.confidence),
        ));
    }
    tags
}
