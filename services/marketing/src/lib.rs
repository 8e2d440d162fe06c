//! The marketing-strategy scoring service: which action, for whom, at what expected return.
//! Profiles come from the profiling service over gRPC ([`profile_source`]) and are mapped
//! once ([`profile_adapter`]) into plain [`customer::CustomerFacts`]; the formulas
//! ([`scoring`], [`stats`], [`report`], [`bandit`], [`allocation`], [`loyalty`]) are plain
//! Rust. Storage lives in the `*_store` modules, the gRPC layer in [`grpc`].

pub mod allocation;
pub mod bandit;
pub mod campaign_store;
pub mod customer;
pub mod error;
pub mod grpc;
pub mod learning_store;
pub mod loyalty;
pub mod priors;
pub mod profile_adapter;
pub mod profile_source;
pub mod report;
pub mod scoring;
pub mod stats;
pub mod strategy;
pub mod strategy_store;

pub use grpc::ScoringApi;
pub use profile_source::ProfileSource;

/// The binary's name and default port.
pub const BINARY: caravan_platform::binary::BinarySpec = caravan_platform::binary::BinarySpec {
    name: "caravan-marketing",
    default_port: 50064,
    default_metrics_port: 9474,
};
