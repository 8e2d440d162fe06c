//! Value models: fit, get, list, predict.

use caravan_proto::caravan::profiling::v1 as pb;
use tonic::Status;

use super::{ProfilingApi, RpcResult};

pub async fn fit(
    _api: &ProfilingApi,
    _request: pb::FitValueModelRequest,
) -> RpcResult<pb::ValueModel> {
    Err(Status::unimplemented("fit: not implemented yet"))
}

pub async fn get(
    _api: &ProfilingApi,
    _request: pb::GetValueModelRequest,
) -> RpcResult<pb::ValueModel> {
    Err(Status::unimplemented("get: not implemented yet"))
}

pub async fn list(
    _api: &ProfilingApi,
    _request: pb::ListValueModelsRequest,
) -> RpcResult<pb::ListValueModelsResponse> {
    Err(Status::unimplemented("list: not implemented yet"))
}

pub async fn predict(
    _api: &ProfilingApi,
    _request: pb::PredictCustomerValueRequest,
) -> RpcResult<pb::PredictCustomerValueResponse> {
    Err(Status::unimplemented("predict: not implemented yet"))
}
