//! Which segments one profile belongs to: its built-in RFM segment and every custom
//! segment whose saved filter matches it. Pure; the gRPC layer loads the filters.

use caravan_proto::caravan::profiling::v1 as pb;

use crate::codes::rfm_segment_value;
use crate::filter::Filter;
use crate::profile_fields::field_value;
use crate::rfm::RfmSegment;

/// A merchant's custom segment, its filter parsed.
#[derive(Debug)]
pub struct CustomSegment {
    pub id: String,
    pub filter: Filter,
}

/// The built-in segment the profile's RFM scores map to, if it has any.
pub fn builtin_segment(profile: &pb::Profile) -> Option<RfmSegment> {
    let value = profile.transactions.as_ref()?.rfm.as_ref()?.segment;
    RfmSegment::ALL
        .into_iter()
        .find(|s| rfm_segment_value(*s) as i32 == value)
}

/// Segment resource names for the profile, built-in first, then custom ones in the
/// order given (the caller passes them sorted by id).
pub fn memberships(merchant: &str, profile: &pb::Profile, custom: &[CustomSegment]) -> Vec<String> {
    let lookup = |path: &str| field_value(profile, path);
    builtin_segment(profile)
        .map(|s| s.slug().to_owned())
        .into_iter()
        .chain(
            custom
                .iter()
                .filter(|c| c.filter.matches(&lookup))
                .map(|c| c.id.clone()),
        )
        .map(|id| format!("merchants/{merchant}/segments/{id}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile_fields::field_type;
    use caravan_proto::caravan::common::v1 as common;

    fn custom(id: &str, filter: &str) -> CustomSegment {
        CustomSegment {
            id: id.to_owned(),
            filter: crate::filter::parse(filter, &field_type).expect("valid filter"),
        }
    }

    fn profile(segment: common::RfmSegment, orders: i64) -> pb::Profile {
        pb::Profile {
            transactions: Some(pb::TransactionsDimension {
                order_count: orders,
                rfm: Some(pb::RfmScore {
                    segment: segment as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn builtin_first_then_matching_custom_segments() {
        let segments = [
            custom("big-buyers", "transactions.order_count >= 5"),
            custom(
                "at-risk-big",
                "transactions.rfm.segment = AT_RISK AND transactions.order_count > 3",
            ),
            custom("one-timers", "transactions.order_count = 1"),
        ];
        let p = profile(common::RfmSegment::AtRisk, 7);
        assert_eq!(
            memberships("acme", &p, &segments),
            vec![
                "merchants/acme/segments/at-risk",
                "merchants/acme/segments/big-buyers",
                "merchants/acme/segments/at-risk-big",
            ]
        );
    }

    #[test]
    fn a_profile_without_orders_has_no_builtin_segment() {
        let p = pb::Profile {
            transactions: Some(pb::TransactionsDimension::default()),
            ..Default::default()
        };
        assert_eq!(builtin_segment(&p), None);
        let segments = [custom("no-orders", "transactions.order_count = 0")];
        assert_eq!(
            memberships("acme", &p, &segments),
            vec!["merchants/acme/segments/no-orders"]
        );
    }
}
