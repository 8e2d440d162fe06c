//! A trained, servable model version: everything `Recommend` and `SimilarItems` need, with no
//! reference to the catalogue (stock, ships-to and categories are applied at serving time
//! from the live catalogue, see [`super::serving`]).
//!
//! Every version carries, whatever its kind: the item and customer ids, the customers'
//! positive history (so a known customer is scored without a database read), item-to-item
//! neighbours (for `SimilarItems`, the request context and "bought together" reasons) and
//! popularity counts (cold start and fill). The kind decides which components score and
//! with which weights.

use std::collections::HashMap;

use super::als::AlsConfig;
use super::matrix::Csr;

/// The algorithm family of a model version (the proto's `ModelKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    ItemCf,
    Als,
    Ease,
    Popularity,
    Content,
    Blend,
}

impl ModelKind {
    /// The code stored in `rec_models.kind`.
    pub fn code(self) -> &'static str {
        match self {
            Self::ItemCf => "ITEM_CF",
            Self::Als => "ALS",
            Self::Ease => "EASE",
            Self::Popularity => "POPULARITY",
            Self::Content => "CONTENT",
            Self::Blend => "BLEND",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            Self::ItemCf,
            Self::Als,
            Self::Ease,
            Self::Popularity,
            Self::Content,
            Self::Blend,
        ]
        .into_iter()
        .find(|k| k.code() == code)
    }
}

/// A scoring component of a served model; a BLEND weighs several.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    ItemCf,
    Ease,
    Als,
    /// Distinct buyers in the customer's country (global when unknown).
    PopularityCountry,
    /// Distinct buyers in the last 30 days of the training window.
    PopularityRecent,
    /// Category and brand affinities from the customer's profile.
    Content,
}

impl Component {
    pub const ALL: [Component; 6] = [
        Self::ItemCf,
        Self::Ease,
        Self::Als,
        Self::PopularityCountry,
        Self::PopularityRecent,
        Self::Content,
    ];

    /// The model kind a component is reported as in `BlendWeight.kind`.
    pub fn kind(self) -> ModelKind {
        match self {
            Self::ItemCf => ModelKind::ItemCf,
            Self::Ease => ModelKind::Ease,
            Self::Als => ModelKind::Als,
            Self::PopularityCountry | Self::PopularityRecent => ModelKind::Popularity,
            Self::Content => ModelKind::Content,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::ItemCf => "item-cf",
            Self::Ease => "ease",
            Self::Als => "als",
            Self::PopularityCountry => "popularity-country",
            Self::PopularityRecent => "popularity-recent",
            Self::Content => "content",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }
}

/// Stored ALS factors.
#[derive(Debug, Clone, PartialEq)]
pub struct Factors {
    pub config: AlsConfig,
    /// Row-major `n_users × factors`.
    pub users: Vec<f32>,
    /// Row-major `n_items × factors`.
    pub items: Vec<f32>,
}

/// Popularity counts (distinct customers with a positive cell) per item.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PopularityCounts {
    pub global: Vec<f32>,
    /// Keyed by ISO 3166-1 alpha-2 country.
    pub by_country: HashMap<String, Vec<f32>>,
    pub recent: Vec<f32>,
    /// Keyed by segment id as profiling names it (`champions`, `at-risk`, ...): the
    /// customers' built-in RFM segment when the model was trained.
    pub by_segment: HashMap<String, Vec<f32>>,
}

/// What a training run learnt, independent of how it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainedModel {
    pub kind: ModelKind,
    /// Item (SKU) per item index.
    pub items: Vec<String>,
    /// Customer id per user index.
    pub users: Vec<String>,
    /// Country (alpha-2) per user index, from the customer record at training time.
    pub user_country: Vec<Option<String>>,
    /// Positive history: users × items, decayed weights, column indices sorted per row.
    pub history: Csr,
    /// Item-to-item CF neighbours per item, best first.
    pub neighbours: Vec<Vec<(u32, f32)>>,
    /// EASE weights pruned to the strongest per item (EASE and BLEND models).
    pub ease: Option<Vec<Vec<(u32, f32)>>>,
    /// ALS factors (ALS and BLEND models).
    pub als: Option<Factors>,
    pub popularity: PopularityCounts,
    /// Scoring components and their weights (at least one positive).
    pub weights: Vec<(Component, f32)>,
    /// Training statistics.
    pub interaction_count: u64,
    /// Hyper-parameters used, by name (reported in `Model.hyperparameters`).
    pub hyperparameters: Vec<(String, String)>,
}

impl TrainedModel {
    pub fn n_items(&self) -> usize {
        self.items.len()
    }

    pub fn n_users(&self) -> usize {
        self.users.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in Component::ALL {
            assert_eq!(Component::from_code(c.code()), Some(c));
        }
        for k in [
            ModelKind::ItemCf,
            ModelKind::Als,
            ModelKind::Ease,
            ModelKind::Popularity,
            ModelKind::Content,
            ModelKind::Blend,
        ] {
            assert_eq!(ModelKind::from_code(k.code()), Some(k));
        }
        assert_eq!(ModelKind::from_code("nope"), None);
    }
}
