//! The drill's load: `streams` concurrent clients, each sending its share of the events as
//! a sequence of `IngestEvents` calls, every event with a caller-chosen id
//! (`drill-{stream}-{seq}`). A call that fails is sent again, whole, until it is
//! acknowledged (an OK response): events the failed attempt had stored come back as
//! duplicates. Events are a pure function of `(stream, seq)`, so the expected outcome per
//! customer is known without keeping them.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use tokio::sync::{Mutex, watch};

use crate::Channel;

/// The merchant every drill event belongs to.
pub const MERCHANT: &str = "drill";

/// The current ingestion client; `None` while the process is down.
pub type ClientSlot = watch::Receiver<Option<IngestionServiceClient<Channel>>>;

/// Sizes of the load.
#[derive(Debug, Clone)]
pub struct LoadShape {
    pub events: usize,
    pub streams: usize,
    pub customers: usize,
    /// Events per `IngestEvents` message (one transaction each).
    pub batch: usize,
    /// Events per call (a call is `call_events / batch` messages).
    pub call_events: usize,
    /// How long one call may keep failing before the drill gives up on it.
    pub call_deadline: Duration,
    /// Events per second over all streams (see [`LoadShape::due`]), or `None` for as fast
    /// as the service takes them.
    pub rate: Option<u32>,
}

impl LoadShape {
    /// Events of stream `s` (the first `events % streams` streams get one more).
    pub fn stream_len(&self, s: usize) -> usize {
        let streams = self.streams.max(1);
        self.events / streams + usize::from(s < self.events % streams)
    }

    /// When event `seq` of a stream is due, after the load's start: each stream sends at
    /// `rate / streams` events per second (zero without a rate). A message is sent when its
    /// first event is due, so a call is a long-lived stream with batches trickling in, as
    /// from a tracker relay; a re-sent call sends what is already due at once.
    pub fn due(&self, seq: usize) -> Duration {
        match self.rate.filter(|r| *r > 0) {
            Some(rate) => {
                let per_stream = f64::from(rate) / self.streams.max(1) as f64;
                Duration::from_secs_f64(seq as f64 / per_stream)
            }
            None => Duration::ZERO,
        }
    }

    /// `(start, end)` sequence numbers of each call of stream `s`. Stream `s`'s first call
    /// is shorter by `s / streams` of a call, so that the streams' calls end at different
    /// times rather than all together.
    pub fn calls(&self, s: usize) -> Vec<(usize, usize)> {
        let len = self.stream_len(s);
        let step = self.call_events.max(1);
        let first = step - s * step / self.streams.max(1);
        let mut bounds = vec![0];
        bounds.extend((first..len).step_by(step));
        bounds.push(len);
        bounds.dedup();
        bounds.windows(2).map(|w| (w[0], w[1])).collect()
    }
}

/// What one event is: its customer and whether it is an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventShape {
    pub customer: usize,
    pub kind: u64,
}

impl EventShape {
    pub fn of(shape: &LoadShape, stream: usize, seq: usize) -> Self {
        let h = mix((stream as u64) << 32 | seq as u64);
        Self {
            customer: (h % shape.customers.max(1) as u64) as usize,
            kind: (h >> 32) % 100,
        }
    }

    pub fn is_order(&self) -> bool {
        (80..90).contains(&self.kind)
    }
}

/// SplitMix64's finaliser: a well-spread hash of `(stream, seq)`.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub fn event_id(stream: usize, seq: usize) -> String {
    format!("drill-{stream}-{seq}")
}

/// `drill-{stream}-{seq}` back to its parts.
pub fn parse_event_id(id: &str) -> Option<(usize, usize)> {
    let (stream, seq) = id.strip_prefix("drill-")?.split_once('-')?;
    Some((stream.parse().ok()?, seq.parse().ok()?))
}

pub fn customer_id(customer: usize) -> String {
    format!("c-{customer}")
}

/// Expected events and orders per customer id, once every event is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Expected {
    pub events: i64,
    pub orders: i64,
}

pub fn expected_per_customer(shape: &LoadShape) -> BTreeMap<String, Expected> {
    let mut out: BTreeMap<String, Expected> = BTreeMap::new();
    for s in 0..shape.streams {
        for seq in 0..shape.stream_len(s) {
            let e = EventShape::of(shape, s, seq);
            let entry = out.entry(customer_id(e.customer)).or_default();
            entry.events += 1;
            entry.orders += i64::from(e.is_order());
        }
    }
    out
}

fn gbp(minor: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "GBP".to_owned(),
        amount_minor: minor,
    })
}

/// The event `(stream, seq)`: views, carts and searches mostly, one in ten an order.
pub fn event(
    shape: &LoadShape,
    stream: usize,
    seq: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> pb::Event {
    use pb::event::Payload;
    let e = EventShape::of(shape, stream, seq);
    let product = format!("SKU-{:04}", (seq * 7 + stream) % 500);
    let occur = now - chrono::Duration::seconds(60 + (e.kind as i64) * 3_600 + (seq % 600) as i64);
    let payload = match e.kind {
        0..=19 => Payload::PageView(pb::PageViewEvent {
            uri: "https://shop.example/".to_owned(),
            dwell_seconds: 12,
            ..Default::default()
        }),
        20..=59 => Payload::ProductView(pb::ProductViewEvent {
            product,
            dwell_seconds: 30,
        }),
        60..=79 => Payload::CartAdd(pb::CartChangeEvent {
            product,
            quantity: 1,
            unit_price: gbp(1_250),
        }),
        80..=89 => Payload::Order(pb::OrderEvent {
            order_id: format!("o-{stream}-{seq}"),
            status: pb::OrderStatus::Placed as i32,
            lines: vec![pb::OrderLine {
                product,
                quantity: 2,
                unit_price: gbp(1_250),
            }],
            total: gbp(2_500),
            payment: Some(pb::PaymentInfo {
                method: common::PaymentMethod::Paypal as i32,
                outcome: pb::PaymentOutcome::Succeeded as i32,
                amount: gbp(2_500),
                ..Default::default()
            }),
            ..Default::default()
        }),
        _ => Payload::Search(pb::SearchEvent {
            query: "ceramic mug".to_owned(),
            results_count: 12,
            category_path: String::new(),
        }),
    };
    pb::Event {
        event_id: event_id(stream, seq),
        customer: format!("merchants/{MERCHANT}/customers/{}", customer_id(e.customer)),
        occur_time: Some(to_timestamp(occur)),
        session_id: format!("s-{stream}-{}", seq / 50),
        payload: Some(payload),
        ..Default::default()
    }
}

/// The messages of one call: events `start..end` of `stream`, `batch` per message, each
/// with the time after the load's start when it is due (see [`LoadShape::due`]).
fn call_messages(
    shape: &LoadShape,
    stream: usize,
    (start, end): (usize, usize),
) -> Vec<(Duration, pb::IngestEventsRequest)> {
    let now = chrono::Utc::now();
    let step = shape.batch.max(1);
    (start..end)
        .step_by(step)
        .map(|first| {
            let events = (first..(first + step).min(end))
                .map(|seq| event(shape, stream, seq, now))
                .collect();
            let message = pb::IngestEventsRequest {
                parent: format!("merchants/{MERCHANT}"),
                events,
                validate_only: false,
            };
            (shape.due(first), message)
        })
        .collect()
}

/// Progress the fault schedule watches, and the load's tallies.
#[derive(Debug, Default)]
pub struct Progress {
    pub acked_events: AtomicUsize,
    pub acked_calls: AtomicUsize,
    /// Calls sent and not answered yet.
    pub in_flight: AtomicUsize,
    pub tally: Mutex<Tally>,
}

/// Counts a call in flight for as long as it lives.
struct InFlight<'a>(&'a AtomicUsize);

impl<'a> InFlight<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Progress {
    pub fn acked_events(&self) -> usize {
        self.acked_events.load(Ordering::SeqCst)
    }

    pub fn acked_calls(&self) -> usize {
        self.acked_calls.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// What the calls' answers said.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub calls: usize,
    pub attempts: usize,
    /// Failed attempts by gRPC code (or "no server" while ingestion was down).
    pub failures: BTreeMap<String, usize>,
    /// Sums over the acknowledging responses.
    pub accepted: i64,
    pub duplicates: i64,
    pub rejected: i64,
    /// Calls whose OK response did not account for every event sent.
    pub miscounted_calls: Vec<String>,
    /// `(stream, start, end)` of calls never acknowledged (gave up after the deadline).
    pub unacknowledged: Vec<(usize, usize, usize)>,
    /// `(stream, start, end)` of acknowledged calls.
    pub acknowledged: Vec<(usize, usize, usize)>,
    /// The last acknowledgement.
    pub last_ack: Option<Instant>,
}

/// Runs every stream to the end; returns when each call was acknowledged or given up on.
pub async fn run(shape: Arc<LoadShape>, slot: ClientSlot, progress: Arc<Progress>) {
    let start = Instant::now();
    let tasks: Vec<_> = (0..shape.streams)
        .map(|s| {
            let (shape, slot, progress) = (Arc::clone(&shape), slot.clone(), Arc::clone(&progress));
            tokio::spawn(async move {
                for range in shape.calls(s) {
                    send_until_acknowledged(&shape, s, range, &slot, &progress, start).await;
                }
            })
        })
        .collect();
    for task in tasks {
        // A panicking stream would show as unacknowledged events in the verification.
        let _ = task.await;
    }
}

/// Backoff after the `n`th failed attempt in a row: 100 ms doubling, at most 2 s.
fn backoff(n: u32) -> Duration {
    Duration::from_millis(100u64 << n.min(5)).min(Duration::from_secs(2))
}

async fn send_until_acknowledged(
    shape: &LoadShape,
    stream: usize,
    range: (usize, usize),
    slot: &ClientSlot,
    progress: &Progress,
    load_start: Instant,
) {
    let started = Instant::now();
    let mut failures = 0u32;
    loop {
        let outcome = {
            let _counted = InFlight::new(&progress.in_flight);
            attempt(shape, stream, range, slot, load_start).await
        };
        progress.tally.lock().await.attempts += 1;
        match outcome {
            Ok(response) => {
                acknowledge(stream, range, &response, progress).await;
                return;
            }
            Err(code) => {
                *progress
                    .tally
                    .lock()
                    .await
                    .failures
                    .entry(code)
                    .or_default() += 1;
            }
        }
        if started.elapsed() > shape.call_deadline {
            let mut tally = progress.tally.lock().await;
            tally.calls += 1;
            tally.unacknowledged.push((stream, range.0, range.1));
            return;
        }
        tokio::time::sleep(backoff(failures)).await;
        failures += 1;
    }
}

/// One attempt of a call; the error is the failure's name for the tally.
async fn attempt(
    shape: &LoadShape,
    stream: usize,
    range: (usize, usize),
    slot: &ClientSlot,
    load_start: Instant,
) -> Result<pb::IngestEventsResponse, String> {
    use futures::StreamExt as _;
    let Some(mut client) = slot.borrow().clone() else {
        return Err("no server (ingestion restarting)".to_owned());
    };
    let paced = futures::stream::iter(call_messages(shape, stream, range)).then(
        move |(due, message)| async move {
            tokio::time::sleep_until((load_start + due).into()).await;
            message
        },
    );
    let mut request = tonic::Request::new(paced);
    request.set_timeout(Duration::from_secs(60));
    client
        .ingest_events(request)
        .await
        .map(tonic::Response::into_inner)
        .map_err(|s| format!("{:?}", s.code()))
}

async fn acknowledge(
    stream: usize,
    range: (usize, usize),
    r: &pb::IngestEventsResponse,
    progress: &Progress,
) {
    let sent = (range.1 - range.0) as i64;
    let mut tally = progress.tally.lock().await;
    tally.calls += 1;
    tally.accepted += r.accepted_count;
    tally.duplicates += r.duplicate_count;
    tally.rejected += r.rejected_count;
    if r.accepted_count + r.duplicate_count != sent || r.rejected_count != 0 {
        tally.miscounted_calls.push(format!(
            "stream {stream} events {}..{}: sent {sent}, answer {r:?}",
            range.0, range.1
        ));
    }
    tally.acknowledged.push((stream, range.0, range.1));
    tally.last_ack = Some(Instant::now());
    drop(tally);
    progress
        .acked_events
        .fetch_add(range.1 - range.0, Ordering::SeqCst);
    progress.acked_calls.fetch_add(1, Ordering::SeqCst);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(events: usize, streams: usize) -> LoadShape {
        LoadShape {
            events,
            streams,
            customers: 10,
            batch: 3,
            call_events: 4,
            call_deadline: Duration::from_secs(1),
            rate: None,
        }
    }

    #[test]
    fn streams_share_the_events_and_calls_cover_each_stream() {
        let s = shape(10, 3);
        assert_eq!(
            (0..3).map(|i| s.stream_len(i)).collect::<Vec<_>>(),
            [4, 3, 3]
        );
        assert_eq!(s.calls(0), [(0, 4)]);
        // Shorter first calls: 4 - 4/3 and 4 - 8/3 events.
        assert_eq!(s.calls(1), [(0, 3)]);
        assert_eq!(s.calls(2), [(0, 2), (2, 3)]);
        let s = shape(9, 1);
        assert_eq!(s.calls(0), [(0, 4), (4, 8), (8, 9)]);
        assert_eq!(shape(0, 1).calls(0), []);
    }

    #[test]
    fn expected_counts_add_up_and_ids_round_trip() {
        let s = shape(1_000, 7);
        let expected = expected_per_customer(&s);
        assert_eq!(expected.values().map(|e| e.events).sum::<i64>(), 1_000);
        assert!(expected.len() <= 10);
        assert_eq!(parse_event_id(&event_id(12, 345)), Some((12, 345)));
        assert_eq!(parse_event_id("other-1-2"), None);
    }

    #[test]
    fn a_call_is_split_into_messages_of_a_batch() {
        let s = shape(10, 1);
        let messages = call_messages(&s, 0, (0, 4));
        assert_eq!(
            messages
                .iter()
                .map(|(_, m)| m.events.len())
                .collect::<Vec<_>>(),
            [3, 1]
        );
        assert_eq!(messages[0].1.events[0].event_id, "drill-0-0");
        assert_eq!(messages[1].0, Duration::ZERO);
        let paced = LoadShape {
            rate: Some(20),
            ..shape(10, 2)
        };
        // 10 events per second per stream: the second message (event 3) 0.3 s in.
        assert_eq!(
            call_messages(&paced, 1, (0, 4))[1].0,
            Duration::from_millis(300)
        );
    }
}
