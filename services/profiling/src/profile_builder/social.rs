//! Social sharing (B2C): shares per platform, interactions, referrals and their
//! conversions, and the raw influence that is ranked among the merchant's customers.

use std::collections::{HashMap, HashSet};

use caravan_proto::caravan::ingestion::v1::SocialActionKind;
use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::profiling::v1 as pb;

use super::{CustomerData, saturation, top_counts};

/// Influence weights: a converted referral is worth most, then a referral, then a share
/// (scaled by the log of its audience), then an interaction.
pub mod weights {
    pub const SHARE: f64 = 1.0;
    pub const INTERACTION: f64 = 0.2;
    pub const REFERRAL: f64 = 2.0;
    pub const CONVERTED_REFERRAL: f64 = 5.0;
}

/// The dimension and the raw influence (before ranking among the merchant's customers).
pub fn build(data: &CustomerData) -> (pb::SocialSharingDimension, f64) {
    let mut shares: HashMap<i32, i64> = HashMap::new();
    let mut share_count = 0i64;
    let mut interactions = 0i64;
    let mut referred: HashSet<&str> = HashSet::new();
    let mut referrals = 0i64;
    let mut raw = 0.0;
    for e in &data.events {
        let Payload::SocialAction(s) = &e.payload else {
            continue;
        };
        match SocialActionKind::try_from(s.action) {
            Ok(SocialActionKind::Share) => {
                share_count += 1;
                *shares.entry(s.platform).or_default() += 1;
                #[allow(clippy::cast_precision_loss)]
                let reach = (1.0 + s.audience_size.max(0) as f64).ln().max(1.0);
                raw += weights::SHARE * reach;
            }
            Ok(SocialActionKind::Like | SocialActionKind::Comment | SocialActionKind::Follow) => {
                interactions += 1;
                raw += weights::INTERACTION;
            }
            Ok(SocialActionKind::Referral) => {
                referrals += 1;
                raw += weights::REFERRAL;
                if !s.referred_customer.is_empty() {
                    referred.insert(&s.referred_customer);
                }
            }
            _ => {}
        }
    }
    let converted = referred
        .iter()
        .filter(|c| data.converted_referrals.contains(**c))
        .count();
    #[allow(clippy::cast_precision_loss)]
    {
        raw += weights::CONVERTED_REFERRAL * converted as f64;
    }
    #[allow(clippy::cast_precision_loss)]
    let evidence = (share_count + interactions + referrals) as f64;
    let dim = pb::SocialSharingDimension {
        completeness: saturation(evidence, 5.0),
        shares_by_platform: top_counts(&shares, usize::MAX)
            .into_iter()
            .map(|(platform, count)| pb::PlatformCount { platform, count })
            .collect(),
        share_count,
        interaction_count: interactions,
        referral_count: referrals,
        converted_referral_count: i64::try_from(converted).unwrap_or(i64::MAX),
        influence_score: 0.0,
    };
    (dim, raw)
}
