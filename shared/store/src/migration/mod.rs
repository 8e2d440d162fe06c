//! Schema migrations for the one Caravan store (all four services share it).
//!
//! Migrations are written with the sea-query schema builder so the same code runs on
//! MySQL/MariaDB and SQLite; backend differences live in [`schema`]. They are applied by
//! [`crate::migrate`] (pending only: running twice is a no-op) and fully reversible with
//! [`Migrator::down`]. Never edit a migration that has shipped: add a new one.

use sea_orm_migration::prelude::*;

mod m20261123_000001_tenancy_and_customers;
mod m20261123_000002_catalog;
mod m20261123_000003_events_and_outbox;
mod m20261123_000004_profiling;
mod m20261123_000005_recommendation;
mod m20261123_000006_marketing;
mod m20261123_000007_profiling_value_models;
mod m20261123_000010_profiling_portraits;
mod m20261124_000011_campaign_breakdowns;
mod m20261124_000012_exclusion_reasons;
mod m20261124_000013_identity_version;
mod m20261124_000014_packed_outbox;
mod m20261124_000015_binary_event_payloads;
mod m20261124_000016_consumer_leases;
mod m20261207_000017_access;
mod m20261207_000018_erasure;
mod m20261207_000019_sealed_pii;
mod m20261207_000020_outbox_trace;
mod m20261207_000021_failed_events;
mod m20261207_000022_credit_notes;
mod m20261207_000023_event_summaries;
mod m20261208_000024_merchant_time_zone;
mod schema;

/// The Caravan migrator; records applied migrations in `seaql_migrations`.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_tenancy_and_customers::Migration),
            Box::new(m20261123_000002_catalog::Migration),
            Box::new(m20261123_000003_events_and_outbox::Migration),
            Box::new(m20261123_000004_profiling::Migration),
            Box::new(m20261123_000005_recommendation::Migration),
            Box::new(m20261123_000006_marketing::Migration),
            Box::new(m20261123_000010_profiling_portraits::Migration),
            Box::new(m20261123_000007_profiling_value_models::Migration),
            Box::new(m20261124_000011_campaign_breakdowns::Migration),
            Box::new(m20261124_000012_exclusion_reasons::Migration),
            Box::new(m20261124_000013_identity_version::Migration),
            Box::new(m20261124_000014_packed_outbox::Migration),
            Box::new(m20261124_000015_binary_event_payloads::Migration),
            Box::new(m20261124_000016_consumer_leases::Migration),
            Box::new(m20261207_000017_access::Migration),
            Box::new(m20261207_000018_erasure::Migration),
            Box::new(m20261207_000019_sealed_pii::Migration),
            Box::new(m20261207_000020_outbox_trace::Migration),
            Box::new(m20261207_000021_failed_events::Migration),
            Box::new(m20261207_000022_credit_notes::Migration),
            Box::new(m20261207_000023_event_summaries::Migration),
            Box::new(m20261208_000024_merchant_time_zone::Migration),
        ]
    }
}

/// Every table the migrations create, in creation order (excluding `seaql_migrations`).
pub const TABLES: &[&str] = &[
    "merchants",
    "customers",
    "customer_contacts",
    "customer_identifiers",
    "identity_merges",
    "products",
    "exchange_rates",
    "events",
    "outbox",
    "consumer_offsets",
    "orders",
    "order_lines",
    "profiles",
    "customer_tags",
    "tag_history",
    "segments",
    "value_models",
    "rebuild_jobs",
    "rec_models",
    "training_jobs",
    "country_exclusions",
    "strategies",
    "campaigns",
    "campaign_results",
    "strategy_posteriors",
    "contact_log",
    "response_priors",
    "api_keys",
    "access_log",
    "erased_customers",
    "rec_model_customers",
    "rec_model_purges",
    "failed_events",
    "profile_event_summaries",
];
