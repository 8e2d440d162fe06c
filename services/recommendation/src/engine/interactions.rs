//! Interactions and their weights: per-kind weights, exponential time decay, negative signals.

use serde::{Deserialize, Serialize};

/// What the customer did with the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InteractionKind {
    View,
    Cart,
    Purchase,
    Favourite,
    /// A returned item counts against it.
    Return,
    /// A negative review counts against it.
    NegativeReview,
}

/// One stored interaction. `time` is Unix seconds; `weight` is a per-event multiplier
/// (normally 1.0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    pub customer: String,
    pub item: String,
    pub kind: InteractionKind,
    pub weight: f32,
    pub time: i64,
}

/// Per-kind weights and the half-life of the exponential time decay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeightConfig {
    pub view: f32,
    pub cart: f32,
    pub purchase: f32,
    pub favourite: f32,
    /// Should be negative.
    pub return_: f32,
    /// Should be negative.
    pub negative_review: f32,
    /// Half-life in days; `None` disables decay.
    pub half_life_days: Option<f64>,
}

impl Default for WeightConfig {
    fn default() -> Self {
        Self {
            view: 0.1,
            cart: 0.3,
            purchase: 1.0,
            favourite: 0.5,
            return_: -1.0,
            negative_review: -1.5,
            half_life_days: Some(180.0),
        }
    }
}

impl WeightConfig {
    pub fn kind_weight(&self, kind: InteractionKind) -> f32 {
        match kind {
            InteractionKind::View => self.view,
            InteractionKind::Cart => self.cart,
            InteractionKind::Purchase => self.purchase,
            InteractionKind::Favourite => self.favourite,
            InteractionKind::Return => self.return_,
            InteractionKind::NegativeReview => self.negative_review,
        }
    }

    /// Decay factor `0.5^(age / half_life)` for an event at `time` seen from `now`
    /// (events after `now` are not amplified: age is clamped at 0).
    pub fn decay(&self, time: i64, now: i64) -> f64 {
        match self.half_life_days {
            Some(h) if h > 0.0 => {
                let age_days = ((now - time).max(0) as f64) / 86_400.0;
                0.5f64.powf(age_days / h)
            }
            _ => 1.0,
        }
    }

    /// The signed contribution of one interaction at reference time `now`.
    pub fn weight(&self, it: &Interaction, now: i64) -> f64 {
        f64::from(self.kind_weight(it.kind)) * f64::from(it.weight) * self.decay(it.time, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn it(kind: InteractionKind, time: i64) -> Interaction {
        Interaction {
            customer: "c".into(),
            item: "i".into(),
            kind,
            weight: 1.0,
            time,
        }
    }

    #[test]
    fn half_life_halves_weight() {
        let cfg = WeightConfig {
            half_life_days: Some(10.0),
            ..WeightConfig::default()
        };
        let now = 100 * 86_400;
        let w_now = cfg.weight(&it(InteractionKind::Purchase, now), now);
        let w_old = cfg.weight(&it(InteractionKind::Purchase, now - 10 * 86_400), now);
        assert!((w_now - 1.0).abs() < 1e-12);
        assert!((w_old - 0.5).abs() < 1e-12);
    }

    #[test]
    fn negative_kinds_are_negative() {
        let cfg = WeightConfig::default();
        assert!(cfg.weight(&it(InteractionKind::Return, 0), 0) < 0.0);
        assert!(cfg.weight(&it(InteractionKind::NegativeReview, 0), 0) < 0.0);
        assert!(
            cfg.weight(&it(InteractionKind::View, 0), 0)
                < cfg.weight(&it(InteractionKind::Purchase, 0), 0)
        );
    }
}
