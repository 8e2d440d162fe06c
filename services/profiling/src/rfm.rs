//! RFM (recency, frequency, monetary) scores and the eleven built-in RFM segments.
//!
//! Scores are quintiles across one merchant's buying customers: 5 is best (most recent,
//! most frequent, highest spend). Quintiles are rank-based with ties sharing a score, so
//! customers with equal values always get equal scores, whatever their order in the input.
//!
//! Segments are read off a grid of the recency score R and FM, the rounded mean of the
//! frequency and monetary scores (so spend counts, not only order count). The grid is the
//! widely used R×F segment map (champions = R5 FM4-5, ... hibernating = R1-2 FM1-2), with its
//! bottom corner R1 FM1 split off as "lost":
//!
//! | R \ FM | 1 | 2 | 3 | 4 | 5 |
//! |---|---|---|---|---|---|
//! | 5 | new | potential loyalist | potential loyalist | champions | champions |
//! | 4 | promising | potential loyalist | potential loyalist | loyal | loyal |
//! | 3 | about to sleep | about to sleep | need attention | loyal | loyal |
//! | 2 | hibernating | hibernating | at risk | at risk | can't lose |
//! | 1 | lost | hibernating | at risk | at risk | can't lose |

/// The built-in segments, in the order of `caravan.common.v1.RfmSegment`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RfmSegment {
    Champions,
    Loyal,
    PotentialLoyalist,
    New,
    Promising,
    NeedAttention,
    AboutToSleep,
    AtRisk,
    CantLose,
    Hibernating,
    Lost,
}

impl RfmSegment {
    pub const ALL: [RfmSegment; 11] = [
        RfmSegment::Champions,
        RfmSegment::Loyal,
        RfmSegment::PotentialLoyalist,
        RfmSegment::New,
        RfmSegment::Promising,
        RfmSegment::NeedAttention,
        RfmSegment::AboutToSleep,
        RfmSegment::AtRisk,
        RfmSegment::CantLose,
        RfmSegment::Hibernating,
        RfmSegment::Lost,
    ];

    /// The stable slug used as segment id (`merchants/{m}/segments/rfm-champions`) and in
    /// filters.
    pub fn slug(self) -> &'static str {
        match self {
            RfmSegment::Champions => "champions",
            RfmSegment::Loyal => "loyal",
            RfmSegment::PotentialLoyalist => "potential-loyalists",
            RfmSegment::New => "new",
            RfmSegment::Promising => "promising",
            RfmSegment::NeedAttention => "need-attention",
            RfmSegment::AboutToSleep => "about-to-sleep",
            RfmSegment::AtRisk => "at-risk",
            RfmSegment::CantLose => "cant-lose",
            RfmSegment::Hibernating => "hibernating",
            RfmSegment::Lost => "lost",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.slug() == slug)
    }
}

/// One customer's raw RFM values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RfmValues {
    /// Days since the last order, at the evaluation date.
    pub recency_days: f64,
    /// Number of orders.
    pub frequency: u32,
    /// Total spend in the merchant's base currency (minor units).
    pub monetary: i64,
}

/// One customer's scores, each 1..=5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RfmScores {
    pub recency: u8,
    pub frequency: u8,
    pub monetary: u8,
}

impl RfmScores {
    /// FM: the mean of F and M, rounded half up.
    pub fn fm(self) -> u8 {
        (self.frequency + self.monetary).div_ceil(2)
    }

    pub fn segment(self) -> RfmSegment {
        use RfmSegment::*;
        match (self.recency, self.fm()) {
            (5, 4..) => Champions,
            (3..=4, 4..) => Loyal,
            (4..=5, 2..=3) => PotentialLoyalist,
            (5, _) => New,
            (4, _) => Promising,
            (3, 3) => NeedAttention,
            (3, _) => AboutToSleep,
            (..=2, 5) => CantLose,
            (..=2, 3..=4) => AtRisk,
            (1, ..=1) => Lost,
            _ => Hibernating,
        }
    }
}

/// Scores every customer. The output is in input order.
pub fn score(values: &[RfmValues]) -> Vec<RfmScores> {
    // Recency: fewer days is better, so rank on the negated value.
    let recency = quintiles(&values.iter().map(|v| -v.recency_days).collect::<Vec<_>>());
    let frequency = quintiles(
        &values
            .iter()
            .map(|v| f64::from(v.frequency))
            .collect::<Vec<_>>(),
    );
    // i64 -> f64 only loses precision above 2^53 minor units, far beyond any spend.
    #[allow(clippy::cast_precision_loss)]
    let monetary = quintiles(&values.iter().map(|v| v.monetary as f64).collect::<Vec<_>>());
    (0..values.len())
        .map(|i| RfmScores {
            recency: recency[i],
            frequency: frequency[i],
            monetary: monetary[i],
        })
        .collect()
}

/// Quintile score 1..=5 of each value (higher value, higher score). Ties get the score of
/// their mean rank, so equal values always score equally.
pub fn quintiles(values: &[f64]) -> Vec<u8> {
    let n = values.len();
    if n == 0 {
        return Vec::new();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut scores = vec![0u8; n];
    let mut start = 0;
    while start < n {
        let mut end = start;
        while end + 1 < n
            && values[order[end + 1]]
                .total_cmp(&values[order[start]])
                .is_eq()
        {
            end += 1;
        }
        // Mean 0-based rank of the tie group, as a fraction of n in [0, 1).
        #[allow(clippy::cast_precision_loss)]
        let position = ((start + end) as f64 / 2.0) / n as f64;
        // Truncation is the intent: position in [0,1) maps onto buckets 0..=4.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let score = 1 + ((position * 5.0).floor() as u8).min(4);
        for &index in &order[start..=end] {
            scores[index] = score;
        }
        start = end + 1;
    }
    scores
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(r: u8, f: u8, m: u8) -> RfmScores {
        RfmScores {
            recency: r,
            frequency: f,
            monetary: m,
        }
    }

    #[test]
    fn the_grid_matches_the_documented_table() {
        use RfmSegment::*;
        let table = [
            [
                New,
                PotentialLoyalist,
                PotentialLoyalist,
                Champions,
                Champions,
            ],
            [
                Promising,
                PotentialLoyalist,
                PotentialLoyalist,
                Loyal,
                Loyal,
            ],
            [AboutToSleep, AboutToSleep, NeedAttention, Loyal, Loyal],
            [Hibernating, Hibernating, AtRisk, AtRisk, CantLose],
            [Lost, Hibernating, AtRisk, AtRisk, CantLose],
        ];
        for (row, r) in table.iter().zip([5u8, 4, 3, 2, 1]) {
            for (expected, fm) in row.iter().zip(1u8..=5) {
                assert_eq!(scores(r, fm, fm).segment(), *expected, "R{r} FM{fm}");
            }
        }
        // Every segment is reachable.
        let reached: std::collections::BTreeSet<_> = table.iter().flatten().collect();
        assert_eq!(reached.len(), RfmSegment::ALL.len());
    }

    #[test]
    fn fm_rounds_half_up() {
        assert_eq!(scores(1, 4, 5).fm(), 5);
        assert_eq!(scores(1, 1, 2).fm(), 2);
        assert_eq!(scores(1, 3, 3).fm(), 3);
    }

    #[test]
    fn quintiles_of_distinct_values() {
        let values: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quintiles(&values), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]);
        assert!(quintiles(&[]).is_empty());
        assert_eq!(quintiles(&[7.0]), [1]);
    }

    #[test]
    fn ties_share_a_score_whatever_the_input_order() {
        let a = quintiles(&[1.0, 1.0, 1.0, 1.0, 9.0]);
        assert_eq!(a, [2, 2, 2, 2, 5]);
        let b = quintiles(&[9.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(b, [5, 2, 2, 2, 2]);
    }

    #[test]
    fn recent_frequent_big_spenders_are_champions() {
        let mut values: Vec<RfmValues> = (0..20)
            .map(|i| RfmValues {
                recency_days: f64::from(10 + i * 10),
                frequency: 1 + u32::try_from(i % 3).expect("small"),
                monetary: 1_000 + i64::from(i) * 10,
            })
            .collect();
        values.push(RfmValues {
            recency_days: 1.0,
            frequency: 40,
            monetary: 1_000_000,
        });
        values.push(RfmValues {
            recency_days: 700.0,
            frequency: 1,
            monetary: 100,
        });
        let scored = score(&values);
        assert_eq!(scored[20], scores(5, 5, 5));
        assert_eq!(scored[20].segment(), RfmSegment::Champions);
        assert_eq!(scored[21].segment(), RfmSegment::Lost);
    }

    #[test]
    fn slugs_round_trip() {
        for segment in RfmSegment::ALL {
            assert_eq!(RfmSegment::from_slug(segment.slug()), Some(segment));
        }
        assert_eq!(RfmSegment::from_slug("vip"), None);
    }
}
