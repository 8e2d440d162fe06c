//! The ingestion service: how merchants' systems get customers, products and behaviour
//! events into Caravan. Domain rules live in `*_rules` modules (no I/O), storage in
//! `*_store` modules, the gRPC mapping in [`grpc`].

pub mod error;
pub mod grpc;
mod merchant_rules;
mod merchant_store;

pub use grpc::IngestionApi;

/// The binary's name and default port.
pub const BINARY: caravan_platform::binary::BinarySpec = caravan_platform::binary::BinarySpec {
    name: "caravan-ingestion",
    default_port: 50061,
};
