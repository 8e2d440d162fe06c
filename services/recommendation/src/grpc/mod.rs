//! The gRPC face of the recommendation service: decode and validate the request, call the
//! engine, the registry and the stores, encode the response. One submodule per RPC group.

mod convert;
mod erasure;
mod evaluate;
mod exclusions;
mod models;
mod recommend;
mod training;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use caravan_platform::client::ServiceChannel;
use caravan_platform::settings::RecommendationSettings;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use caravan_proto::caravan::recommendation::v1 as pb;
use caravan_proto::caravan::recommendation::v1::recommendation_service_server::{
    RecommendationService, RecommendationServiceServer,
};
use caravan_store::sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use crate::profile_source::ProfileSource;
use crate::registry::Registry;

type RpcResult<T> = Result<Response<T>, Status>;

/// The recommendation service's state: the store, the in-memory models and the profiling
/// client (content affinities).
#[derive(Clone)]
pub struct RecommendationApi {
    db: DatabaseConnection,
    profiles: ProfileSource,
    registry: Arc<Registry>,
}

impl RecommendationApi {
    /// With the default settings; prefer [`Self::with_settings`].
    pub fn new(db: DatabaseConnection, profiling: ProfilingServiceClient<ServiceChannel>) -> Self {
        Self::with_settings(db, profiling, &RecommendationSettings::default())
    }

    /// Also starts the model poller (when called inside a Tokio runtime, as the binaries do):
    /// it loads every merchant's serving version at once and then follows deploys; and the
    /// erasure watcher ([`erasure::watch`]).
    pub fn with_settings(
        db: DatabaseConnection,
        profiling: ProfilingServiceClient<ServiceChannel>,
        settings: &RecommendationSettings,
    ) -> Self {
        let registry = Arc::new(Registry::new(
            db.clone(),
            Duration::from_millis(settings.cold_start_ttl_ms),
            settings.max_concurrent_cold_starts,
        ));
        let api = Self {
            db,
            profiles: ProfileSource::new(
                profiling,
                Duration::from_millis(settings.profile_timeout_ms),
            ),
            registry: registry.clone(),
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(registry.poll(Duration::from_millis(settings.model_poll_ms.max(1))));
            runtime.spawn(erasure::watch(
                api.clone(),
                Duration::from_millis(settings.erasure_poll_ms.max(1)),
            ));
        }
        api
    }

    /// The tonic server with the configured message size limit.
    pub fn into_server(self, max_message_bytes: usize) -> RecommendationServiceServer<Self> {
        RecommendationServiceServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }
}

#[tonic::async_trait]
impl RecommendationService for RecommendationApi {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn recommend(
        &self,
        request: Request<pb::RecommendRequest>,
    ) -> RpcResult<pb::RecommendResponse> {
        Ok(Response::new(
            recommend::recommend(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn similar_items(
        &self,
        request: Request<pb::SimilarItemsRequest>,
    ) -> RpcResult<pb::SimilarItemsResponse> {
        Ok(Response::new(
            recommend::similar_items(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn start_training(
        &self,
        request: Request<pb::StartTrainingRequest>,
    ) -> RpcResult<pb::TrainingJob> {
        Ok(Response::new(
            training::start(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_training_job(
        &self,
        request: Request<pb::GetTrainingJobRequest>,
    ) -> RpcResult<pb::TrainingJob> {
        Ok(Response::new(
            training::get(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_training_jobs(
        &self,
        request: Request<pb::ListTrainingJobsRequest>,
    ) -> RpcResult<pb::ListTrainingJobsResponse> {
        Ok(Response::new(
            training::list(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_models(
        &self,
        request: Request<pb::ListModelsRequest>,
    ) -> RpcResult<pb::ListModelsResponse> {
        Ok(Response::new(
            models::list(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_model(&self, request: Request<pb::GetModelRequest>) -> RpcResult<pb::Model> {
        Ok(Response::new(
            models::get(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn deploy_model(&self, request: Request<pb::DeployModelRequest>) -> RpcResult<pb::Model> {
        Ok(Response::new(
            models::deploy(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn evaluate(
        &self,
        request: Request<pb::EvaluateRequest>,
    ) -> RpcResult<pb::EvaluateResponse> {
        Ok(Response::new(
            evaluate::evaluate(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn set_country_exclusions(
        &self,
        request: Request<pb::SetCountryExclusionsRequest>,
    ) -> RpcResult<pb::SetCountryExclusionsResponse> {
        Ok(Response::new(
            exclusions::set(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_country_exclusions(
        &self,
        request: Request<pb::ListCountryExclusionsRequest>,
    ) -> RpcResult<pb::ListCountryExclusionsResponse> {
        Ok(Response::new(
            exclusions::list(self, request.into_inner()).await?,
        ))
    }
}
