//! What the decision stage keeps of a customer's events between builds, bounded by what a
//! build can still use rather than by the number of events.
//!
//! A build weighs each event of the last [`WINDOW_DAYS`] by `base × ½^(age / half-life)`,
//! sums the weights per stage and shows the heaviest ten of the winning stage. Two facts
//! keep this small:
//! - **Sums by hour.** Every weight of one hour decays by the same factor as the hour
//!   passes, so a stage's weight per hour is one number (weights taken at the start of the
//!   hour) and a build multiplies it by the hour's decay. Only an hour that straddles the
//!   window's start is counted whole.
//! - **Evidence that can still be shown.** Two events of one stage keep their order as time
//!   passes (both decay alike), and the newer one leaves the window later. So an event that
//!   ten newer events of its stage outweigh is never among a later build's ten heaviest
//!   again, and its description is dropped. (This needs every event of the customer in the
//!   build's window: a build assesses the stage at its `as_of` or the customer's latest
//!   event, whichever is later.)
//!
//! Both depend only on the events, not on when the tally was saved or trimmed, so a tally
//! updated event by event equals one built from all events at once.

use std::collections::BTreeMap;

use caravan_proto::caravan::ingestion::v1::event::Payload;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoredEvent;
use super::decision_stage::{HALF_LIFE_DAYS, MAX_EVIDENCE, classify};

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;
const NANOS_PER_DAY: f64 = 86_400e9;

/// One stage's summed weight over one hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct HourWeight {
    #[serde(rename = "s")]
    stage: i32,
    /// Hours since the epoch.
    #[serde(rename = "h")]
    hour: i64,
    /// Σ base × 2^((at − hour start) / half-life) over the hour's events of the stage.
    #[serde(rename = "w")]
    weight: f64,
    /// The first and last event of the hour (nanoseconds since the epoch).
    #[serde(rename = "f")]
    first: i64,
    #[serde(rename = "l")]
    last: i64,
}

/// One event's evidence, kept while it can still be shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Observed {
    #[serde(rename = "s")]
    stage: i32,
    #[serde(rename = "b")]
    base: f64,
    #[serde(rename = "d")]
    description: String,
    #[serde(rename = "e")]
    event_id: String,
    #[serde(rename = "t", with = "chrono::serde::ts_nanoseconds")]
    at: DateTime<Utc>,
    /// Newer events of the stage that outweigh this one.
    #[serde(rename = "o")]
    outweighed_by: u8,
}

/// What the decision stage keeps of a customer's events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTally {
    #[serde(rename = "w")]
    hours: Vec<HourWeight>,
    #[serde(rename = "e")]
    shown: Vec<Observed>,
    /// View times per product (nanoseconds since the epoch): coming back to a product is
    /// evidence of comparison.
    #[serde(rename = "v")]
    product_views: BTreeMap<String, Vec<i64>>,
}

/// One piece of evidence a build may show.
pub(crate) struct Shown<'a> {
    pub stage: i32,
    pub weight: f64,
    pub description: &'a str,
    pub event_id: &'a str,
    pub at: DateTime<Utc>,
}

/// The weight of the stages' evidence within a window, and when each stage's starts.
/// Ordered maps: sums taken in the same order give the same bits, so a portrait updated
/// event by event equals one built from all events.
#[derive(Default)]
pub(crate) struct StageWeights {
    pub by_stage: BTreeMap<i32, f64>,
    pub first: BTreeMap<i32, DateTime<Utc>>,
}

fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn from_nanos(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

/// `2^(Δ / half-life)` for a time difference in nanoseconds.
#[allow(clippy::cast_precision_loss)]
fn growth(delta_nanos: i64) -> f64 {
    2f64.powf(delta_nanos as f64 / NANOS_PER_DAY / HALF_LIFE_DAYS)
}

/// Whether `newer` outweighs `older` at any time both are in the window (by a margin, so
/// that rounding never drops evidence a build would show).
fn outweighs(newer: &Observed, older: &Observed) -> bool {
    let ratio = newer.base / older.base * growth(nanos(newer.at) - nanos(older.at));
    ratio > 1.0 + 1e-9
}

impl StageTally {
    pub(crate) fn apply(&mut self, e: &StoredEvent) {
        let at = nanos(e.occur_time);
        if let Payload::ProductView(v) = &e.payload {
            self.product_views
                .entry(v.product.clone())
                .or_default()
                .push(at);
        }
        let Some((stage, base, description)) = classify(e) else {
            return;
        };
        let stage = stage as i32;
        self.add_weight(stage, base, at);
        let new = Observed {
            stage,
            base,
            description,
            event_id: e.event_id.clone(),
            at: e.occur_time,
            outweighed_by: 0,
        };
        for old in self.shown.iter_mut().filter(|o| o.stage == stage) {
            if outweighs(&new, old) {
                old.outweighed_by = old.outweighed_by.saturating_add(1);
            }
        }
        self.shown
            .retain(|o| usize::from(o.outweighed_by) < MAX_EVIDENCE);
        self.shown.push(new);
    }

    fn add_weight(&mut self, stage: i32, base: f64, at: i64) {
        let hour = at.div_euclid(NANOS_PER_HOUR);
        let grown = base * growth(at - hour * NANOS_PER_HOUR);
        // Events come in time order: an hour's sums are at the end.
        let current = self
            .hours
            .iter_mut()
            .rev()
            .take_while(|h| h.hour == hour)
            .find(|h| h.stage == stage);
        match current {
            Some(h) => {
                h.weight += grown;
                h.first = h.first.min(at);
                h.last = h.last.max(at);
            }
            None => self.hours.push(HourWeight {
                stage,
                hour,
                weight: grown,
                first: at,
                last: at,
            }),
        }
    }

    /// Forgets what happened before `from`: no later build's window reaches back there.
    pub(crate) fn forget_before(&mut self, from: DateTime<Utc>) {
        let from_nanos = nanos(from);
        self.hours.retain(|h| h.last >= from_nanos);
        self.shown.retain(|o| o.at >= from);
        self.product_views.retain(|_, times| {
            times.retain(|t| *t >= from_nanos);
            !times.is_empty()
        });
    }

    /// Each stage's weight at `as_of` of the evidence in `[since, as_of]`.
    pub(crate) fn weights(&self, since: DateTime<Utc>, as_of: DateTime<Utc>) -> StageWeights {
        let (since_nanos, as_of_nanos) = (nanos(since), nanos(as_of));
        let mut out = StageWeights::default();
        for h in &self.hours {
            if h.last < since_nanos || h.first > as_of_nanos {
                continue;
            }
            let decay = 1.0 / growth(as_of_nanos - h.hour * NANOS_PER_HOUR);
            *out.by_stage.entry(h.stage).or_default() += h.weight * decay;
            let first = from_nanos(h.first.max(since_nanos));
            out.first
                .entry(h.stage)
                .and_modify(|t| *t = (*t).min(first))
                .or_insert(first);
        }
        out
    }

    /// The evidence in `[since, as_of]` that a build may show, weighed at `as_of`.
    pub(crate) fn shown(
        &self,
        since: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> impl Iterator<Item = Shown<'_>> {
        self.shown
            .iter()
            .filter(move |o| o.at >= since && o.at <= as_of)
            .map(move |o| Shown {
                stage: o.stage,
                weight: o.base / growth(nanos(as_of) - nanos(o.at)),
                description: &o.description,
                event_id: &o.event_id,
                at: o.at,
            })
    }

    /// Each product's view times in `[since, as_of]`, in order.
    pub(crate) fn product_views(
        &self,
        since: DateTime<Utc>,
        as_of: DateTime<Utc>,
    ) -> impl Iterator<Item = (&str, Vec<DateTime<Utc>>)> {
        let (since, as_of) = (nanos(since), nanos(as_of));
        self.product_views.iter().map(move |(product, times)| {
            let seen = times
                .iter()
                .filter(|t| **t >= since && **t <= as_of)
                .map(|t| from_nanos(*t))
                .collect();
            (product.as_str(), seen)
        })
    }

    /// How many events' evidence is kept for showing.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.shown.len()
    }
}

#[cfg(test)]
mod tests {
    use caravan_proto::caravan::ingestion::v1 as ing;
    use chrono::{Duration, TimeZone};

    use super::super::decision_stage::WINDOW_DAYS;

    use super::*;

    fn event(id: usize, at: DateTime<Utc>, payload: Payload) -> StoredEvent {
        StoredEvent {
            event_id: format!("e{id}"),
            occur_time: at,
            session_id: None,
            payload,
        }
    }

    fn view(product: &str) -> Payload {
        Payload::ProductView(ing::ProductViewEvent {
            product: product.to_owned(),
            dwell_seconds: 0,
        })
    }

    fn ticket(id: usize) -> Payload {
        Payload::AfterSalesTicket(ing::AfterSalesTicketEvent {
            ticket_id: format!("t{id}"),
            ..Default::default()
        })
    }

    /// The weights, one per event, as a build before hourly sums computed them.
    fn per_event(events: &[StoredEvent], since: DateTime<Utc>, as_of: DateTime<Utc>) -> f64 {
        events
            .iter()
            .filter(|e| e.occur_time >= since && e.occur_time <= as_of)
            .filter_map(|e| classify(e).map(|(_, base, _)| (e.occur_time, base)))
            .map(|(at, base)| base / growth(nanos(as_of) - nanos(at)))
            .sum()
    }

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 8, 30, 0)
            .single()
            .expect("a time")
    }

    #[test]
    fn hourly_sums_weigh_what_the_events_weigh_one_by_one() {
        let events: Vec<StoredEvent> = (0..500)
            .map(|i| {
                let at = start() + Duration::minutes(i64::try_from(i * 17).expect("small"));
                let payload = if i % 3 == 0 { ticket(i) } else { view("p") };
                event(i, at, payload)
            })
            .collect();
        let mut tally = StageTally::default();
        for e in &events {
            tally.apply(e);
        }
        let as_of = start() + Duration::days(9);
        let since = start() - Duration::days(1);
        let summed: f64 = tally.weights(since, as_of).by_stage.values().sum();
        let expected = per_event(&events, since, as_of);
        assert!(
            (summed - expected).abs() < 1e-9 * expected,
            "{summed} vs {expected}"
        );
    }

    #[test]
    fn evidence_ten_newer_events_outweigh_is_dropped_and_the_rest_kept() {
        let mut tally = StageTally::default();
        // Tickets of one weight: each newer one outweighs all older ones, so ten remain.
        for i in 0..100 {
            let at = start() + Duration::minutes(i64::try_from(i).expect("small"));
            tally.apply(&event(i, at, ticket(i)));
        }
        assert_eq!(tally.kept(), MAX_EVIDENCE);
        let as_of = start() + Duration::days(1);
        let shown: Vec<&str> = tally.shown(start(), as_of).map(|s| s.event_id).collect();
        assert_eq!(shown.first(), Some(&"e90"));
        assert_eq!(shown.last(), Some(&"e99"));
        // Evidence of another stage outweighs nothing of this one.
        tally.apply(&event(100, as_of, view("p")));
        assert_eq!(tally.kept(), MAX_EVIDENCE + 1);
        // A lighter after-sales event a month later outweighs every ticket: the one that
        // nine newer tickets outweighed goes.
        let review = Payload::Review(ing::ReviewEvent {
            rating: 4,
            ..Default::default()
        });
        tally.apply(&event(101, start() + Duration::days(30), review));
        assert_eq!(tally.kept(), MAX_EVIDENCE + 1);
        let shown: Vec<&str> = tally
            .shown(start(), start() + Duration::days(31))
            .map(|s| s.event_id)
            .collect();
        assert!(
            !shown.contains(&"e90") && shown.contains(&"e91"),
            "{shown:?}"
        );
    }

    #[test]
    fn tallies_equal_whether_trimmed_along_the_way_or_once() {
        let events: Vec<StoredEvent> = (0..300)
            .map(|i| {
                let at = start() + Duration::hours(i64::try_from(i * 7).expect("small"));
                let payload = match i % 4 {
                    0 => ticket(i),
                    1 => view("p"),
                    2 => view("q"),
                    _ => Payload::PageView(ing::PageViewEvent::default()),
                };
                event(i, at, payload)
            })
            .collect();
        let mut along = StageTally::default();
        let mut once = StageTally::default();
        for (i, e) in events.iter().enumerate() {
            along.apply(e);
            once.apply(e);
            if i % 25 == 0 {
                along.forget_before(e.occur_time - Duration::days(WINDOW_DAYS + 1));
                let json = serde_json::to_string(&along).expect("serialises");
                along = serde_json::from_str(&json).expect("deserialises");
            }
        }
        let last = events.last().expect("events").occur_time;
        let from = last - Duration::days(WINDOW_DAYS + 1);
        along.forget_before(from);
        once.forget_before(from);
        assert_eq!(along, once);
    }

    /// The ten heaviest of each stage, found among all events, are what the tally shows,
    /// for any `as_of` from the last event on.
    #[test]
    fn the_evidence_kept_holds_every_stage_s_ten_heaviest() {
        let mut seed = 42u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let mut at = start();
        let mut events = Vec::new();
        for i in 0..2_000 {
            at += Duration::minutes(i64::try_from(next(6_000)).expect("small"));
            let payload = match next(4) {
                0 => ticket(i),
                1 => Payload::Review(ing::ReviewEvent::default()),
                2 => view("p"),
                _ => Payload::PageView(ing::PageViewEvent::default()),
            };
            events.push(event(i, at, payload));
        }
        let mut tally = StageTally::default();
        for e in &events {
            tally.apply(e);
        }
        assert!(tally.kept() < 100, "{} kept", tally.kept());
        for days_later in [0, 3, 20, 45] {
            let as_of = at + Duration::days(days_later);
            let since = as_of - Duration::days(WINDOW_DAYS);
            let top = |mut all: Vec<(i32, f64, String)>, stage: i32| {
                all.retain(|(s, _, _)| *s == stage);
                all.sort_by(|a, b| b.1.total_cmp(&a.1).then(b.2.cmp(&a.2)));
                all.truncate(MAX_EVIDENCE);
                all.into_iter().map(|(_, _, id)| id).collect::<Vec<_>>()
            };
            let everything: Vec<(i32, f64, String)> = events
                .iter()
                .filter(|e| e.occur_time >= since && e.occur_time <= as_of)
                .filter_map(|e| {
                    let (stage, base, _) = classify(e)?;
                    let weight = base / growth(nanos(as_of) - nanos(e.occur_time));
                    Some((stage as i32, weight, e.event_id.clone()))
                })
                .collect();
            let kept: Vec<(i32, f64, String)> = tally
                .shown(since, as_of)
                .map(|s| (s.stage, s.weight, s.event_id.to_owned()))
                .collect();
            for stage in 1..=8 {
                assert_eq!(
                    top(kept.clone(), stage),
                    top(everything.clone(), stage),
                    "stage {stage}, {days_later} days later"
                );
            }
        }
    }
}
