//! Tags and their history.

use caravan_proto::caravan::profiling::v1 as pb;
use tonic::Status;

use super::{ProfilingApi, RpcResult};

pub async fn list(
    _api: &ProfilingApi,
    _request: pb::ListTagsRequest,
) -> RpcResult<pb::ListTagsResponse> {
    Err(Status::unimplemented("list: not implemented yet"))
}

pub async fn create(_api: &ProfilingApi, _request: pb::CreateTagRequest) -> RpcResult<pb::Tag> {
    Err(Status::unimplemented("create: not implemented yet"))
}

pub async fn delete(_api: &ProfilingApi, _request: pb::DeleteTagRequest) -> RpcResult<()> {
    Err(Status::unimplemented("delete: not implemented yet"))
}

pub async fn history(
    _api: &ProfilingApi,
    _request: pb::ListTagHistoryRequest,
) -> RpcResult<pb::ListTagHistoryResponse> {
    Err(Status::unimplemented("history: not implemented yet"))
}
