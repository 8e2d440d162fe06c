//! The gRPC calls of an import, against a running ingestion service.

use caravan_core::time_zone::MerchantTimeZone;
use std::time::Duration;

use caravan_platform::Secret;
use caravan_platform::client::CallerInterceptor;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_proto::caravan::ingestion::v1::{
    BatchUpsertProductsRequest, CreateContactRequest, CreateCustomerRequest, CreateMerchantRequest,
    Customer, Event, IngestEventsRequest, IngestEventsResponse, Merchant, Product,
    UpdateCustomerRequest,
};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic::{Code, Status};

use super::error::ImportError;

/// Largest gRPC message accepted from the server (responses are small).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Products per BatchUpsertProducts call (the contract's limit).
pub const PRODUCTS_PER_CALL: usize = 1000;

pub type Client = IngestionServiceClient<InterceptedService<Channel, CallerInterceptor>>;

/// Connects to `target`, presenting `api_key` on every call.
pub async fn connect(target: &str, api_key: Option<&Secret>) -> Result<Client, ImportError> {
    let fail = |message: String| ImportError::Connect {
        target: target.to_owned(),
        message,
    };
    let credentials = CallerInterceptor::new(api_key).map_err(fail)?;
    let endpoint = Channel::from_shared(target.to_owned()).map_err(|e| fail(e.to_string()))?;
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| fail(format!("{e} ({e:?})")))?;
    Ok(
        IngestionServiceClient::with_interceptor(channel, credentials)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE),
    )
}

/// Creates the merchant (in `time_zone`, UTC when `None`); an existing one is fine, and
/// keeps its zone.
pub async fn ensure_merchant(
    client: &mut Client,
    merchant: &str,
    base_currency: &str,
    time_zone: Option<MerchantTimeZone>,
) -> Result<bool, ImportError> {
    let request = CreateMerchantRequest {
        merchant_id: merchant.to_owned(),
        merchant: Some(Merchant {
            display_name: merchant.to_owned(),
            base_currency_code: base_currency.to_owned(),
            time_zone: time_zone.map_or_else(String::new, |z| z.name().to_owned()),
            ..Merchant::default()
        }),
    };
    match client.create_merchant(request).await {
        Ok(_) => Ok(true),
        Err(status) if status.code() == Code::AlreadyExists => Ok(false),
        Err(status) => Err(ImportError::rpc("CreateMerchant", status)),
    }
}

/// Upserts one chunk of products; returns (created, updated).
pub async fn upsert_products(
    client: &mut Client,
    merchant: &str,
    products: Vec<Product>,
) -> Result<(i64, i64), ImportError> {
    let response = client
        .batch_upsert_products(BatchUpsertProductsRequest {
            parent: format!("merchants/{merchant}"),
            products,
            validate_only: false,
        })
        .await
        .map_err(|s| ImportError::rpc("BatchUpsertProducts", s))?
        .into_inner();
    Ok((
        i64::from(response.created_count),
        i64::from(response.updated_count),
    ))
}

/// What CreateCustomer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    New,
    Existing,
}

/// Creates a customer; ALREADY_EXISTS (a re-run or a resume) is reported, not an error.
/// INVALID_ARGUMENT comes back as `Ok(Err(status))` so the caller can reject the row.
pub async fn create_customer(
    mut client: Client,
    merchant: &str,
    customer_id: &str,
    customer: Customer,
) -> Result<Result<Created, Status>, ImportError> {
    let request = CreateCustomerRequest {
        parent: format!("merchants/{merchant}"),
        customer_id: customer_id.to_owned(),
        customer: Some(customer),
    };
    match client.create_customer(request).await {
        Ok(_) => Ok(Ok(Created::New)),
        Err(status) if status.code() == Code::AlreadyExists => Ok(Ok(Created::Existing)),
        Err(status) if status.code() == Code::InvalidArgument => Ok(Err(status)),
        Err(status) => Err(ImportError::rpc("CreateCustomer", status)),
    }
}

/// Replaces the imported fields of an existing customer.
pub async fn update_customer(
    mut client: Client,
    customer: Customer,
    paths: &[&str],
) -> Result<Result<(), Status>, ImportError> {
    let request = UpdateCustomerRequest {
        customer: Some(customer),
        update_mask: Some(prost_types::FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
        allow_missing: false,
    };
    match client.update_customer(request).await {
        Ok(_) => Ok(Ok(())),
        Err(status) if status.code() == Code::InvalidArgument => Ok(Err(status)),
        Err(status) => Err(ImportError::rpc("UpdateCustomer", status)),
    }
}

/// Creates a contact of an enterprise customer; ALREADY_EXISTS is fine.
pub async fn create_contact(
    mut client: Client,
    request: CreateContactRequest,
) -> Result<Result<Created, Status>, ImportError> {
    match client.create_contact(request).await {
        Ok(_) => Ok(Ok(Created::New)),
        Err(status) if status.code() == Code::AlreadyExists => Ok(Ok(Created::Existing)),
        Err(status) if status.code() == Code::InvalidArgument => Ok(Err(status)),
        Err(status) => Err(ImportError::rpc("CreateContact", status)),
    }
}

/// Streams `events` in messages of `batch_size` over one IngestEvents call and returns the
/// server's single answer (rejection indexes are relative to `events`).
pub async fn ingest_segment(
    client: &mut Client,
    merchant: &str,
    events: Vec<Event>,
    batch_size: usize,
) -> Result<(IngestEventsResponse, u32), ImportError> {
    let parent = format!("merchants/{merchant}");
    let mut messages = Vec::new();
    let mut events = events.into_iter().peekable();
    while events.peek().is_some() {
        messages.push(IngestEventsRequest {
            parent: parent.clone(),
            events: events.by_ref().take(batch_size).collect(),
            validate_only: false,
        });
    }
    let mut retries = 0;
    loop {
        match client
            .ingest_events(tokio_stream::iter(messages.clone()))
            .await
        {
            Ok(response) => return Ok((response.into_inner(), retries)),
            Err(status) if says_retry(&status) && retries + 1 < INGEST_ATTEMPTS => {
                let wait = retry_wait(&status, retries);
                tracing::warn!(
                    code = ?status.code(),
                    message = status.message(),
                    wait_ms = wait.as_millis() as u64,
                    "IngestEvents asked to retry later; sending the same events again"
                );
                tokio::time::sleep(wait).await;
                retries += 1;
            }
            Err(status) => return Err(ImportError::rpc("IngestEvents", status)),
        }
    }
}

/// Attempts of one IngestEvents call while the server says "retry later".
const INGEST_ATTEMPTS: u32 = 6;
/// The longest wait between two attempts.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

/// Whether a failed call may be sent again as is: the store was briefly unavailable or the
/// server shed load. Sending again is safe, as event ids are idempotency keys: what the
/// failed attempt stored comes back as duplicates.
fn says_retry(status: &Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable | Code::ResourceExhausted | Code::Aborted
    )
}

/// The server's `RetryInfo` delay, else 0.5 s doubling per retry; at most [`MAX_RETRY_WAIT`].
fn retry_wait(status: &Status, retries: u32) -> Duration {
    caravan_platform::status::retry_delay_of(status)
        .unwrap_or_else(|| Duration::from_millis(500).saturating_mul(1 << retries.min(10)))
        .min(MAX_RETRY_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_later_is_honoured_with_the_servers_delay_or_a_doubling_wait() {
        let store_down =
            caravan_platform::status::unavailable("down", Duration::from_millis(1_500));
        assert!(says_retry(&store_down));
        assert_eq!(retry_wait(&store_down, 3), Duration::from_millis(1_500));
        let bare = Status::resource_exhausted("busy");
        assert!(says_retry(&bare));
        assert_eq!(retry_wait(&bare, 0), Duration::from_millis(500));
        assert_eq!(retry_wait(&bare, 2), Duration::from_secs(2));
        assert_eq!(retry_wait(&bare, 9), MAX_RETRY_WAIT);
        assert!(!says_retry(&Status::invalid_argument("bad")));
        assert!(!says_retry(&Status::internal("bug")));
    }
}
