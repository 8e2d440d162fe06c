//! The profiling service: turns stored customer data into portraits (six B2C dimensions,
//! five B2B), tags that thicken with evidence, segments, predicted value and analytics.

pub mod error;
pub mod grpc;
pub mod outbox_cursor;
pub mod rfm;
pub mod sentiment;
pub mod value_model;

pub use grpc::ProfilingApi;

/// The binary's name and default port.
pub const BINARY: caravan_platform::binary::BinarySpec = caravan_platform::binary::BinarySpec {
    name: "caravan-profiling",
    default_port: 50062,
};
