//! The profiling service: turns stored customer data into portraits (six B2C dimensions,
//! five B2B), tags that thicken with evidence, segments, predicted value and analytics.

mod background_cpu;
pub mod codes;
pub mod error;
pub mod filter;
pub mod fitted_value_model;
pub mod grpc;
pub mod merchant_refresh;
pub mod order_netting;
pub mod order_netting_store;
pub mod outbox_consumer;
pub mod outbox_cursor;
pub mod outbox_lag;
pub mod outbox_partitions;
pub mod outbox_retention;
pub mod portrait_input;
pub mod profile_builder;
pub mod profile_fields;
pub mod profile_refresh;
pub mod profile_store;
pub mod profile_view;
pub mod reseal;
pub mod rfm;
pub mod segment_membership;
pub mod sentiment;
pub mod summary_store;
pub mod tag_store;
pub mod value_model;
pub mod value_model_service;
pub mod value_model_store;

pub use grpc::ProfilingApi;

/// The binary's name and default port.
pub const BINARY: caravan_platform::binary::BinarySpec = caravan_platform::binary::BinarySpec {
    name: "caravan-profiling",
    default_port: 50062,
    default_metrics_port: 9472,
};
