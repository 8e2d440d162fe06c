//! Segments: the eleven built-in RFM segments (virtual, read-only) and merchant-defined
//! segments stored as AIP-160 filters over profile fields. Membership is evaluated on the
//! current profiles at each call.

use caravan_core::paging::request_fingerprint;
use caravan_platform::FieldViolations;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::profiling::v1 as pb;
use caravan_store::UtcDateTime;
use caravan_store::entity::segments;
use caravan_store::sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::Response;

use super::selection::{
    merchant_id, page, page_offset, page_size, parse_profile_filter, parse_profile_order, select,
    sort_profiles,
};
use super::{ProfilingApi, RpcResult};
use crate::codes::rfm_segment_value;
use crate::error::ProfilingError;
use crate::filter::{self, FieldType, FieldValue};
use crate::profile_view::{fill_personal_data, to_basic_view};
use crate::rfm::RfmSegment;
use crate::segment_membership::{CustomSegment, memberships};

const MAX_NAME: usize = 255;
const MAX_DESCRIPTION: usize = 2000;
const MAX_FILTER: usize = 4000;

fn display(segment: RfmSegment) -> String {
    let slug = segment.slug().replace('-', " ");
    let mut c = slug.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn builtin(merchant: &str, segment: RfmSegment) -> pb::Segment {
    let value = rfm_segment_value(segment);
    pb::Segment {
        name: format!("merchants/{merchant}/segments/{}", segment.slug()),
        display_name: display(segment),
        description: format!(
            "Built-in RFM segment {}.",
            value.as_str_name().trim_start_matches("RFM_SEGMENT_")
        ),
        kind: pb::SegmentKind::BuiltInRfm as i32,
        rfm_segment: value as i32,
        filter: format!(
            "transactions.rfm.segment = {}",
            value.as_str_name().trim_start_matches("RFM_SEGMENT_")
        ),
        ..Default::default()
    }
}

fn custom(row: &segments::Model) -> pb::Segment {
    pb::Segment {
        name: format!("merchants/{}/segments/{}", row.merchant_id, row.id),
        display_name: row.display_name.clone(),
        description: row.description.clone().unwrap_or_default(),
        kind: pb::SegmentKind::Custom as i32,
        rfm_segment: 0,
        filter: row.filter.clone(),
        create_time: Some(to_timestamp(row.created_at.get())),
        update_time: Some(to_timestamp(row.updated_at.get())),
        ..Default::default()
    }
}

fn segment_ids(name: &str, field: &str) -> Result<(String, String), ProfilingError> {
    let bad = || ProfilingError::invalid(field, "must be merchants/{merchant}/segments/{segment}");
    let (m, id) = name.split_once("/segments/").ok_or_else(bad)?;
    if id.is_empty() || id.contains('/') {
        return Err(bad());
    }
    Ok((merchant_id(m, field)?, id.to_owned()))
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && (3..=63).contains(&id.len())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A segment by name (built-in or stored), without its member count.
async fn find(api: &ProfilingApi, merchant: &str, id: &str) -> Result<pb::Segment, ProfilingError> {
    if let Some(s) = RfmSegment::from_slug(id) {
        return Ok(builtin(merchant, s));
    }
    segments::Entity::find_by_id((merchant.to_owned(), id.to_owned()))
        .one(&api.db)
        .await?
        .map(|row| custom(&row))
        .ok_or_else(|| ProfilingError::NotFound(format!("merchants/{merchant}/segments/{id}")))
}

/// The filter of a segment resource.
pub(crate) async fn segment_filter(
    api: &ProfilingApi,
    name: &str,
    field: &str,
) -> Result<(String, filter::Filter), ProfilingError> {
    let (merchant, id) = segment_ids(name, field)?;
    let segment = find(api, &merchant, &id).await?;
    let parsed = parse_profile_filter(&segment.filter, field)?;
    Ok((merchant, parsed))
}

/// How long a merchant's parsed custom segments are reused. A segment written on this
/// replica is seen at once; one written on another replica within this time.
const SEGMENT_TTL: Duration = Duration::from_secs(5);

/// A merchant's parsed custom segments and when they were read.
type StampedSegments = (Arc<Vec<CustomSegment>>, Instant);

/// Merchant id -> its custom segments, and per merchant a count of this replica's segment
/// writes: a read that started before a write must not put its older list back.
#[derive(Default)]
struct SegmentCacheState {
    lists: HashMap<String, StampedSegments>,
    writes: HashMap<String, u64>,
}

#[derive(Clone, Default)]
pub(crate) struct SegmentCache(Arc<Mutex<SegmentCacheState>>);

impl SegmentCache {
    fn forget(&self, merchant: &str) {
        if let Ok(mut state) = self.0.lock() {
            state.lists.remove(merchant);
            *state.writes.entry(merchant.to_owned()).or_default() += 1;
        }
    }

    /// The fresh list, or the write count to hand back to [`Self::keep`].
    fn lookup(&self, merchant: &str) -> Result<Arc<Vec<CustomSegment>>, u64> {
        let Ok(state) = self.0.lock() else {
            return Err(u64::MAX);
        };
        match state.lists.get(merchant) {
            Some((list, read)) if read.elapsed() < SEGMENT_TTL => Ok(list.clone()),
            _ => Err(state.writes.get(merchant).copied().unwrap_or(0)),
        }
    }

    /// Caches `list`, read when the write count was `writes`, unless a write came since.
    fn keep(&self, merchant: &str, writes: u64, list: Arc<Vec<CustomSegment>>) {
        if let Ok(mut state) = self.0.lock()
            && state.writes.get(merchant).copied().unwrap_or(0) == writes
        {
            state
                .lists
                .insert(merchant.to_owned(), (list, Instant::now()));
        }
    }
}

/// The merchant's custom segments with their filters parsed, sorted by id.
async fn custom_segments(
    api: &ProfilingApi,
    merchant: &str,
) -> Result<Arc<Vec<CustomSegment>>, ProfilingError> {
    let writes = match api.segment_cache.lookup(merchant) {
        Ok(list) => return Ok(list),
        Err(writes) => writes,
    };
    let list: Arc<Vec<CustomSegment>> = Arc::new(
        segments::Entity::find()
            .filter(segments::Column::MerchantId.eq(merchant))
            .order_by_asc(segments::Column::Id)
            .all(&api.db)
            .await?
            .into_iter()
            // A stored filter that no longer parses matches nobody (as in the counts).
            .filter_map(|row| {
                let filter = parse_profile_filter(&row.filter, "filter").ok()?;
                Some(CustomSegment { id: row.id, filter })
            })
            .collect(),
    );
    api.segment_cache.keep(merchant, writes, list.clone());
    Ok(list)
}

/// Sets `segments` on each profile (built-in and matching custom segments). Call it on
/// full profiles, before any view trims them: filters may read any field.
pub(crate) async fn fill_memberships(
    api: &ProfilingApi,
    merchant: &str,
    profiles: &mut [pb::Profile],
) -> Result<(), ProfilingError> {
    if profiles.is_empty() {
        return Ok(());
    }
    let custom = custom_segments(api, merchant).await?;
    for p in profiles {
        p.segments = memberships(merchant, p, &custom);
    }
    Ok(())
}

async fn with_counts(
    api: &ProfilingApi,
    merchant: &str,
    mut list: Vec<pb::Segment>,
) -> Result<Vec<pb::Segment>, ProfilingError> {
    let all = select(api, merchant, &[]).await?;
    let now = Some(to_timestamp(Utc::now()));
    for s in &mut list {
        // Stored filters were checked when saved; a filter that no longer parses (a field
        // removed in a later version) counts no members rather than failing the listing.
        let count = parse_profile_filter(&s.filter, "filter")
            .map(|f| {
                all.iter()
                    .filter(|p| f.matches(&|path| crate::profile_fields::field_value(p, path)))
                    .count()
            })
            .unwrap_or(0);
        s.member_count = i64::try_from(count).unwrap_or(i64::MAX);
        s.member_count_time.clone_from(&now);
    }
    Ok(list)
}

fn check_fields(segment: &pb::Segment, paths: &[&str], v: &mut FieldViolations) {
    for path in paths {
        match *path {
            "display_name" => {
                let n = segment.display_name.trim();
                if n.is_empty() {
                    v.add("segment.display_name", "required");
                } else if n.chars().count() > MAX_NAME {
                    v.add(
                        "segment.display_name",
                        format!("at most {MAX_NAME} characters"),
                    );
                }
            }
            "description" if segment.description.chars().count() > MAX_DESCRIPTION => {
                v.add(
                    "segment.description",
                    format!("at most {MAX_DESCRIPTION} characters"),
                );
            }
            "filter" => {
                if segment.filter.trim().is_empty() {
                    v.add("segment.filter", "required");
                } else if segment.filter.len() > MAX_FILTER {
                    v.add("segment.filter", format!("at most {MAX_FILTER} bytes"));
                } else if let Err(ProfilingError::Invalid(e)) =
                    parse_profile_filter(&segment.filter, "segment.filter")
                {
                    v.extend(e);
                }
            }
            _ => {}
        }
    }
}

pub async fn create(
    api: &ProfilingApi,
    request: pb::CreateSegmentRequest,
) -> RpcResult<pb::Segment> {
    let mut v = FieldViolations::new();
    let merchant = match merchant_id(&request.parent, "parent") {
        Ok(m) => Some(m),
        Err(ProfilingError::Invalid(e)) => {
            v.extend(e);
            None
        }
        Err(e) => return Err(e.into()),
    };
    if !valid_id(&request.segment_id) {
        v.add("segment_id", "must match [a-z][a-z0-9-]{2,62}");
    } else if RfmSegment::from_slug(&request.segment_id).is_some() {
        v.add("segment_id", "is the id of a built-in segment");
    }
    let segment = request.segment.unwrap_or_default();
    check_fields(&segment, &["display_name", "description", "filter"], &mut v);
    v.into_result().map_err(ProfilingError::from)?;
    let merchant = merchant.unwrap_or_default();
    super::selection::as_of(api, &merchant).await?;
    let now = UtcDateTime::now();
    let row = segments::Model {
        merchant_id: merchant.clone(),
        id: request.segment_id.clone(),
        display_name: segment.display_name.trim().to_owned(),
        filter: segment.filter.trim().to_owned(),
        builtin: false,
        created_at: now,
        updated_at: now,
        description: (!segment.description.trim().is_empty())
            .then(|| segment.description.trim().to_owned()),
    };
    match segments::ActiveModel::from(row.clone())
        .insert(&api.db)
        .await
    {
        Ok(_) => {}
        Err(e) if caravan_store::is_unique_violation(&e) => {
            return Err(ProfilingError::AlreadyExists(format!(
                "merchants/{merchant}/segments/{}",
                request.segment_id
            ))
            .into());
        }
        Err(e) => return Err(ProfilingError::from(e).into()),
    }
    api.segment_cache.forget(&merchant);
    let mut out = with_counts(api, &merchant, vec![custom(&row)]).await?;
    Ok(Response::new(out.remove(0)))
}

pub async fn get(api: &ProfilingApi, request: pb::GetSegmentRequest) -> RpcResult<pb::Segment> {
    let (merchant, id) = segment_ids(&request.name, "name")?;
    let segment = find(api, &merchant, &id).await?;
    let mut out = with_counts(api, &merchant, vec![segment]).await?;
    Ok(Response::new(out.remove(0)))
}

pub async fn update(
    api: &ProfilingApi,
    request: pb::UpdateSegmentRequest,
) -> RpcResult<pb::Segment> {
    let segment = request
        .segment
        .ok_or_else(|| ProfilingError::invalid("segment", "required"))?;
    let (merchant, id) = segment_ids(&segment.name, "segment.name")?;
    let mut paths: Vec<String> = request.update_mask.map(|m| m.paths).unwrap_or_default();
    if paths.is_empty() {
        paths = vec!["display_name".into(), "description".into(), "filter".into()];
    }
    let mut v = FieldViolations::new();
    for p in &paths {
        if !matches!(p.as_str(), "display_name" | "description" | "filter") {
            v.add("update_mask", format!("'{p}' cannot be updated"));
        }
    }
    check_fields(
        &segment,
        &paths.iter().map(String::as_str).collect::<Vec<_>>(),
        &mut v,
    );
    v.into_result().map_err(ProfilingError::from)?;
    if RfmSegment::from_slug(&id).is_some() {
        return Err(ProfilingError::FailedPrecondition(format!(
            "{} is a built-in segment and read-only",
            segment.name
        ))
        .into());
    }
    let row = segments::Entity::find_by_id((merchant.clone(), id.clone()))
        .one(&api.db)
        .await
        .map_err(ProfilingError::from)?
        .ok_or_else(|| ProfilingError::NotFound(segment.name.clone()))?;
    let mut am: segments::ActiveModel = row.into();
    for p in &paths {
        match p.as_str() {
            "display_name" => am.display_name = Set(segment.display_name.trim().to_owned()),
            "description" => {
                am.description = Set((!segment.description.trim().is_empty())
                    .then(|| segment.description.trim().to_owned()))
            }
            _ => am.filter = Set(segment.filter.trim().to_owned()),
        }
    }
    am.updated_at = Set(UtcDateTime::now());
    let saved = am.update(&api.db).await.map_err(ProfilingError::from)?;
    api.segment_cache.forget(&merchant);
    let mut out = with_counts(api, &merchant, vec![custom(&saved)]).await?;
    Ok(Response::new(out.remove(0)))
}

pub async fn delete(api: &ProfilingApi, request: pb::DeleteSegmentRequest) -> RpcResult<()> {
    let (merchant, id) = segment_ids(&request.name, "name")?;
    if RfmSegment::from_slug(&id).is_some() {
        return Err(ProfilingError::FailedPrecondition(format!(
            "{} is a built-in segment and cannot be deleted",
            request.name
        ))
        .into());
    }
    let res = segments::Entity::delete_many()
        .filter(segments::Column::MerchantId.eq(&merchant))
        .filter(segments::Column::Id.eq(&id))
        .exec(&api.db)
        .await
        .map_err(ProfilingError::from)?;
    api.segment_cache.forget(&merchant);
    if res.rows_affected == 0 {
        return Err(ProfilingError::NotFound(request.name).into());
    }
    Ok(Response::new(()))
}

fn segment_field(path: &str) -> Option<FieldType> {
    Some(match path {
        "kind" => FieldType::Enum("SEGMENT_KIND_"),
        "display_name" => FieldType::Text,
        _ => return None,
    })
}

pub async fn list(
    api: &ProfilingApi,
    request: pb::ListSegmentsRequest,
) -> RpcResult<pb::ListSegmentsResponse> {
    let merchant = merchant_id(&request.parent, "parent")?;
    let size = page_size(request.page_size, 50, 500)?;
    let filter = filter::parse(&request.filter, &segment_field)
        .map_err(|e| ProfilingError::invalid("filter", e))?;
    let fingerprint = request_fingerprint(&[&request.parent, &request.filter]);
    let offset = page_offset(&request.page_token, fingerprint)?;
    super::selection::as_of(api, &merchant).await?;
    let mut all: Vec<pb::Segment> = RfmSegment::ALL
        .into_iter()
        .map(|s| builtin(&merchant, s))
        .collect();
    all.extend(
        segments::Entity::find()
            .filter(segments::Column::MerchantId.eq(&merchant))
            .order_by_asc(segments::Column::Id)
            .all(&api.db)
            .await
            .map_err(ProfilingError::from)?
            .iter()
            .map(custom),
    );
    all.retain(|s| {
        filter.matches(&|p| match p {
            "kind" => pb::SegmentKind::try_from(s.kind).map_or(FieldValue::Missing, |k| {
                FieldValue::Enum(k.as_str_name().to_owned())
            }),
            "display_name" => FieldValue::Text(s.display_name.clone()),
            _ => FieldValue::Missing,
        })
    });
    let (segments, next_page_token) = page(all, offset, size, fingerprint);
    let segments = with_counts(api, &merchant, segments).await?;
    Ok(Response::new(pb::ListSegmentsResponse {
        segments,
        next_page_token,
    }))
}

pub async fn members(
    api: &ProfilingApi,
    request: pb::ListSegmentMembersRequest,
) -> RpcResult<pb::ListSegmentMembersResponse> {
    let (merchant, filter) = segment_filter(api, &request.parent, "parent").await?;
    let size = page_size(request.page_size, 100, 1000)?;
    let view = pb::ProfileView::try_from(request.view)
        .map_err(|_| ProfilingError::invalid("view", "not a ProfileView"))?;
    let order = parse_profile_order(&request.order_by)?;
    let fingerprint = request_fingerprint(&[&request.parent, &request.order_by]);
    let offset = page_offset(&request.page_token, fingerprint)?;
    let mut profiles = select(api, &merchant, &[&filter]).await?;
    sort_profiles(&mut profiles, &order);
    let total_size = i64::try_from(profiles.len()).unwrap_or(i64::MAX);
    let (mut profiles, next_page_token) = page(profiles, offset, size, fingerprint);
    if view != pb::ProfileView::Unspecified {
        fill_memberships(api, &merchant, &mut profiles).await?;
    }
    let members = if view == pb::ProfileView::Unspecified {
        profiles
            .into_iter()
            .map(|p| pb::SegmentMember {
                customer: p.customer,
                profile: None,
            })
            .collect()
    } else {
        if view == pb::ProfileView::Basic {
            profiles.iter_mut().for_each(to_basic_view);
        }
        fill_personal_data(&api.db, &merchant, &mut profiles, false).await?;
        profiles
            .into_iter()
            .map(|p| pb::SegmentMember {
                customer: p.customer.clone(),
                profile: Some(p),
            })
            .collect()
    };
    Ok(Response::new(pb::ListSegmentMembersResponse {
        members,
        next_page_token,
        total_size,
    }))
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    #[test]
    fn a_read_that_started_before_a_write_is_not_cached() {
        let cache = SegmentCache::default();
        let writes = cache.lookup("acme").expect_err("empty cache");
        cache.forget("acme"); // a segment write while the read ran
        cache.keep("acme", writes, Arc::new(Vec::new()));
        assert!(cache.lookup("acme").is_err(), "the older list was not kept");
        let writes = cache.lookup("acme").expect_err("still empty");
        cache.keep("acme", writes, Arc::new(Vec::new()));
        assert!(cache.lookup("acme").is_ok());
    }
}
