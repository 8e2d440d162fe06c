//! GetProfile and ListProfiles.

use caravan_access::{AccessAction, AccessRecord, Principal, access_log};
use caravan_core::names::{MerchantId, parse_child_name};
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

/// GetProfile. `reveal_pii` needs the `pii` scope (checked before the RPC runs) and is
/// written to the access log before any personal data is read.
pub async fn get(
    api: &ProfilingApi,
    caller: &Principal,
    request: pb::GetProfileRequest,
) -> RpcResult<pb::Profile> {
    let (merchant, customer) = profile_ids(&request.name)?;
    let full = full_view(request.view)?;
    let as_of = super::selection::as_of(api, &merchant).await?;
    let Some(mut profile) = load_one(&api.db, &merchant, &customer, as_of).await? else {
        return Err(ProfilingError::NotFound(request.name).into());
    };
    super::segments::fill_memberships(api, &merchant, std::slice::from_mut(&mut profile)).await?;
    if !full {
        to_basic_view(&mut profile);
    }
    if request.reveal_pii {
        let merchant_id = MerchantId::parse(&merchant)
            .map_err(|e| ProfilingError::invalid("name", e.to_string()))?;
        access_log::record(
            &api.db,
            AccessRecord {
                principal: caller,
                merchant: &merchant_id,
                customer_id: &customer,
                rpc: "/caravan.profiling.v1.ProfilingService/GetProfile",
                action: AccessAction::RevealPii,
            },
        )
        .await
        .map_err(ProfilingError::from)?;
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
