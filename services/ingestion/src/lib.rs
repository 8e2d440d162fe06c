//! The ingestion service: how merchants' systems get customers, products and behaviour
//! events into Caravan. Domain rules live in `*_rules` modules (no I/O), storage in
//! `*_store` modules, the gRPC mapping in [`grpc`].

mod contact_rules;
mod customer_directory;
mod customer_rules;
mod customer_store;
mod erasure_store;
pub mod error;
pub mod event_rules;
mod event_store;
mod failed_event_store;
pub mod grpc;
mod identity_rules;
mod merchant_rules;
mod merchant_store;
mod money_rules;
pub mod privacy;
mod product_rules;
mod product_store;

pub use grpc::IngestionApi;

/// The binary's name and default port.
pub const BINARY: caravan_platform::binary::BinarySpec = caravan_platform::binary::BinarySpec {
    name: "caravan-ingestion",
    default_port: 50061,
    default_metrics_port: 9471,
};
