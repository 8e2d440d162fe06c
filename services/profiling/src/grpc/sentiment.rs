//! AnalyzeSentiment.

use caravan_proto::caravan::profiling::v1 as pb;
use tonic::Status;

use super::{ProfilingApi, RpcResult};

pub async fn analyze(
    _api: &ProfilingApi,
    _request: pb::AnalyzeSentimentRequest,
) -> RpcResult<pb::AnalyzeSentimentResponse> {
    Err(Status::unimplemented("analyze: not implemented yet"))
}
