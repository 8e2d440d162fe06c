//! GetProfile and ListProfiles.

use caravan_proto::caravan::profiling::v1 as pb;
use tonic::Status;

use super::{ProfilingApi, RpcResult};

pub async fn get(_api: &ProfilingApi, _request: pb::GetProfileRequest) -> RpcResult<pb::Profile> {
    Err(Status::unimplemented("get: not implemented yet"))
}

pub async fn list(
    _api: &ProfilingApi,
    _request: pb::ListProfilesRequest,
) -> RpcResult<pb::ListProfilesResponse> {
    Err(Status::unimplemented("list: not implemented yet"))
}
