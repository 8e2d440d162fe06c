//! GetCustomerAnalytics.

use caravan_proto::caravan::profiling::v1 as pb;
use tonic::Status;

use super::{ProfilingApi, RpcResult};

pub async fn get(
    _api: &ProfilingApi,
    _request: pb::GetCustomerAnalyticsRequest,
) -> RpcResult<pb::GetCustomerAnalyticsResponse> {
    Err(Status::unimplemented("get: not implemented yet"))
}
