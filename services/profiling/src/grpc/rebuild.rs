//! RebuildProfiles and GetRebuildJob.

use caravan_proto::caravan::profiling::v1 as pb;
use tonic::Status;

use super::{ProfilingApi, RpcResult};

pub async fn start(
    _api: &ProfilingApi,
    _request: pb::RebuildProfilesRequest,
) -> RpcResult<pb::RebuildJob> {
    Err(Status::unimplemented("start: not implemented yet"))
}

pub async fn get(
    _api: &ProfilingApi,
    _request: pb::GetRebuildJobRequest,
) -> RpcResult<pb::RebuildJob> {
    Err(Status::unimplemented("get: not implemented yet"))
}
