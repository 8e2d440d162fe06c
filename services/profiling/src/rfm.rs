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
    let (r, f, m) = ranked_axes(values);
    let (recency, frequency, monetary) = (quintiles(&r), quintiles(&f), quintiles(&m));
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
        let score = bucket(position);
        for &index in &order[start..=end] {
            scores[index] = score;
        }
        start = end + 1;
    }
    scores
}

/// The quintile scores of a merchant's buyers at one moment, kept to score a changed
/// customer against without ranking every buyer again: a value scores what it would have
/// scored in that ranking. The merchant-wide ranking is redone from time to time
/// (`merchant_refresh`), which corrects the drift.
#[derive(Debug, Clone, PartialEq)]
pub struct RfmSnapshot {
    /// The instant recency was counted to.
    pub as_of: chrono::DateTime<chrono::Utc>,
    recency: SortedValues,
    frequency: SortedValues,
    monetary: SortedValues,
}

impl RfmSnapshot {
    /// The snapshot of `values`, whose recency was counted to `as_of`.
    pub fn of(values: &[RfmValues], as_of: chrono::DateTime<chrono::Utc>) -> Self {
        let (r, f, m) = ranked_axes(values);
        Self {
            as_of,
            recency: SortedValues::of(r),
            frequency: SortedValues::of(f),
            monetary: SortedValues::of(m),
        }
    }

    /// How many buyers the snapshot ranks.
    pub fn len(&self) -> usize {
        self.frequency.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The scores of `v` (recency counted to [`Self::as_of`]) among the snapshot's buyers.
    pub fn score(&self, v: RfmValues) -> RfmScores {
        let (r, f, m) = axes(v);
        RfmScores {
            recency: self.recency.score(r),
            frequency: self.frequency.score(f),
            monetary: self.monetary.score(m),
        }
    }
}

/// One axis of a snapshot, sorted.
#[derive(Debug, Clone, PartialEq)]
struct SortedValues(Vec<f64>);

impl SortedValues {
    fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        Self(values)
    }

    /// The quintile [`quintiles`] gives `v` among these values: the mean rank of its tie
    /// group, or, for a value not among them, its rank had it been one more.
    fn score(&self, v: f64) -> u8 {
        let lo = self.0.partition_point(|x| x.total_cmp(&v).is_lt());
        let hi = self.0.partition_point(|x| x.total_cmp(&v).is_le());
        #[allow(clippy::cast_precision_loss)]
        let position = if hi > lo {
            ((lo + hi - 1) as f64 / 2.0) / self.0.len() as f64
        } else {
            lo as f64 / (self.0.len() + 1) as f64
        };
        bucket(position)
    }
}

/// A position in `[0, 1)` as a quintile score 1..=5.
fn bucket(position: f64) -> u8 {
    // Truncation is the intent: position in [0,1) maps onto buckets 0..=4.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let score = 1 + ((position * 5.0).floor() as u8).min(4);
    score
}

/// The three values ranked, higher better: recency negated (fewer days is better).
fn axes(v: RfmValues) -> (f64, f64, f64) {
    // i64 -> f64 only loses precision above 2^53 minor units, far beyond any spend.
    #[allow(clippy::cast_precision_loss)]
    let monetary = v.monetary as f64;
    (-v.recency_days, f64::from(v.frequency), monetary)
}

fn ranked_axes(values: &[RfmValues]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut r = Vec::with_capacity(values.len());
    let mut f = Vec::with_capacity(values.len());
    let mut m = Vec::with_capacity(values.len());
    for v in values {
        let (a, b, c) = axes(*v);
        r.push(a);
        f.push(b);
        m.push(c);
    }
    (r, f, m)
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

    fn values(seed: u64, n: usize) -> Vec<RfmValues> {
        // SplitMix64: reproducible, with many ties (small ranges).
        let mut state = seed;
        let mut next = move |m: u64| {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) % m
        };
        (0..n)
            .map(|_| RfmValues {
                recency_days: f64::from(u32::try_from(next(400)).unwrap_or(0)) / 4.0,
                frequency: u32::try_from(next(12)).unwrap_or(0),
                monetary: i64::try_from(next(50)).unwrap_or(0) * 1_000,
            })
            .collect()
    }

    #[test]
    fn a_snapshot_scores_each_of_its_buyers_as_the_full_ranking_does() {
        let as_of = chrono::Utc::now();
        for (seed, n) in [(1, 1), (2, 7), (3, 100), (4, 2_500)] {
            let all = values(seed, n);
            let snapshot = RfmSnapshot::of(&all, as_of);
            assert_eq!(snapshot.len(), n);
            for (v, full) in all.iter().zip(score(&all)) {
                assert_eq!(snapshot.score(*v), full, "seed {seed}, {v:?}");
            }
        }
    }

    #[test]
    fn a_value_not_in_the_snapshot_scores_where_it_would_rank() {
        let all: Vec<RfmValues> = (1..=9)
            .map(|i| RfmValues {
                recency_days: f64::from(i) * 10.0,
                frequency: i,
                monetary: i64::from(i) * 100,
            })
            .collect();
        let snapshot = RfmSnapshot::of(&all, chrono::Utc::now());
        // Better than everyone on every axis: the top quintile.
        let best = RfmValues {
            recency_days: 0.0,
            frequency: 50,
            monetary: 1_000_000,
        };
        assert_eq!(snapshot.score(best), scores(5, 5, 5));
        // Worse than everyone: the bottom one.
        let worst = RfmValues {
            recency_days: 500.0,
            frequency: 0,
            monetary: 0,
        };
        assert_eq!(snapshot.score(worst), scores(1, 1, 1));
        // Between the 5th and 6th of 9: rank 5 of 10, the third quintile.
        let middle = RfmValues {
            recency_days: 55.0,
            frequency: 0,
            monetary: 550,
        };
        assert_eq!(snapshot.score(middle).monetary, 3);
        assert_eq!(snapshot.score(middle).recency, 3);
    }
}
