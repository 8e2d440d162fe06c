//! The counts after the faults, read from the store and from profiling itself: every
//! acknowledged event stored exactly once and attributed to its customer, the outbox listing
//! each stored event once and consumed to its end, every customer's profile computed from
//! all of their events and orders.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use caravan_proto::caravan::profiling::v1 as prof;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use caravan_store::entity::{consumer_offsets, outbox};
use caravan_store::outbox_entries;
use caravan_store::sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, Statement,
};

use super::load::{self, Expected, LoadShape, MERCHANT, Tally};
use crate::Channel;

/// Occurrences of each planned event, by stream and sequence number.
struct Seen(Vec<Vec<u32>>);

impl Seen {
    fn new(shape: &LoadShape) -> Self {
        Self(
            (0..shape.streams)
                .map(|s| vec![0; shape.stream_len(s)])
                .collect(),
        )
    }

    /// Counts `id`; false if it is not a planned event.
    fn add(&mut self, id: &str) -> bool {
        let slot = load::parse_event_id(id)
            .and_then(|(s, seq)| self.0.get_mut(s).and_then(|v| v.get_mut(seq)));
        match slot {
            Some(n) => {
                *n += 1;
                true
            }
            None => false,
        }
    }

    fn count(&self, stream: usize, seq: usize) -> u32 {
        self.0[stream][seq]
    }

    /// Sum over events of (occurrences - 1) where above one.
    fn repeats(&self) -> u64 {
        self.0
            .iter()
            .flatten()
            .map(|&n| u64::from(n.saturating_sub(1)))
            .sum()
    }
}

/// The event store's side.
#[derive(Debug, Default, Clone)]
pub struct EventCounts {
    pub planned: usize,
    pub acknowledged: usize,
    pub rows: i64,
    pub distinct_ids: i64,
    /// Rows beyond the first of an event id (0 by the unique index, counted anyway).
    pub duplicate_rows: u64,
    /// Acknowledged events with no row; the first few ids in `lost_ids`.
    pub lost: usize,
    pub lost_ids: Vec<String>,
    /// Events of calls never acknowledged that are stored anyway.
    pub unacknowledged_stored: usize,
    /// Rows whose id is not a planned event.
    pub unexpected_rows: usize,
    /// Rows stored for another customer than the event named.
    pub misattributed: usize,
    pub order_rows: i64,
    pub order_events: i64,
}

/// The outbox's side.
#[derive(Debug, Default, Clone)]
pub struct OutboxCounts {
    pub rows: usize,
    pub entries: u64,
    /// Stored events no outbox row lists.
    pub unlisted: usize,
    /// Listings beyond the first of an event.
    pub repeated: u64,
    pub max_seq: i64,
    pub consumer_offset: i64,
    /// The consumer's offset and the newest row when the last call was acknowledged: how
    /// far profiles lagged the load.
    pub at_load_end: (i64, i64),
    /// From the last acknowledgement until the consumer's offset reached the last row.
    pub caught_up_after: Option<Duration>,
}

/// The profiles' side.
#[derive(Debug, Default, Clone)]
pub struct ProfileCounts {
    /// Customers that got events.
    pub customers: usize,
    pub found: usize,
    /// Profiles whose event and order counts equal what was sent for the customer.
    pub current: usize,
    /// The first few customers whose profile is missing or behind, with the figures.
    pub stale: Vec<String>,
    pub stale_count: usize,
}

/// Waits until the consumer's committed offset reaches the newest outbox row; returns the
/// offsets and how long that took after `since`.
pub async fn wait_consumed(
    db: &DatabaseConnection,
    since: Instant,
    limit: Duration,
) -> Result<OutboxCounts> {
    let deadline = Instant::now() + limit;
    loop {
        let (max_seq, offset) = position(db).await?;
        if offset >= max_seq {
            return Ok(OutboxCounts {
                max_seq,
                consumer_offset: offset,
                caught_up_after: Some(since.elapsed()),
                ..Default::default()
            });
        }
        if Instant::now() > deadline {
            return Ok(OutboxCounts {
                max_seq,
                consumer_offset: offset,
                ..Default::default()
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The newest outbox row's seq and the consumer's committed offset.
pub async fn position(db: &DatabaseConnection) -> Result<(i64, i64)> {
    let max_seq = count(db, "SELECT COALESCE(MAX(seq), 0) FROM outbox").await?;
    let offset = consumer_offsets::Entity::find_by_id("profiling".to_owned())
        .one(db)
        .await?
        .map_or(0, |row| row.last_seq);
    Ok((max_seq, offset))
}

async fn count(db: &DatabaseConnection, sql: &str) -> Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// Reads every stored event of the drill's merchant and checks it against the plan and the
/// acknowledged calls.
pub async fn events(
    db: &DatabaseConnection,
    shape: &LoadShape,
    tally: &Tally,
) -> Result<EventCounts> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT event_id, customer_id FROM events WHERE merchant_id = '{MERCHANT}'"),
        ))
        .await?;
    let mut seen = Seen::new(shape);
    let mut out = EventCounts {
        planned: shape.events,
        rows: rows.len() as i64,
        ..Default::default()
    };
    for row in &rows {
        let id: String = row.try_get_by_index(0)?;
        let customer: String = row.try_get_by_index(1)?;
        if !seen.add(&id) {
            out.unexpected_rows += 1;
            continue;
        }
        let (s, seq) = load::parse_event_id(&id).context("planned id")?;
        let planned = load::EventShape::of(shape, s, seq);
        if customer != load::customer_id(planned.customer) {
            out.misattributed += 1;
        }
    }
    out.distinct_ids = count(
        db,
        &format!("SELECT COUNT(DISTINCT event_id) FROM events WHERE merchant_id = '{MERCHANT}'"),
    )
    .await?;
    out.duplicate_rows = seen.repeats();
    tally_acknowledged(shape, tally, &seen, &mut out);
    out.order_rows = count(
        db,
        &format!("SELECT COUNT(*) FROM orders WHERE merchant_id = '{MERCHANT}'"),
    )
    .await?;
    out.order_events = load::expected_per_customer(shape)
        .values()
        .map(|e| e.orders)
        .sum();
    Ok(out)
}

/// Lost = acknowledged but not stored; also what unacknowledged calls left behind.
fn tally_acknowledged(shape: &LoadShape, tally: &Tally, seen: &Seen, out: &mut EventCounts) {
    for &(s, start, end) in &tally.acknowledged {
        out.acknowledged += end - start;
        for seq in start..end {
            if seen.count(s, seq) == 0 {
                out.lost += 1;
                if out.lost_ids.len() < 10 {
                    out.lost_ids.push(load::event_id(s, seq));
                }
            }
        }
    }
    for &(s, start, end) in &tally.unacknowledged {
        out.unacknowledged_stored += (start..end).filter(|&q| seen.count(s, q) > 0).count();
    }
    debug_assert!(out.acknowledged <= shape.events);
}

/// Checks that the outbox lists every stored event exactly once.
pub async fn outbox_listing(
    db: &DatabaseConnection,
    shape: &LoadShape,
    out: &mut OutboxCounts,
) -> Result<()> {
    let rows = outbox::Entity::find()
        .filter(outbox::Column::MerchantId.eq(MERCHANT))
        .filter(outbox::Column::Kind.eq(outbox_entries::BATCH_KIND))
        .all(db)
        .await?;
    let stored = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT event_id FROM events WHERE merchant_id = '{MERCHANT}'"),
        ))
        .await?;
    let mut listed = Seen::new(shape);
    out.rows = rows.len();
    for row in &rows {
        let entries = outbox_entries::decode(row.entries.as_deref().unwrap_or_default())
            .with_context(|| format!("unreadable outbox row {}", row.seq))?;
        out.entries += entries.len() as u64;
        for entry in entries {
            listed.add(&entry.event_id);
        }
    }
    out.repeated = listed.repeats();
    for row in &stored {
        let id: String = row.try_get_by_index(0)?;
        if let Some((s, seq)) = load::parse_event_id(&id)
            && listed.0.get(s).and_then(|v| v.get(seq)) == Some(&0)
        {
            out.unlisted += 1;
        }
    }
    Ok(())
}

/// Every customer's profile, through `ListProfiles` of a live replica, against the events
/// and orders sent for them.
pub async fn profiles(
    channel: Channel,
    expected: &BTreeMap<String, Expected>,
) -> Result<ProfileCounts> {
    let mut client = ProfilingServiceClient::new(channel);
    let mut got: BTreeMap<String, Expected> = BTreeMap::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_profiles(prof::ListProfilesRequest {
                parent: format!("merchants/{MERCHANT}"),
                page_size: 500,
                page_token,
                view: prof::ProfileView::Basic as i32,
                ..Default::default()
            })
            .await
            .context("ListProfiles")?
            .into_inner();
        for p in page.profiles {
            let id = p.customer.rsplit('/').next().unwrap_or_default().to_owned();
            let orders = p.transactions.as_ref().map_or(0, |t| t.order_count);
            got.insert(
                id,
                Expected {
                    events: p.event_count,
                    orders,
                },
            );
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut out = ProfileCounts {
        customers: expected.len(),
        ..Default::default()
    };
    for (customer, want) in expected {
        match got.get(customer) {
            Some(have) if have == want => {
                out.found += 1;
                out.current += 1;
            }
            Some(have) => {
                out.found += 1;
                note_stale(
                    &mut out,
                    format!("{customer}: profile {have:?}, sent {want:?}"),
                );
            }
            None => note_stale(&mut out, format!("{customer}: no profile, sent {want:?}")),
        }
    }
    Ok(out)
}

fn note_stale(out: &mut ProfileCounts, line: String) {
    out.stale_count += 1;
    if out.stale.len() < 10 {
        out.stale.push(line);
    }
}
