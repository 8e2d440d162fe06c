//! Pure recommendation domain code: interaction weighting, the user×item matrix, the models
//! (item-to-item CF, EASE, implicit ALS, popularity, content affinity), their blend, the
//! cross-border serving rules, reasons, and offline evaluation. No gRPC, no SQL.
//!
//! Typical flow: [`interactions::Interaction`]s → [`matrix::InteractionMatrix::build`] →
//! fit models ([`item_cf::ItemCf::fit`], [`ease::Ease::fit`], [`als::Als::fit`],
//! [`popularity::Popularity::fit`]) → [`blend::Blend`] with weights from
//! [`blend::search_weights`] on a validation split → [`blend::Blend::recommend`] with
//! [`rules::Rules`] → [`reasons::Reason`] per item.

pub mod als;
pub mod blend;
pub mod content;
pub mod ease;
pub mod evaluate;
pub mod interactions;
pub mod item_cf;
pub mod matrix;
pub mod metrics;
pub mod model;
pub mod model_codec;
pub mod online_retail;
pub mod popularity;
pub mod reasons;
pub mod rules;
pub mod scoring;
pub mod serving;
#[cfg(test)]
mod test_fixtures;
pub mod training;
