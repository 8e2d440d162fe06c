//! Social sharing (B2C): shares per platform, interactions, referrals and their
//! conversions, and the raw influence that is ranked among the merchant's customers.

use std::collections::{BTreeSet, HashMap};

use caravan_proto::caravan::ingestion::v1::SocialActionKind;
use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::profiling::v1 as pb;

use serde::{Deserialize, Serialize};

use super::{CustomerData, StoredEvent, saturation, top_counts};

/// Influence weights: a converted referral is worth most, then a referral, then a share
/// (scaled by the log of its audience), then an interaction.
pub mod weights {
    pub const SHARE: f64 = 1.0;
    pub const INTERACTION: f64 = 0.2;
    pub const REFERRAL: f64 = 2.0;
    pub const CONVERTED_REFERRAL: f64 = 5.0;
}

/// What social sharing keeps of a customer's events, one event at a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SocialTally {
    shares: HashMap<i32, i64>,
    share_count: i64,
    interactions: i64,
    referrals: i64,
    /// Influence from shares, interactions and referrals (converted referrals are added
    /// at build time, when it is known which referred customers have ordered).
    raw: f64,
    /// Resource names of the customers referred.
    referred: BTreeSet<String>,
}

impl SocialTally {
    pub(crate) fn apply(&mut self, e: &StoredEvent) {
        let Payload::SocialAction(s) = &e.payload else {
            return;
        };
        match SocialActionKind::try_from(s.action) {
            Ok(SocialActionKind::Share) => {
                self.share_count += 1;
                *self.shares.entry(s.platform).or_default() += 1;
                #[allow(clippy::cast_precision_loss)]
                let reach = (1.0 + s.audience_size.max(0) as f64).ln().max(1.0);
                self.raw += weights::SHARE * reach;
            }
            Ok(SocialActionKind::Like | SocialActionKind::Comment | SocialActionKind::Follow) => {
                self.interactions += 1;
                self.raw += weights::INTERACTION;
            }
            Ok(SocialActionKind::Referral) => {
                self.referrals += 1;
                self.raw += weights::REFERRAL;
                if !s.referred_customer.is_empty() {
                    self.referred.insert(s.referred_customer.clone());
                }
            }
            _ => {}
        }
    }

    /// Resource names of the customers referred.
    pub fn referred(&self) -> impl Iterator<Item = &str> {
        self.referred.iter().map(String::as_str)
    }
}

/// The dimension and the raw influence (before ranking among the merchant's customers).
pub fn build(data: &CustomerData) -> (pb::SocialSharingDimension, f64) {
    let t = &data.events.social;
    let converted = t
        .referred
        .iter()
        .filter(|c| data.converted_referrals.contains(*c))
        .count();
    let mut raw = t.raw;
    #[allow(clippy::cast_precision_loss)]
    {
        raw += weights::CONVERTED_REFERRAL * converted as f64;
    }
    let (share_count, interactions, referrals) = (t.share_count, t.interactions, t.referrals);
    let shares = &t.shares;
    #[allow(clippy::cast_precision_loss)]
    let evidence = (share_count + interactions + referrals) as f64;
    let dim = pb::SocialSharingDimension {
        completeness: saturation(evidence, 5.0),
        shares_by_platform: top_counts(shares, usize::MAX)
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
