//! The gRPC face of the ingestion service: decode the request, call the domain and storage
//! modules, encode the response. Merchants are handled here; events, customers, products
//! and exchange rates in the submodules. RPCs not implemented answer UNIMPLEMENTED (the
//! generated default stubs).

mod catalog;
mod contacts;
pub(crate) mod customers;
pub(crate) mod events;
pub(crate) mod failed_events;
mod list_filter;

use std::sync::Arc;

use caravan_core::names::parse_merchant_name;
use caravan_core::paging;
use caravan_platform::proto_time::to_timestamp;
use caravan_platform::repeated_limit::RepeatedFieldLimit;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_server::{
    IngestionService, IngestionServiceServer,
};
use caravan_store::entity::merchants;
use caravan_store::sea_orm::DatabaseConnection;

use tonic::{Request, Response, Status};

use caravan_platform::settings::{DEVELOPMENT_IDENTITY_KEY, IngestionSettings};

use crate::customer_directory::CustomerDirectory;
use crate::error::IngestionError;
use crate::identity_rules::IdentityHasher;
use crate::merchant_rules::{check_merchant_update, check_new_merchant};
use crate::merchant_store;

/// The ingestion service's state: the store and its settings.
#[derive(Clone)]
pub struct IngestionApi {
    pub(crate) db: DatabaseConnection,
    pub(crate) hasher: IdentityHasher,
    max_batch_events: usize,
    stream_pipeline_depth: usize,
    /// One permit per batch transaction in progress (`ingestion.max_concurrent_batches`).
    batch_permits: Arc<tokio::sync::Semaphore>,
    customers: Arc<CustomerDirectory>,
    /// How long DeleteCustomer waits after committing (`ingestion.erasure_settle_ms`).
    erasure_settle: std::time::Duration,
    /// How long rejected events are kept (`ingestion.failed_event_retention_seconds`).
    failed_event_retention: chrono::Duration,
    /// For exports: the profile and tags come from profiling.
    pub(crate) profiling: Option<ProfilingClient>,
}

/// A client of the profiling service.
pub type ProfilingClient =
    caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient<
        caravan_platform::client::ServiceChannel,
    >;

impl IngestionApi {
    /// With the default settings (the development identity key); prefer [`Self::with_settings`].
    pub fn new(db: DatabaseConnection) -> Self {
        Self::with_settings(db, &IngestionSettings::default())
    }

    pub fn with_settings(db: DatabaseConnection, settings: &IngestionSettings) -> Self {
        if settings.identity_hash_key.expose() == DEVELOPMENT_IDENTITY_KEY {
            tracing::warn!(
                "ingestion.identity_hash_key is the development key; set it once per deployment"
            );
        }
        Self {
            db,
            hasher: IdentityHasher::new(settings.identity_hash_key.expose()),
            max_batch_events: settings.max_batch_events,
            stream_pipeline_depth: settings.stream_pipeline_depth.max(1),
            batch_permits: Arc::new(tokio::sync::Semaphore::new(
                settings.max_concurrent_batches.max(1),
            )),
            customers: Arc::new(CustomerDirectory::new(settings.customer_cache_entries)),
            erasure_settle: std::time::Duration::from_millis(settings.erasure_settle_ms),
            failed_event_retention: chrono::Duration::seconds(
                i64::try_from(settings.failed_event_retention_seconds).unwrap_or(i64::MAX / 1000),
            ),
            profiling: None,
        }
    }

    /// Exports (`caravan.privacy.v1`) read profiles and tags through `profiling`.
    pub fn with_profiling(mut self, profiling: ProfilingClient) -> Self {
        self.profiling = Some(profiling);
        self
    }

    /// Starts deleting expired failed events in the background (every tenth of the
    /// retention period); call once per process, within the runtime.
    pub fn spawn_failed_event_retention(&self) {
        failed_events::spawn_retention(self);
    }

    /// The batch size limit (`ingestion.max_batch_events`) of `BatchIngestEvents` and of each
    /// `IngestEvents` message, for the server to enforce before decoding.
    pub fn batch_limits(&self) -> Vec<RepeatedFieldLimit> {
        ["BatchIngestEvents", "IngestEvents"]
            .into_iter()
            .map(|method| RepeatedFieldLimit {
                path: format!(
                    "/{}/{method}",
                    <IngestionServiceServer<Self> as tonic::server::NamedService>::NAME
                ),
                // `repeated Event events = 2` in both request messages.
                number: 2,
                name: "events",
                max: self.max_batch_events,
                setting: "ingestion.max_batch_events",
            })
            .collect()
    }

    /// The tonic server with the configured message size limit.
    pub fn into_server(self, max_message_bytes: usize) -> IngestionServiceServer<Self> {
        IngestionServiceServer::new(self)
            .max_decoding_message_size(max_message_bytes)
            .max_encoding_message_size(max_message_bytes)
    }
}

pub(crate) type RpcResult<T> = Result<Response<T>, Status>;

fn merchant_to_proto(row: merchants::Model) -> pb::Merchant {
    pb::Merchant {
        name: format!("merchants/{}", row.id),
        display_name: row.display_name,
        base_currency_code: row.base_currency,
        create_time: Some(to_timestamp(row.created_at.get())),
        update_time: Some(to_timestamp(row.updated_at.get())),
        time_zone: caravan_core::time_zone::MerchantTimeZone::from_stored(row.time_zone.as_deref())
            .name()
            .to_owned(),
    }
}

pub(crate) fn merchant_id_from_name(name: &str, field: &str) -> Result<String, IngestionError> {
    parse_merchant_name(name)
        .map(|id| id.as_str().to_owned())
        .map_err(|e| IngestionError::invalid(field, e.to_string()))
}

/// Writes the access-log entry of a reveal of `customer`'s personal data; the data is
/// returned only when the entry is stored.
async fn record_reveal(
    api: &IngestionApi,
    caller: &caravan_access::Principal,
    merchant_id: &str,
    customer: &str,
    rpc: &str,
) -> Result<(), IngestionError> {
    let merchant = caravan_core::names::MerchantId::parse(merchant_id)
        .map_err(|e| IngestionError::invalid("name", e.to_string()))?;
    caravan_access::access_log::record(
        &api.db,
        caravan_access::AccessRecord {
            principal: caller,
            merchant: &merchant,
            customer_id: customer,
            rpc,
            action: caravan_access::AccessAction::RevealPii,
        },
    )
    .await?;
    Ok(())
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
            &merchant.time_zone,
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
        let update = check_merchant_update(&merchant.display_name, &merchant.time_zone, &paths)
            .map_err(IngestionError::from)?;
        let row = merchant_store::update(&self.db, &id, update).await?;
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

    #[tracing::instrument(skip_all)]
    async fn create_customer(
        &self,
        request: Request<pb::CreateCustomerRequest>,
    ) -> RpcResult<pb::Customer> {
        Ok(Response::new(
            customers::create(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_customer(
        &self,
        request: Request<pb::GetCustomerRequest>,
    ) -> RpcResult<pb::Customer> {
        let caller = caravan_access::caller(&request);
        Ok(Response::new(
            customers::get(self, &caller, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn update_customer(
        &self,
        request: Request<pb::UpdateCustomerRequest>,
    ) -> RpcResult<pb::Customer> {
        Ok(Response::new(
            customers::update(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_customers(
        &self,
        request: Request<pb::ListCustomersRequest>,
    ) -> RpcResult<pb::ListCustomersResponse> {
        Ok(Response::new(
            customers::list(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn resolve_customer(
        &self,
        request: Request<pb::ResolveCustomerRequest>,
    ) -> RpcResult<pb::ResolveCustomerResponse> {
        Ok(Response::new(
            customers::resolve(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(target = %request.get_ref().target_customer))]
    async fn merge_customers(
        &self,
        request: Request<pb::MergeCustomersRequest>,
    ) -> RpcResult<pb::MergeCustomersResponse> {
        Ok(Response::new(
            customers::merge(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_identity_merges(
        &self,
        request: Request<pb::ListIdentityMergesRequest>,
    ) -> RpcResult<pb::ListIdentityMergesResponse> {
        Ok(Response::new(
            customers::list_merges(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_product(
        &self,
        request: Request<pb::CreateProductRequest>,
    ) -> RpcResult<pb::Product> {
        Ok(Response::new(
            catalog::create_product(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_product(&self, request: Request<pb::GetProductRequest>) -> RpcResult<pb::Product> {
        Ok(Response::new(
            catalog::get_product(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn update_product(
        &self,
        request: Request<pb::UpdateProductRequest>,
    ) -> RpcResult<pb::Product> {
        Ok(Response::new(
            catalog::update_product(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_products(
        &self,
        request: Request<pb::ListProductsRequest>,
    ) -> RpcResult<pb::ListProductsResponse> {
        Ok(Response::new(
            catalog::list_products(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent, products = request.get_ref().products.len()))]
    async fn batch_upsert_products(
        &self,
        request: Request<pb::BatchUpsertProductsRequest>,
    ) -> RpcResult<pb::BatchUpsertProductsResponse> {
        Ok(Response::new(
            catalog::batch_upsert_products(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn ingest_events(
        &self,
        request: Request<tonic::Streaming<pb::IngestEventsRequest>>,
    ) -> RpcResult<pb::IngestEventsResponse> {
        Ok(Response::new(
            events::ingest_stream(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent, events = request.get_ref().events.len()))]
    async fn batch_ingest_events(
        &self,
        request: Request<pb::BatchIngestEventsRequest>,
    ) -> RpcResult<pb::BatchIngestEventsResponse> {
        Ok(Response::new(
            events::batch_ingest(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_event(&self, request: Request<pb::GetEventRequest>) -> RpcResult<pb::Event> {
        Ok(Response::new(
            events::get(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_events(
        &self,
        request: Request<pb::ListEventsRequest>,
    ) -> RpcResult<pb::ListEventsResponse> {
        Ok(Response::new(
            events::list(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn set_exchange_rate(
        &self,
        request: Request<pb::SetExchangeRateRequest>,
    ) -> RpcResult<pb::ExchangeRate> {
        Ok(Response::new(
            catalog::set_exchange_rate(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_exchange_rates(
        &self,
        request: Request<pb::ListExchangeRatesRequest>,
    ) -> RpcResult<pb::ListExchangeRatesResponse> {
        Ok(Response::new(
            catalog::list_exchange_rates(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_customer(&self, request: Request<pb::DeleteCustomerRequest>) -> RpcResult<()> {
        let caller = caravan_access::caller(&request);
        contacts::delete_customer(self, &caller, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn create_contact(
        &self,
        request: Request<pb::CreateContactRequest>,
    ) -> RpcResult<pb::Contact> {
        Ok(Response::new(
            contacts::create(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn get_contact(&self, request: Request<pb::GetContactRequest>) -> RpcResult<pb::Contact> {
        let caller = caravan_access::caller(&request);
        Ok(Response::new(
            contacts::get(self, &caller, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn update_contact(
        &self,
        request: Request<pb::UpdateContactRequest>,
    ) -> RpcResult<pb::Contact> {
        Ok(Response::new(
            contacts::update(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_contacts(
        &self,
        request: Request<pb::ListContactsRequest>,
    ) -> RpcResult<pb::ListContactsResponse> {
        Ok(Response::new(
            contacts::list(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_contact(&self, request: Request<pb::DeleteContactRequest>) -> RpcResult<()> {
        contacts::delete(self, request.into_inner()).await?;
        Ok(Response::new(()))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn list_failed_events(
        &self,
        request: Request<pb::ListFailedEventsRequest>,
    ) -> RpcResult<pb::ListFailedEventsResponse> {
        Ok(Response::new(
            failed_events::list(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(parent = %request.get_ref().parent))]
    async fn replay_failed_events(
        &self,
        request: Request<pb::ReplayFailedEventsRequest>,
    ) -> RpcResult<pb::ReplayFailedEventsResponse> {
        Ok(Response::new(
            failed_events::replay(self, request.into_inner()).await?,
        ))
    }

    #[tracing::instrument(skip_all, fields(name = %request.get_ref().name))]
    async fn delete_failed_event(
        &self,
        request: Request<pb::DeleteFailedEventRequest>,
    ) -> RpcResult<()> {
        failed_events::delete(self, request.into_inner()).await?;
        Ok(Response::new(()))
    }
}
