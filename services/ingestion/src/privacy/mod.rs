//! Data subject rights served beside ingestion: `caravan.privacy.v1.PrivacyService`
//! (exports). Erasure is `IngestionService.DeleteCustomer` (`crate::erasure_store`).

mod export;
mod export_store;
mod grpc;

pub use grpc::PrivacyApi;
