//! Synthetic events for the benchmarks: every website, transaction, feedback and social
//! kind in realistic proportions (mostly views), deterministic for a given range of ids.

use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use chrono::{DateTime, Duration, Utc};

/// A small deterministic generator (SplitMix64), so every run produces the same events.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

pub fn gbp(minor: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "GBP".to_owned(),
        amount_minor: minor,
    })
}

/// When generated events happen.
#[derive(Debug, Clone, Copy)]
pub enum Times {
    /// At random in the 30 days before now: a batch of history, in no particular order.
    Scattered,
    /// One after another from `from`, `step` apart: a live stream.
    InOrder { from: DateTime<Utc>, step: Duration },
}

/// Events `{id_prefix}-{i}` for `i` in `ids`, for customers `c-0` .. `c-{customers - 1}`.
pub fn generate(
    ids: std::ops::Range<usize>,
    id_prefix: &str,
    customers: usize,
    times: Times,
) -> Vec<pb::Event> {
    let mut rng = Rng(42 ^ ids.start as u64);
    let now = Utc::now();
    let first = ids.start;
    ids.map(|i| {
        let customer = format!("c-{}", rng.below(customers));
        let product = format!("SKU-{:05}", rng.below(3_000));
        let seconds = i64::try_from(rng.below(30 * 86_400)).unwrap_or(0);
        let occur = match times {
            Times::Scattered => now - Duration::seconds(seconds + 60),
            Times::InOrder { from, step } => {
                from + step * i32::try_from(i - first).unwrap_or(i32::MAX)
            }
        };
        use pb::event::Payload;
        let payload = match rng.below(100) {
            0..=9 => Payload::SessionStart(pb::SessionStartEvent {
                device_type: common::DeviceType::Mobile as i32,
                os: "Android".to_owned(),
                traffic_source: common::TrafficSource::ShortVideo as i32,
                referrer_uri: "https://video.example/watch".to_owned(),
                landing_page_uri: "https://shop.example/".to_owned(),
                ip_country_code: "DE".to_owned(),
                language_code: "de".to_owned(),
                campaign: String::new(),
            }),
            10..=49 => Payload::ProductView(pb::ProductViewEvent {
                product: product.clone(),
                dwell_seconds: 30,
            }),
            50..=59 => Payload::Search(pb::SearchEvent {
                query: "ceramic mug".to_owned(),
                results_count: 12,
                category_path: "Home > Kitchen".to_owned(),
            }),
            60..=79 => Payload::CartAdd(pb::CartChangeEvent {
                product: product.clone(),
                quantity: 2,
                unit_price: gbp(1_250),
            }),
            80..=89 => Payload::Order(pb::OrderEvent {
                order_id: format!("o-{i}"),
                status: pb::OrderStatus::Placed as i32,
                lines: vec![
                    pb::OrderLine {
                        product: product.clone(),
                        quantity: 2,
                        unit_price: gbp(1_250),
                    },
                    pb::OrderLine {
                        product: "SKU-00001".to_owned(),
                        quantity: 1,
                        unit_price: gbp(499),
                    },
                ],
                total: gbp(2_999),
                payment: Some(pb::PaymentInfo {
                    method: common::PaymentMethod::Paypal as i32,
                    outcome: pb::PaymentOutcome::Succeeded as i32,
                    amount: gbp(2_999),
                    ..Default::default()
                }),
                logistics: Some(pb::LogisticsInfo {
                    carrier: "DHL".to_owned(),
                    promised_delivery_days: Some(5),
                    shipping_cost: gbp(399),
                    tracking_offered: true,
                    destination_country_code: "DE".to_owned(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            90..=94 => Payload::Review(pb::ReviewEvent {
                product: product.clone(),
                rating: 4,
                title: "Good".to_owned(),
                text: "Arrived quickly, nice quality.".to_owned(),
                language_code: "en".to_owned(),
                ..Default::default()
            }),
            _ => Payload::SocialAction(pb::SocialActionEvent {
                action: pb::SocialActionKind::Share as i32,
                platform: common::SocialPlatform::Tiktok as i32,
                product,
                ..Default::default()
            }),
        };
        pb::Event {
            event_id: format!("{id_prefix}-{i}"),
            customer,
            occur_time: Some(to_timestamp(occur)),
            session_id: format!("s-{}", i / 20),
            payload: Some(payload),
            ..Default::default()
        }
    })
    .collect()
}
