//! The recommendation service: per-merchant models trained from stored interactions, served
//! from memory with cross-border rules (ships-to, stock, exclusions) and reasons.

pub mod engine;
pub mod error;
mod exclusion_store;
pub mod grpc;
mod interaction_store;
mod merchant_locks;
mod model_store;
mod profile_source;
mod registry;
pub mod running_jobs;
pub mod signals;

pub use grpc::RecommendationApi;

/// The binary's name and default port.
pub const BINARY: caravan_platform::binary::BinarySpec = caravan_platform::binary::BinarySpec {
    name: "caravan-recommendation",
    default_port: 50063,
    default_metrics_port: 9473,
};
