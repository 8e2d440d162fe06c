//! sea-orm entities, one module per table, matching the migrations column for column
//! (checked by the schema tests on both backends).
//!
//! Conventions:
//! * amounts are `i64` minor units next to a `CHAR(3)` currency;
//! * instants are [`UtcDateTime`](crate::UtcDateTime): UTC, microsecond precision, full
//!   `DATETIME` range on MySQL (see its docs for why not `DateTimeUtc`);
//! * enum-like fields (kinds, states, sources, channels) are codes stored as strings, so
//!   the proto enums can evolve without a migration; the services map them;
//! * JSON documents are `serde_json::Value`.

pub mod access_log;
pub mod api_keys;
pub mod campaign_results;
pub mod campaigns;
pub mod consumer_offsets;
pub mod contact_log;
pub mod country_exclusions;
pub mod customer_contacts;
pub mod customer_identifiers;
pub mod customer_tags;
pub mod customers;
pub mod erased_customers;
pub mod events;
pub mod exchange_rates;
pub mod failed_events;
pub mod identity_merges;
pub mod merchants;
pub mod order_lines;
pub mod orders;
pub mod outbox;
pub mod products;
pub mod profile_event_summaries;
pub mod profiles;
pub mod rebuild_jobs;
pub mod rec_model_customers;
pub mod rec_model_purges;
pub mod rec_models;
pub mod response_priors;
pub mod segments;
pub mod strategies;
pub mod strategy_posteriors;
pub mod tag_history;
pub mod training_jobs;
pub mod value_models;

/// Entity type aliases, e.g. `use caravan_store::entity::prelude::*; Customers::find()`.
pub mod prelude {
    pub use super::access_log::Entity as AccessLog;
    pub use super::api_keys::Entity as ApiKeys;
    pub use super::campaign_results::Entity as CampaignResults;
    pub use super::campaigns::Entity as Campaigns;
    pub use super::consumer_offsets::Entity as ConsumerOffsets;
    pub use super::contact_log::Entity as ContactLog;
    pub use super::country_exclusions::Entity as CountryExclusions;
    pub use super::customer_contacts::Entity as CustomerContacts;
    pub use super::customer_identifiers::Entity as CustomerIdentifiers;
    pub use super::customer_tags::Entity as CustomerTags;
    pub use super::customers::Entity as Customers;
    pub use super::erased_customers::Entity as ErasedCustomers;
    pub use super::events::Entity as Events;
    pub use super::exchange_rates::Entity as ExchangeRates;
    pub use super::failed_events::Entity as FailedEvents;
    pub use super::identity_merges::Entity as IdentityMerges;
    pub use super::merchants::Entity as Merchants;
    pub use super::order_lines::Entity as OrderLines;
    pub use super::orders::Entity as Orders;
    pub use super::outbox::Entity as Outbox;
    pub use super::products::Entity as Products;
    pub use super::profile_event_summaries::Entity as ProfileEventSummaries;
    pub use super::profiles::Entity as Profiles;
    pub use super::rebuild_jobs::Entity as RebuildJobs;
    pub use super::rec_model_customers::Entity as RecModelCustomers;
    pub use super::rec_model_purges::Entity as RecModelPurges;
    pub use super::rec_models::Entity as RecModels;
    pub use super::response_priors::Entity as ResponsePriors;
    pub use super::segments::Entity as Segments;
    pub use super::strategies::Entity as Strategies;
    pub use super::strategy_posteriors::Entity as StrategyPosteriors;
    pub use super::tag_history::Entity as TagHistory;
    pub use super::training_jobs::Entity as TrainingJobs;
    pub use super::value_models::Entity as ValueModels;
}
