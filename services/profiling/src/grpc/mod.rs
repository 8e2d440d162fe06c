//! The gRPC face of the profiling service. Each group of RPCs lives in its own module;
//! this file only dispatches. A module whose RPCs are not built yet answers UNIMPLEMENTED.

mod analytics;
mod profiles;
mod rebuild;
mod segments;
mod selection;
mod sentiment;
mod tags;
mod value_models;

use caravan_proto::caravan::profiling::v1 as pb;
use caravan_proto::caravan::profiling::v1::profiling_service_server::{
    ProfilingService, ProfilingServiceServer,
};
use caravan_store::sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

/// The profiling service's state.
#[derive(Clone)]
pub struct ProfilingApi {
    pub(crate) db: DatabaseConnection,
    /// Each merchant's reference time (see `selection::as_of`), briefly cached: it costs a
    /// scan of the merchant's event times and moves slowly.
    pub(crate) as_of_cache: selection::AsOfCache,
    /// Each merchant's custom segment filters, parsed, for the `segments` of every profile
    /// read; briefly cached, dropped on this replica's segment writes.
    pub(crate) segment_cache: segments::SegmentCache,
    /// How long a value-model fit may run (`profiling.value_model_fit_budget_ms`).
    pub(crate) fit_budget: std::time::Duration,
}

impl ProfilingApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            as_of_cache: selection::AsOfCache::default(),
            segment_cache: segments::SegmentCache::default(),
            fit_budget: value_models::DEFAULT_FIT_BUDGET,
        }
    }

    /// With the server's settings: the value-model fit budget.
    pub fn with_settings(
        mut self,
        settings: &caravan_platform::settings::ProfilingSettings,
    ) -> Self {
        self.fit_budget = std::time::Duration::from_millis(settings.value_model_fit_budget_ms);
        self
    }

    /// The tonic server with the configured message size limit.
    pub fn into_server(self, max_message_bytes: usize) -> ProfilingServiceServer<Self> {
        ProfilingServiceServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }
}

pub(crate) type RpcResult<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl ProfilingService for ProfilingApi {
    async fn get_profile(&self, r: Request<pb::GetProfileRequest>) -> RpcResult<pb::Profile> {
        let caller = caravan_access::caller(&r);
        profiles::get(self, &caller, r.into_inner()).await
    }
    async fn list_profiles(
        &self,
        r: Request<pb::ListProfilesRequest>,
    ) -> RpcResult<pb::ListProfilesResponse> {
        profiles::list(self, r.into_inner()).await
    }
    async fn rebuild_profiles(
        &self,
        r: Request<pb::RebuildProfilesRequest>,
    ) -> RpcResult<pb::RebuildJob> {
        rebuild::start(self, r.into_inner()).await
    }
    async fn get_rebuild_job(
        &self,
        r: Request<pb::GetRebuildJobRequest>,
    ) -> RpcResult<pb::RebuildJob> {
        rebuild::get(self, r.into_inner()).await
    }
    async fn list_tags(&self, r: Request<pb::ListTagsRequest>) -> RpcResult<pb::ListTagsResponse> {
        tags::list(self, r.into_inner()).await
    }
    async fn create_tag(&self, r: Request<pb::CreateTagRequest>) -> RpcResult<pb::Tag> {
        tags::create(self, r.into_inner()).await
    }
    async fn delete_tag(&self, r: Request<pb::DeleteTagRequest>) -> RpcResult<()> {
        tags::delete(self, r.into_inner()).await
    }
    async fn list_tag_history(
        &self,
        r: Request<pb::ListTagHistoryRequest>,
    ) -> RpcResult<pb::ListTagHistoryResponse> {
        tags::history(self, r.into_inner()).await
    }
    async fn create_segment(&self, r: Request<pb::CreateSegmentRequest>) -> RpcResult<pb::Segment> {
        segments::create(self, r.into_inner()).await
    }
    async fn get_segment(&self, r: Request<pb::GetSegmentRequest>) -> RpcResult<pb::Segment> {
        segments::get(self, r.into_inner()).await
    }
    async fn update_segment(&self, r: Request<pb::UpdateSegmentRequest>) -> RpcResult<pb::Segment> {
        segments::update(self, r.into_inner()).await
    }
    async fn delete_segment(&self, r: Request<pb::DeleteSegmentRequest>) -> RpcResult<()> {
        segments::delete(self, r.into_inner()).await
    }
    async fn list_segments(
        &self,
        r: Request<pb::ListSegmentsRequest>,
    ) -> RpcResult<pb::ListSegmentsResponse> {
        segments::list(self, r.into_inner()).await
    }
    async fn list_segment_members(
        &self,
        r: Request<pb::ListSegmentMembersRequest>,
    ) -> RpcResult<pb::ListSegmentMembersResponse> {
        segments::members(self, r.into_inner()).await
    }
    async fn fit_value_model(
        &self,
        r: Request<pb::FitValueModelRequest>,
    ) -> RpcResult<pb::ValueModel> {
        value_models::fit(self, r.into_inner()).await
    }
    async fn get_value_model(
        &self,
        r: Request<pb::GetValueModelRequest>,
    ) -> RpcResult<pb::ValueModel> {
        value_models::get(self, r.into_inner()).await
    }
    async fn list_value_models(
        &self,
        r: Request<pb::ListValueModelsRequest>,
    ) -> RpcResult<pb::ListValueModelsResponse> {
        value_models::list(self, r.into_inner()).await
    }
    async fn predict_customer_value(
        &self,
        r: Request<pb::PredictCustomerValueRequest>,
    ) -> RpcResult<pb::PredictCustomerValueResponse> {
        value_models::predict(self, r.into_inner()).await
    }
    async fn analyze_sentiment(
        &self,
        r: Request<pb::AnalyzeSentimentRequest>,
    ) -> RpcResult<pb::AnalyzeSentimentResponse> {
        sentiment::analyze(self, r.into_inner()).await
    }
    async fn get_customer_analytics(
        &self,
        r: Request<pb::GetCustomerAnalyticsRequest>,
    ) -> RpcResult<pb::GetCustomerAnalyticsResponse> {
        analytics::get(self, r.into_inner()).await
    }
}
