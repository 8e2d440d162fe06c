//! The gRPC face of the marketing-strategy scoring service: decode, validate, call the
//! domain and store modules, encode. Strategies in [`strategies`], scoring, sampling and
//! allocation in [`scoring`], campaigns, results and contacts in [`campaigns`], loyalty
//! and priors in [`loyalty`].

mod campaigns;
mod convert;
mod loyalty;
mod scoring;
mod strategies;

use std::pin::Pin;

use caravan_core::names::parse_merchant_name;
use caravan_core::paging;
use caravan_proto::caravan::marketing::v1 as pb;
use caravan_proto::caravan::marketing::v1::strategy_scoring_service_server::{
    StrategyScoringService, StrategyScoringServiceServer,
};
use caravan_store::sea_orm::DatabaseConnection;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use crate::error::MarketingError;
use crate::profile_source::ProfileSource;

/// The scoring service's state: the store and the profiling client.
#[derive(Clone)]
pub struct ScoringApi {
    db: DatabaseConnection,
    profiles: ProfileSource,
}

impl ScoringApi {
    pub fn new(db: DatabaseConnection, profiles: ProfileSource) -> Self {
        Self { db, profiles }
    }

    /// The tonic server with the configured message size limit.
    pub fn into_server(self, max_message_bytes: usize) -> StrategyScoringServiceServer<Self> {
        StrategyScoringServiceServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }
}

type RpcResult<T> = Result<Response<T>, Status>;

fn reply<T>(result: Result<T, MarketingError>) -> RpcResult<T> {
    result.map(Response::new).map_err(Status::from)
}

pub(crate) fn merchant_id_from_name(name: &str, field: &str) -> Result<String, MarketingError> {
    parse_merchant_name(name)
        .map(|id| id.as_str().to_owned())
        .map_err(|e| MarketingError::invalid(field, e.to_string()))
}

/// An offset page decoded from a token bound to the request's other parameters.
pub(crate) struct OffsetPage {
    pub offset: u64,
    pub size: u64,
    fingerprint: u64,
}

impl OffsetPage {
    pub fn next_token(&self, more: bool) -> String {
        if more {
            paging::encode_token(&(self.offset + self.size).to_string(), self.fingerprint)
        } else {
            String::new()
        }
    }
}

/// A one-field `order_by` (AIP-132): `"<field>"` or `"<field> asc"` (ascending) or
/// `"<field> desc"`, among `fields` (API field name and the column it sorts by); empty
/// gives `default`. Returns the column and whether it is descending.
pub(crate) fn order_by<C: Copy>(
    text: &str,
    fields: &[(&str, C)],
    default: (C, bool),
) -> Result<(C, bool), MarketingError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let (field, descending) = match words.as_slice() {
        [] => return Ok(default),
        [field] | [field, "asc"] => (*field, false),
        [field, "desc"] => (*field, true),
        _ => ("", false),
    };
    match fields.iter().find(|(name, _)| *name == field) {
        Some((_, column)) => Ok((*column, descending)),
        None => Err(MarketingError::invalid(
            "order_by",
            format!(
                "{:?} is not a supported ordering (one of {}, optionally followed by asc or desc)",
                text.trim(),
                fields
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

pub(crate) fn offset_page(
    page_size: i32,
    max: u64,
    token: &str,
    bound_to: &[&str],
) -> Result<OffsetPage, MarketingError> {
    let size = paging::page_size(page_size)
        .map_err(|e| MarketingError::invalid("page_size", e.to_string()))?
        .min(max);
    let fingerprint = paging::request_fingerprint(bound_to);
    let offset = match paging::decode_token(token, fingerprint)
        .map_err(|e| MarketingError::invalid("page_token", e.to_string()))?
    {
        None => 0,
        Some(t) => t
            .parse()
            .map_err(|_| MarketingError::invalid("page_token", "malformed"))?,
    };
    Ok(OffsetPage {
        offset,
        size,
        fingerprint,
    })
}

type ScoreStream =
    Pin<Box<dyn Stream<Item = Result<pb::ScoreSegmentResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl StrategyScoringService for ScoringApi {
    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_strategy(
        &self,
        request: Request<pb::CreateStrategyRequest>,
    ) -> RpcResult<pb::Strategy> {
        reply(strategies::create(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_strategy(
        &self,
        request: Request<pb::GetStrategyRequest>,
    ) -> RpcResult<pb::Strategy> {
        reply(strategies::get(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all)]
    async fn update_strategy(
        &self,
        request: Request<pb::UpdateStrategyRequest>,
    ) -> RpcResult<pb::Strategy> {
        reply(strategies::update(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_strategies(
        &self,
        request: Request<pb::ListStrategiesRequest>,
    ) -> RpcResult<pb::ListStrategiesResponse> {
        reply(strategies::list(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn archive_strategy(
        &self,
        request: Request<pb::ArchiveStrategyRequest>,
    ) -> RpcResult<pb::Strategy> {
        reply(strategies::archive(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(customer = %request.get_ref().customer))]
    async fn score_strategies(
        &self,
        request: Request<pb::ScoreStrategiesRequest>,
    ) -> RpcResult<pb::ScoreStrategiesResponse> {
        reply(scoring::score_strategies(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn score_segment(
        &self,
        request: Request<pb::ScoreSegmentRequest>,
    ) -> RpcResult<ScoreStream> {
        reply(scoring::score_segment(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn sample_strategy(
        &self,
        request: Request<pb::SampleStrategyRequest>,
    ) -> RpcResult<pb::SampleStrategyResponse> {
        reply(scoring::sample_strategy(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn allocate_budget(
        &self,
        request: Request<pb::AllocateBudgetRequest>,
    ) -> RpcResult<pb::AllocateBudgetResponse> {
        reply(scoring::allocate_budget(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_campaign(
        &self,
        request: Request<pb::CreateCampaignRequest>,
    ) -> RpcResult<pb::Campaign> {
        reply(campaigns::create(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_campaign(
        &self,
        request: Request<pb::GetCampaignRequest>,
    ) -> RpcResult<pb::Campaign> {
        reply(campaigns::get(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all)]
    async fn update_campaign(
        &self,
        request: Request<pb::UpdateCampaignRequest>,
    ) -> RpcResult<pb::Campaign> {
        reply(campaigns::update(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_campaigns(
        &self,
        request: Request<pb::ListCampaignsRequest>,
    ) -> RpcResult<pb::ListCampaignsResponse> {
        reply(campaigns::list(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(campaign = %request.get_ref().campaign))]
    async fn record_campaign_results(
        &self,
        request: Request<pb::RecordCampaignResultsRequest>,
    ) -> RpcResult<pb::RecordCampaignResultsResponse> {
        reply(campaigns::record_results(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_campaign_report(
        &self,
        request: Request<pb::GetCampaignReportRequest>,
    ) -> RpcResult<pb::CampaignReport> {
        reply(campaigns::report(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn compare_variants(
        &self,
        request: Request<pb::CompareVariantsRequest>,
    ) -> RpcResult<pb::CompareVariantsResponse> {
        reply(campaigns::compare(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn record_contacts(
        &self,
        request: Request<pb::RecordContactsRequest>,
    ) -> RpcResult<pb::RecordContactsResponse> {
        reply(campaigns::record_contacts(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_strategy_posteriors(
        &self,
        request: Request<pb::ListStrategyPosteriorsRequest>,
    ) -> RpcResult<pb::ListStrategyPosteriorsResponse> {
        reply(campaigns::list_posteriors(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_loyalty(&self, request: Request<pb::GetLoyaltyRequest>) -> RpcResult<pb::Loyalty> {
        reply(loyalty::get_loyalty(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_response_priors(
        &self,
        request: Request<pb::GetResponsePriorsRequest>,
    ) -> RpcResult<pb::ResponsePriors> {
        reply(loyalty::get_priors(self, request.into_inner()).await)
    }

    #[tracing::instrument(skip_all)]
    async fn update_response_priors(
        &self,
        request: Request<pb::UpdateResponsePriorsRequest>,
    ) -> RpcResult<pb::ResponsePriors> {
        reply(loyalty::update_priors(self, request.into_inner()).await)
    }
}

/// NOT_FOUND unless the merchant exists.
pub(crate) async fn require_merchant(
    api: &ScoringApi,
    merchant_id: &str,
) -> Result<String, MarketingError> {
    crate::strategy_store::base_currency(&api.db, merchant_id).await
}

#[cfg(test)]
mod order_by_tests {
    use super::order_by;

    #[test]
    fn one_field_with_an_optional_direction() {
        let fields = [("name", 1), ("create_time", 2)];
        assert_eq!(order_by("", &fields, (2, true)).ok(), Some((2, true)));
        assert_eq!(order_by("name", &fields, (2, true)).ok(), Some((1, false)));
        assert_eq!(
            order_by(" name  asc ", &fields, (2, true)).ok(),
            Some((1, false))
        );
        assert_eq!(
            order_by("create_time desc", &fields, (1, false)).ok(),
            Some((2, true))
        );
        for bad in ["state", "name up", "name desc extra"] {
            let err = order_by(bad, &fields, (1, false))
                .expect_err(bad)
                .to_string();
            assert!(err.contains("is not a supported ordering"), "{err}");
        }
    }
}
