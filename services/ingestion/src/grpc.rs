//! The gRPC face of the ingestion service: decode the request, call the domain and storage
//! modules, encode the response. RPCs not listed here answer UNIMPLEMENTED (the generated
//! default stubs) until their issue lands; the README lists which.

use caravan_core::names::parse_merchant_name;
use caravan_core::paging;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_server::{
    IngestionService, IngestionServiceServer,
};
use caravan_store::entity::merchants;
use caravan_store::sea_orm::DatabaseConnection;
use tonic::{Request, Response, Status};

use crate::error::IngestionError;
use crate::merchant_rules::{check_display_name, check_new_merchant};
use crate::merchant_store;

/// The ingestion service's state: the store and its settings.
#[derive(Clone)]
pub struct IngestionApi {
    db: DatabaseConnection,
}

impl IngestionApi {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }

    /// The tonic server with the configured message size limit.
    pub fn into_server(self, max_message_bytes: usize) -> IngestionServiceServer<Self> {
        IngestionServiceServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }
}

type RpcResult<T> = Result<Response<T>, Status>;

fn merchant_to_proto(row: merchants::Model) -> pb::Merchant {
    pb::Merchant {
        name: format!("merchants/{}", row.id),
        display_name: row.display_name,
        base_currency_code: row.base_currency,
        create_time: Some(to_timestamp(row.created_at.get())),
        update_time: Some(to_timestamp(row.updated_at.get())),
    }
}

fn merchant_id_from_name(name: &str, field: &str) -> Result<String, IngestionError> {
    parse_merchant_name(name)
        .map(|id| id.as_str().to_owned())
        .map_err(|e| IngestionError::invalid(field, e.to_string()))
}

#[tonic::async_trait]
impl IngestionService for IngestionApi {
    #[tracing::instrument(skip_all, fields(merchant_id = %request.get_ref().merchant_id))]
    async fn create_merchant(
        &self,
        request: Request<pb::CreateMerchantRequest>,
    ) -> RpcResult<pb::Merchant> {
        let request = request.into_inner();
        let merchant = request.merchant.unwrap_or_default();
        let new = check_new_merchant(
            &request.merchant_id,
            &merchant.display_name,
            &merchant.base_currency_code,
        )
        .map_err(IngestionError::from)?;
        let row = merchant_store::insert(&self.db, new).await?;
        Ok(Response::new(merchant_to_proto(row)))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_merchant(
        &self,
        request: Request<pb::GetMerchantRequest>,
    ) -> RpcResult<pb::Merchant> {
        let id = merchant_id_from_name(&request.get_ref().name, "name")?;
        let row = merchant_store::get(&self.db, &id).await?;
        Ok(Response::new(merchant_to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn update_merchant(
        &self,
        request: Request<pb::UpdateMerchantRequest>,
    ) -> RpcResult<pb::Merchant> {
        let request = request.into_inner();
        let merchant = request
            .merchant
            .ok_or_else(|| IngestionError::invalid("merchant", "is required"))?;
        let id = merchant_id_from_name(&merchant.name, "merchant.name")?;
        let paths = request.update_mask.map(|m| m.paths).unwrap_or_default();
        if let Some(path) = paths.iter().find(|p| p.as_str() != "display_name") {
            return Err(IngestionError::invalid(
                "update_mask",
                format!("{path:?} cannot be updated; only \"display_name\" is mutable"),
            )
            .into());
        }
        let mut violations = caravan_platform::FieldViolations::new();
        check_display_name(
            &merchant.display_name,
            "merchant.display_name",
            &mut violations,
        );
        violations.into_result().map_err(IngestionError::from)?;
        let row = merchant_store::update_display_name(
            &self.db,
            &id,
            merchant.display_name.trim().to_owned(),
        )
        .await?;
        Ok(Response::new(merchant_to_proto(row)))
    }

    #[tracing::instrument(skip_all)]
    async fn list_merchants(
        &self,
        request: Request<pb::ListMerchantsRequest>,
    ) -> RpcResult<pb::ListMerchantsResponse> {
        let request = request.into_inner();
        let size = paging::page_size(request.page_size)
            .map_err(|e| IngestionError::invalid("page_size", e.to_string()))?;
        let fingerprint = paging::request_fingerprint(&["merchants"]);
        let after = paging::decode_token(&request.page_token, fingerprint)
            .map_err(|e| IngestionError::invalid("page_token", e.to_string()))?;
        // One extra row tells whether there is a next page without a COUNT query.
        let mut rows = merchant_store::list(&self.db, after.as_deref(), size + 1).await?;
        let next_page_token = if rows.len() as u64 > size {
            rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
            rows.last()
                .map(|last| paging::encode_token(&last.id, fingerprint))
                .unwrap_or_default()
        } else {
            String::new()
        };
        Ok(Response::new(pb::ListMerchantsResponse {
            merchants: rows.into_iter().map(merchant_to_proto).collect(),
            next_page_token,
        }))
    }
}
