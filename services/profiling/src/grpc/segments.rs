//! Segments and their members.

use caravan_proto::caravan::profiling::v1 as pb;
use tonic::Status;

use super::{ProfilingApi, RpcResult};

pub async fn create(
    _api: &ProfilingApi,
    _request: pb::CreateSegmentRequest,
) -> RpcResult<pb::Segment> {
    Err(Status::unimplemented("create: not implemented yet"))
}

pub async fn get(_api: &ProfilingApi, _request: pb::GetSegmentRequest) -> RpcResult<pb::Segment> {
    Err(Status::unimplemented("get: not implemented yet"))
}

pub async fn update(
    _api: &ProfilingApi,
    _request: pb::UpdateSegmentRequest,
) -> RpcResult<pb::Segment> {
    Err(Status::unimplemented("update: not implemented yet"))
}

pub async fn delete(_api: &ProfilingApi, _request: pb::DeleteSegmentRequest) -> RpcResult<()> {
    Err(Status::unimplemented("delete: not implemented yet"))
}

pub async fn list(
    _api: &ProfilingApi,
    _request: pb::ListSegmentsRequest,
) -> RpcResult<pb::ListSegmentsResponse> {
    Err(Status::unimplemented("list: not implemented yet"))
}

pub async fn members(
    _api: &ProfilingApi,
    _request: pb::ListSegmentMembersRequest,
) -> RpcResult<pb::ListSegmentMembersResponse> {
    Err(Status::unimplemented("members: not implemented yet"))
}
