//! GetCustomerAnalytics: distributions of a merchant's (or a segment's) customers over the
//! dimensions of the behaviour report.

use std::collections::HashMap;

use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::profiling::v1 as pb;
use tonic::Response;

use super::segments::segment_filter;
use super::selection::{merchant_id, parse_profile_filter, select};
use super::{ProfilingApi, RpcResult};
use crate::error::ProfilingError;
use crate::filter::Filter;
use crate::profile_builder::rule_tags::top_category;

/// Every dimension, in enum order (used when the request names none).
const ALL: [pb::AnalyticsDimension; 12] = [
    pb::AnalyticsDimension::AgeBand,
    pb::AnalyticsDimension::Country,
    pb::AnalyticsDimension::CityTier,
    pb::AnalyticsDimension::TrafficSource,
    pb::AnalyticsDimension::PaymentMethod,
    pb::AnalyticsDimension::Category,
    pb::AnalyticsDimension::DecisionStage,
    pb::AnalyticsDimension::RfmSegment,
    pb::AnalyticsDimension::CustomerKind,
    pb::AnalyticsDimension::AcquisitionChannel,
    pb::AnalyticsDimension::DeviceType,
    pb::AnalyticsDimension::Gender,
];

fn name_of<E: TryFrom<i32>>(v: i32, name: fn(&E) -> &'static str) -> Option<String> {
    if v == 0 {
        return None;
    }
    E::try_from(v).ok().map(|e| name(&e).to_owned())
}

fn person(p: &pb::Profile) -> Option<&pb::BasicPersonDimension> {
    match &p.basic {
        Some(pb::profile::Basic::Person(b)) => Some(b),
        _ => None,
    }
}

/// The bucket key of a profile on one dimension; `None` becomes "UNKNOWN".
pub fn bucket(p: &pb::Profile, d: pb::AnalyticsDimension) -> Option<String> {
    use pb::AnalyticsDimension as D;
    match d {
        D::Unspecified => None,
        D::AgeBand => person(p).and_then(|b| name_of(b.age_band, common::AgeBand::as_str_name)),
        D::Country => match &p.basic {
            Some(pb::profile::Basic::Person(b)) => Some(b.country_code.clone()),
            Some(pb::profile::Basic::Enterprise(b)) => Some(b.country_code.clone()),
            None => None,
        }
        .filter(|c| !c.is_empty()),
        D::CityTier => person(p).and_then(|b| name_of(b.city_tier, common::CityTier::as_str_name)),
        D::TrafficSource => p
            .website_behaviour
            .as_ref()
            .and_then(|w| w.traffic_source_mix.first())
            .and_then(|s| name_of(s.traffic_source, common::TrafficSource::as_str_name)),
        D::PaymentMethod => p.transactions.as_ref().and_then(|t| {
            name_of(
                t.preferred_payment_method,
                common::PaymentMethod::as_str_name,
            )
        }),
        D::Category => p
            .content_preference
            .as_ref()
            .and_then(|c| c.category_affinities.first())
            .map(|a| top_category(&a.key).to_owned())
            .filter(|c| !c.is_empty()),
        D::DecisionStage => p
            .decision_stage
            .as_ref()
            .and_then(|s| name_of(s.stage, common::DecisionStage::as_str_name)),
        D::RfmSegment => p
            .transactions
            .as_ref()
            .and_then(|t| t.rfm.as_ref())
            .and_then(|r| name_of(r.segment, common::RfmSegment::as_str_name)),
        D::CustomerKind => name_of(p.kind, common::CustomerKind::as_str_name),
        D::AcquisitionChannel => person(p).and_then(|b| {
            name_of(
                b.acquisition_channel,
                common::AcquisitionChannel::as_str_name,
            )
        }),
        D::DeviceType => p
            .website_behaviour
            .as_ref()
            .and_then(|w| w.device_mix.first())
            .and_then(|s| name_of(s.device_type, common::DeviceType::as_str_name)),
        D::Gender => person(p).and_then(|b| name_of(b.gender, common::Gender::as_str_name)),
    }
}

/// The distribution of `profiles` over `d`: buckets largest first (ties by key), shares
/// adding up to 1.
pub fn distribution(profiles: &[pb::Profile], d: pb::AnalyticsDimension) -> pb::Distribution {
    let mut counts: HashMap<String, i64> = HashMap::new();
    for p in profiles {
        *counts
            .entry(bucket(p, d).unwrap_or_else(|| "UNKNOWN".to_owned()))
            .or_default() += 1;
    }
    #[allow(clippy::cast_precision_loss)]
    let total = profiles.len().max(1) as f64;
    let mut buckets: Vec<pb::DistributionBucket> = counts
        .into_iter()
        .map(|(key, count)| {
            #[allow(clippy::cast_precision_loss)]
            let share = count as f64 / total;
            pb::DistributionBucket { key, count, share }
        })
        .collect();
    buckets.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    pb::Distribution {
        dimension: d as i32,
        buckets,
    }
}

pub async fn get(
    api: &ProfilingApi,
    request: pb::GetCustomerAnalyticsRequest,
) -> RpcResult<pb::GetCustomerAnalyticsResponse> {
    let merchant = merchant_id(&request.parent, "parent")?;
    let mut dims = Vec::new();
    for (i, d) in request.dimensions.iter().enumerate() {
        match pb::AnalyticsDimension::try_from(*d) {
            Ok(pb::AnalyticsDimension::Unspecified) | Err(_) => {
                return Err(ProfilingError::invalid(
                    &format!("dimensions[{i}]"),
                    format!("{d} is not an analytics dimension"),
                )
                .into());
            }
            Ok(dim) => dims.push(dim),
        }
    }
    if dims.is_empty() {
        dims = ALL.to_vec();
    }
    let extra = parse_profile_filter(&request.filter, "filter")?;
    let mut filters: Vec<Filter> = vec![extra];
    if !request.segment.is_empty() {
        let (segment_merchant, f) = segment_filter(api, &request.segment, "segment").await?;
        if segment_merchant != merchant {
            return Err(ProfilingError::invalid("segment", "belongs to another merchant").into());
        }
        filters.push(f);
    }
    let refs: Vec<&Filter> = filters.iter().collect();
    let profiles = select(api, &merchant, &refs).await?;
    Ok(Response::new(pb::GetCustomerAnalyticsResponse {
        customer_count: i64::try_from(profiles.len()).unwrap_or(i64::MAX),
        distributions: dims
            .into_iter()
            .map(|d| distribution(&profiles, d))
            .collect(),
    }))
}
