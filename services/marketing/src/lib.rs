//! The marketing-strategy scoring service: which action, for whom, at what expected return.
//! Profiles come from the profiling service over gRPC ([`profile_source`]).

pub mod error;
pub mod grpc;
pub mod profile_source;

pub use grpc::ScoringApi;
pub use profile_source::ProfileSource;

/// The binary's name and default port.
pub const BINARY: caravan_platform::binary::BinarySpec = caravan_platform::binary::BinarySpec {
    name: "caravan-marketing",
    default_port: 50064,
};
