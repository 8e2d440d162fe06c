//! Hand-made interaction data shared by the model tests.

use crate::engine::interactions::{Interaction, InteractionKind, WeightConfig};
use crate::engine::matrix::InteractionMatrix;

/// Two blocks: users u0..u5 buy items a0..a3, users u6..u11 buy b0..b3, each user missing one
/// item of its block. A latent model must recommend each user the missing item of its block.
pub(crate) fn two_blocks() -> InteractionMatrix {
    let mut its = Vec::new();
    for u in 0..12 {
        let (prefix, first) = if u < 6 { ("a", 0) } else { ("b", 6) };
        for k in 0..4 {
            if k != (u - first) % 4 {
                its.push(Interaction {
                    customer: format!("u{u}"),
                    item: format!("{prefix}{k}"),
                    kind: InteractionKind::Purchase,
                    weight: 1.0,
                    time: 0,
                });
            }
        }
    }
    InteractionMatrix::build(
        &its,
        &WeightConfig {
            half_life_days: None,
            ..WeightConfig::default()
        },
        0,
    )
}
