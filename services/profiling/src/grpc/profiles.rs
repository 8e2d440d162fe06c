//! GetProfile and ListProfiles.

use caravan_core::names::parse_child_name;
use caravan_core::paging::request_fingerprint;
use caravan_proto::caravan::profiling::v1 as pb;
use tonic::Response;

use super::selection::{
    merchant_id, page, page_offset, page_size, parse_profile_filter, parse_profile_order, select,
    sort_profiles,
};
use super::{ProfilingApi, RpcResult};
use crate::error::ProfilingError;
use crate::profile_view::{fill_personal_data, load_one, to_basic_view};

/// Metadata key naming who reads personal data; required with `reveal_pii` and audited.
pub const PII_READER_HEADER: &str = "x-caravan-pii-reader";

fn full_view(view: i32) -> Result<bool, ProfilingError> {
    match pb::ProfileView::try_from(view) {
        Ok(pb::ProfileView::Full) => Ok(true),
        Ok(_) => Ok(false),
        Err(_) => Err(ProfilingError::invalid(
            "view",
            format!("{view} is not a ProfileView"),
        )),
    }
}

/// `(merchant, customer)` of `merchants/{m}/customers/{c}/profile`.
fn profile_ids(name: &str) -> Result<(String, String), ProfilingError> {
    let customer = name.strip_suffix("/profile").ok_or_else(|| {
        ProfilingError::invalid(
            "name",
            "must be merchants/{merchant}/customers/{customer}/profile",
        )
    })?;
    let (m, c) = parse_child_name(customer, "customers")
        .map_err(|e| ProfilingError::invalid("name", e.to_string()))?;
    Ok((m.as_str().to_owned(), c))
}

pub async fn get(
    api: &ProfilingApi,
    request: pb::GetProfileRequest,
    pii_reader: Option<String>,
) -> RpcResult<pb::Profile> {
    let (merchant, customer) = profile_ids(&request.name)?;
    let full = full_view(request.view)?;
    if request.reveal_pii && pii_reader.is_none() {
        return Err(tonic::Status::permission_denied(format!(
            "reveal_pii needs the caller to identify itself in the `{PII_READER_HEADER}` metadata (audited)"
        )));
    }
    let as_of = super::selection::as_of(api, &merchant).await?;
    let Some(mut profile) = load_one(&api.db, &merchant, &customer, as_of).await? else {
        return Err(ProfilingError::NotFound(request.name).into());
    };
    super::segments::fill_memberships(api, &merchant, std::slice::from_mut(&mut profile)).await?;
    if !full {
        to_basic_view(&mut profile);
    }
    if let Some(reader) = pii_reader.filter(|_| request.reveal_pii) {
        tracing::info!(target: "audit", reader = %reader, profile = %request.name, "personal data revealed");
    }
    let mut one = [profile];
    fill_personal_data(&api.db, &merchant, &mut one, request.reveal_pii).await?;
    let [profile] = one;
    Ok(Response::new(profile))
}

pub async fn list(
    api: &ProfilingApi,
    request: pb::ListProfilesRequest,
) -> RpcResult<pb::ListProfilesResponse> {
    let merchant = merchant_id(&request.parent, "parent")?;
    let size = page_size(request.page_size, 50, 500)?;
    let full = full_view(request.view)?;
    let filter = parse_profile_filter(&request.filter, "filter")?;
    let order = parse_profile_order(&request.order_by)?;
    let fingerprint = request_fingerprint(&[&request.parent, &request.filter, &request.order_by]);
    let offset = page_offset(&request.page_token, fingerprint)?;
    let mut profiles = select(api, &merchant, &[&filter]).await?;
    sort_profiles(&mut profiles, &order);
    let total_size = i64::try_from(profiles.len()).unwrap_or(i64::MAX);
    let (mut profiles, next_page_token) = page(profiles, offset, size, fingerprint);
    super::segments::fill_memberships(api, &merchant, &mut profiles).await?;
    if !full {
        profiles.iter_mut().for_each(to_basic_view);
    }
    fill_personal_data(&api.db, &merchant, &mut profiles, false).await?;
    Ok(Response::new(pb::ListProfilesResponse {
        profiles,
        next_page_token,
        total_size,
    }))
}
