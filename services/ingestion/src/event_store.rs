//! Events in the store: idempotent batch writes with the outbox and the orders projection
//! in one transaction, plus reads.
//!
//! Per batch (one `BatchIngestEvents` call or one `IngestEvents` message):
//! 1. in one transaction: the customers are resolved (ids this replica has not seen are
//!    looked up, see `customer_directory`; identifiers are matched), then multi-row INSERTs
//!    of the events (chunks of [`INSERT_CHUNK`]), one outbox row listing them all, the
//!    upsert of the orders touched by order events, and last the customers and identifiers
//!    that did not exist yet;
//! 2. the first attempt is optimistic: it assumes no event of the batch is stored yet, which
//!    is the normal case, and skips looking the ids up. If one is (a re-sent batch, or a
//!    concurrent writer), the `UNIQUE (merchant_id, event_id)` index rejects the INSERT, the
//!    transaction is rolled back and the batch retried with one
//!    `SELECT event_id ... WHERE event_id IN (...)` first, which finds the duplicates and
//!    the customer each was attributed to. Every event is stored exactly once either way.
//!    Likewise a batch whose order events only place orders does not read the stored
//!    orders first; an order that exists after all fails its INSERT and takes the retry.
//!
//! The batch's transaction is a `caravan_store::write_transaction::WriteTransaction`: on
//! MySQL it runs on sqlx directly, so a thousand events' values move into the driver
//! instead of being copied on the way (BENCHMARKS.md, ingestion).

// Per-batch maps (at most a batch's ids, dropped with it): foldhash, which is much cheaper
// than std's SipHash (seen in the service's profile). It is seeded per process but not
// meant to resist crafted collisions; a batch's 1,000 ids bound what those could cost.
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use caravan_store::bulk_insert::insert_rows;
use caravan_store::entity::{events, exchange_rates, order_lines, orders};
use caravan_store::outbox_entries::{self, EntryRef};
use caravan_store::sea_orm::Value;
use caravan_store::sea_orm::sea_query::OnConflict;
use caravan_store::sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IdenStatic, IsolationLevel,
    Iterable, ModelTrait, QueryFilter, QueryOrder, QuerySelect,
};
use caravan_store::statement_shapes::padded_in_list;
use caravan_store::write_transaction::WriteTransaction;
use caravan_store::{UtcDateTime, is_unique_violation};
use chrono::NaiveDate;

use crate::customer_directory::CustomerDirectory;
use crate::customer_store;
use crate::error::IngestionError;
use crate::identity_rules::IdentityHasher;

use crate::event_rules::{CustomerRef, ORDER_PLACED, OrderFacts, ValidEvent};
use crate::money_rules::{Rate, to_base};

/// The `events` columns written, in the order of the values.
const EVENT_COLUMNS: &[&str] = &[
    "merchant_id",
    "event_id",
    "customer_id",
    "kind",
    "occur_time",
    "session_id",
    "source",
    "payload",
    "ingested_at",
];
/// The `outbox` columns written, in the order of the values (`seq` is generated).
const OUTBOX_COLUMNS: &[&str] = &[
    "merchant_id",
    "event_id",
    "customer_id",
    "kind",
    "created_at",
    "entry_count",
    "entries",
    "trace_parent",
];
/// The `order_lines` columns written, in the order of the values.
const ORDER_LINE_COLUMNS: &[&str] = &[
    "merchant_id",
    "order_id",
    "line_no",
    "sku",
    "quantity",
    "unit_price_minor",
];
/// Rows per multi-row INSERT statement.
pub const INSERT_CHUNK: usize = 1000;
/// Ids per `IN (...)` lookup.
const LOOKUP_CHUNK: usize = 1000;
const MAX_ATTEMPTS: usize = 8;

/// What happened to one event of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (or would be, with validate_only); the customer id it was attributed to
    /// (empty when validate_only could not tell without writing).
    Accepted { customer_id: String },
    /// Already stored; the customer id of the stored event (empty if it was a repeat within
    /// the same validate-only stream).
    Duplicate { customer_id: String },
    /// Not stored: the customer it names was erased.
    Refused { customer_id: String },
}

/// Where a batch goes: the store, the merchant, and what this replica remembers of the
/// merchant's customers.
#[derive(Clone, Copy)]
pub struct Destination<'a> {
    pub db: &'a DatabaseConnection,
    pub merchant_id: &'a str,
    pub base_currency: &'a str,
    /// For the tombstones of erased customers.
    pub hasher: &'a IdentityHasher,
    pub customers: &'a CustomerDirectory,
    /// The ingest call's trace (`traceparent`), stored with the outbox row.
    pub trace_parent: Option<&'a str>,
}

/// Stores the valid events of a batch; returns each event's id with its outcome, in order.
/// `seen` holds event ids of earlier messages of a validate-only stream.
pub async fn ingest_batch(
    to: Destination<'_>,
    batch: Vec<ValidEvent>,
    validate_only: bool,
    seen: &mut HashSet<String>,
) -> Result<Vec<(String, Outcome)>, IngestionError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        // Validation needs the lookup: it writes nothing that could collide.
        let look_up_first = validate_only || attempt > 1;
        let result = try_ingest(to, &batch, validate_only, look_up_first, seen).await;
        match result {
            Err(IngestionError::Store(err))
                if attempt < MAX_ATTEMPTS && err.as_db_err().is_some_and(is_retryable) =>
            {
                tracing::debug!(
                    attempt,
                    "events already stored, or a concurrent write of the same customers; retrying batch"
                );
                // The optimistic first attempt found stored events: look them up at once.
                if attempt > 1 {
                    tokio::time::sleep(retry_delay(attempt - 1)).await;
                }
            }
            Ok(outcomes) => {
                let ids = batch.into_iter().map(|event| event.event_id);
                return Ok(ids.zip(outcomes).collect());
            }
            Err(err) => return Err(err),
        }
    }
}

/// Exponential backoff with jitter, so that transactions that collided do not collide again
/// in lock-step: 5-10 ms, 10-20 ms, 20-40 ms, ...
fn retry_delay(attempt: usize) -> std::time::Duration {
    let base_ms = 5u64 << attempt.saturating_sub(1).min(6);
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos()),
    ) % base_ms.max(1);
    std::time::Duration::from_millis(base_ms + jitter)
}

/// A conflict with a concurrent writer: the same event id stored in between (unique
/// violation), or InnoDB chose this transaction as a deadlock victim.
fn is_retryable(err: &caravan_store::sea_orm::DbErr) -> bool {
    let text = err.to_string();
    is_unique_violation(err)
        || text.contains("Deadlock found")
        || text.contains("try restarting transaction")
}

async fn try_ingest(
    to: Destination<'_>,
    batch: &[ValidEvent],
    validate_only: bool,
    look_up_first: bool,
    seen: &mut HashSet<String>,
) -> Result<Vec<Outcome>, IngestionError> {
    let Destination {
        db,
        merchant_id,
        base_currency,
        hasher,
        customers: directory,
        trace_parent,
    } = to;
    let existing = if look_up_first {
        let ids: Vec<&str> = batch.iter().map(|e| e.event_id.as_str()).collect();
        existing_event_customers(db, merchant_id, &ids).await?
    } else {
        HashMap::new()
    };

    let mut outcomes: Vec<Option<Outcome>> = vec![None; batch.len()];
    let mut in_batch: HashSet<&str> = HashSet::with_capacity(batch.len());
    let mut fresh: Vec<usize> = Vec::with_capacity(batch.len());
    for (i, event) in batch.iter().enumerate() {
        if let Some(customer_id) = existing.get(event.event_id.as_str()) {
            outcomes[i] = Some(Outcome::Duplicate {
                customer_id: customer_id.clone(),
            });
        } else if !in_batch.insert(event.event_id.as_str()) || seen.contains(&event.event_id) {
            outcomes[i] = Some(Outcome::Duplicate {
                customer_id: String::new(),
            });
        } else {
            fresh.push(i);
        }
    }

    if validate_only {
        for &i in &fresh {
            seen.insert(batch[i].event_id.clone());
            let customer_id = match &batch[i].customer {
                CustomerRef::Id(id) => id.clone(),
                CustomerRef::Identifiers(_) => String::new(),
            };
            outcomes[i] = Some(Outcome::Accepted { customer_id });
        }
        return Ok(complete(outcomes));
    }
    if fresh.is_empty() {
        return Ok(complete(outcomes));
    }

    let txn = begin(db).await?;
    let fresh_events: Vec<&ValidEvent> = fresh.iter().map(|&i| &batch[i]).collect();
    let mut resolution =
        customer_store::resolve_for_events(&txn, merchant_id, &fresh_events, directory, hasher)
            .await?;
    let customers = std::mem::take(&mut resolution.customer_ids);
    let erased = std::mem::take(&mut resolution.erased);
    let now = UtcDateTime::now();

    let mut event_values = Vec::with_capacity(fresh.len() * EVENT_COLUMNS.len());
    let mut listed = Vec::with_capacity(fresh.len());
    let mut order_events: Vec<(&OrderFacts, &ValidEvent, &str)> = Vec::new();
    for (k, &i) in fresh.iter().enumerate() {
        let event = &batch[i];
        let customer_id = customers[k].as_str();
        if erased.contains(customer_id) {
            continue;
        }
        event_values.extend([
            Value::from(merchant_id),
            Value::from(event.event_id.as_str()),
            Value::from(customer_id),
            Value::from(event.kind),
            Value::from(UtcDateTime::new(event.occur_time)),
            Value::from(event.session_id.clone()),
            Value::from(event.source.clone()),
            Value::from(event.stored_payload.clone()),
            Value::from(now),
        ]);
        listed.push((event.event_id.as_str(), customer_id, event.kind));
        if let Some(order) = &event.order {
            order_events.push((order, event, customer_id));
        }
    }
    if !listed.is_empty() {
        insert_rows(&txn, "events", EVENT_COLUMNS, event_values, INSERT_CHUNK).await?;
        let outbox_values = outbox_row(merchant_id, &listed, now, trace_parent);
        insert_rows(&txn, "outbox", OUTBOX_COLUMNS, outbox_values, 1).await?;
    }
    if !order_events.is_empty() {
        let lookup = if look_up_first {
            OrderLookup::Always
        } else {
            OrderLookup::UnlessAllPlaced
        };
        project_orders(&txn, merchant_id, base_currency, order_events, lookup).await?;
    }
    customer_store::create_resolved(&txn, &mut resolution).await?;
    txn.commit().await?;
    directory.remember(merchant_id, resolution.identity_version, resolution.learned);

    for (&i, customer_id) in fresh.iter().zip(customers) {
        outcomes[i] = Some(if erased.contains(&customer_id) {
            Outcome::Refused { customer_id }
        } else {
            Outcome::Accepted { customer_id }
        });
    }
    Ok(complete(outcomes))
}

/// One outcome per event of the batch, whatever happened: every event's outcome is set
/// above, and one that was not would count as a duplicate rather than shift the others.
fn complete(outcomes: Vec<Option<Outcome>>) -> Vec<Outcome> {
    outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or(Outcome::Duplicate {
                customer_id: String::new(),
            })
        })
        .collect()
}

/// A batch's transaction. On MySQL at READ COMMITTED: the orders projection reads the orders
/// it updates with `FOR UPDATE`, and under REPEATABLE READ that would also lock the gaps
/// where new orders go, making concurrent batches that create other orders wait for each
/// other. Nothing in a batch needs one snapshot across statements: rows that must not
/// change underneath are locked, and conflicting inserts fail on unique keys and are
/// retried. (SQLite has one writer; it ignores isolation levels.) On MySQL the transaction
/// runs on sqlx directly ([`WriteTransaction`]), which hands the batch's values to the
/// driver without copying them.
async fn begin(db: &DatabaseConnection) -> Result<WriteTransaction, IngestionError> {
    Ok(WriteTransaction::begin(db, Some(IsolationLevel::ReadCommitted)).await?)
}

/// The one outbox row of a batch, as values of [`OUTBOX_COLUMNS`]: it lists every event
/// stored (`caravan_store::outbox_entries`) and names the first. (Through `insert_rows`
/// rather than an entity insert, which copied the list twice more on its way to the driver.)
fn outbox_row(
    merchant_id: &str,
    entries: &[EntryRef<'_>],
    now: UtcDateTime,
    trace_parent: Option<&str>,
) -> Vec<Value> {
    let (event_id, customer_id, _) = entries.first().copied().unwrap_or_default();
    vec![
        Value::from(merchant_id),
        Value::from(event_id),
        Value::from(customer_id),
        Value::from(outbox_entries::BATCH_KIND),
        Value::from(now),
        Value::from(i32::try_from(entries.len()).unwrap_or(i32::MAX)),
        Value::from(outbox_entries::encode_refs(entries)),
        Value::from(trace_parent.map(str::to_owned)),
    ]
}

/// event_id -> customer_id of the ids already stored.
async fn existing_event_customers(
    db: &DatabaseConnection,
    merchant_id: &str,
    ids: &[&str],
) -> Result<HashMap<String, String>, IngestionError> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let rows: Vec<(String, String)> = events::Entity::find()
            .select_only()
            .column(events::Column::EventId)
            .column(events::Column::CustomerId)
            .filter(events::Column::MerchantId.eq(merchant_id))
            .filter(events::Column::EventId.is_in(padded_in_list(chunk)))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

/// The rate for `date`: the latest effective on or before it. `rates` sorted by date.
pub fn rate_on(rates: &[(NaiveDate, Rate)], date: NaiveDate) -> Option<Rate> {
    rates
        .iter()
        .rev()
        .find(|(effective, _)| *effective <= date)
        .map(|(_, rate)| *rate)
}

/// currency -> rates sorted by effective date.
pub async fn load_rates<C: ConnectionTrait>(
    db: &C,
    merchant_id: &str,
    currencies: &[String],
) -> Result<HashMap<String, Vec<(NaiveDate, Rate)>>, IngestionError> {
    let mut out: HashMap<String, Vec<(NaiveDate, Rate)>> = HashMap::new();
    if currencies.is_empty() {
        return Ok(out);
    }
    let rows = exchange_rates::Entity::find()
        .filter(exchange_rates::Column::MerchantId.eq(merchant_id))
        .filter(exchange_rates::Column::Currency.is_in(currencies.iter().cloned()))
        .order_by_asc(exchange_rates::Column::EffectiveDate)
        .all(db)
        .await?;
    for row in rows {
        if let Ok(rate) = Rate::parse(&row.rate) {
            out.entry(row.currency)
                .or_default()
                .push((row.effective_date, rate));
        }
    }
    Ok(out)
}

/// The base amount of an order total: same currency as is, otherwise at the rate of the
/// order's (UTC) date; `None` when no rate is known yet.
pub fn base_total(
    total_minor: i64,
    currency: &str,
    base_currency: &str,
    placed_at: UtcDateTime,
    rates: &HashMap<String, Vec<(NaiveDate, Rate)>>,
) -> Option<i64> {
    let money = caravan_proto::caravan::common::v1::Money {
        currency_code: currency.to_owned(),
        amount_minor: total_minor,
    };
    let rate = rates
        .get(currency)
        .and_then(|r| rate_on(r, placed_at.date_naive()));
    to_base(&money, base_currency, rate)
}

/// Whether the orders projection reads the stored orders first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OrderLookup {
    Always,
    /// Skip the read when every order event of the batch places an order: those are new
    /// orders, almost always. If one exists after all (a placement re-sent under a new event
    /// id, or arriving after its payment), its INSERT hits the unique key and the batch is
    /// retried with the read, like any other conflict.
    UnlessAllPlaced,
}

/// Whether `lookup` lets order events with these statuses skip reading the stored orders.
fn skips_order_read<'a>(lookup: OrderLookup, mut statuses: impl Iterator<Item = &'a str>) -> bool {
    lookup == OrderLookup::UnlessAllPlaced && statuses.all(|status| status == ORDER_PLACED)
}

/// Folds the order events of a batch into `orders` / `order_lines` (latest status by
/// occur_time wins; an older event only fills fields still unknown).
///
/// Concurrent batches may touch the same order. The existing orders are read `FOR UPDATE`,
/// so a second batch waits and then folds its events into what the first committed. Orders
/// this batch creates are inserted without an upsert: if another batch created the same
/// order meanwhile, the unique key rejects the insert and the whole batch is retried, then
/// finding that order. (An upsert here used to overwrite the other batch's facts.) The read
/// itself is skipped for batches that only place orders ([`OrderLookup`]); a conflict then
/// takes the same retry.
async fn project_orders(
    txn: &WriteTransaction,
    merchant_id: &str,
    base_currency: &str,
    mut order_events: Vec<(&OrderFacts, &ValidEvent, &str)>,
    lookup: OrderLookup,
) -> Result<(), IngestionError> {
    order_events.sort_by_key(|(_, e, _)| e.occur_time);
    let statuses = order_events.iter().map(|(facts, _, _)| facts.status);
    let order_ids: Vec<String> = if skips_order_read(lookup, statuses) {
        Vec::new()
    } else {
        order_events
            .iter()
            .map(|(o, _, _)| o.order_id.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect()
    };
    let mut current: HashMap<String, orders::Model> = HashMap::new();
    for chunk in order_ids.chunks(LOOKUP_CHUNK) {
        let rows = orders::Entity::find()
            .filter(orders::Column::MerchantId.eq(merchant_id))
            .filter(orders::Column::OrderId.is_in(padded_in_list(chunk)))
            .lock_exclusive()
            .all(txn)
            .await?;
        current.extend(rows.into_iter().map(|r| (r.order_id.clone(), r)));
    }
    let lined = orders_with_lines(txn, merchant_id, &order_events, &current).await?;
    let mut new_lines: HashMap<String, Vec<(String, i32, i64)>> = HashMap::new();
    let mut created: HashSet<String> = HashSet::new();
    for (facts, event, customer_id) in order_events {
        let at = UtcDateTime::new(event.occur_time);
        if !current.contains_key(&facts.order_id) {
            created.insert(facts.order_id.clone());
        }
        let row = current
            .entry(facts.order_id.clone())
            .or_insert_with(|| orders::Model {
                merchant_id: merchant_id.to_owned(),
                order_id: facts.order_id.clone(),
                customer_id: customer_id.to_owned(),
                status: facts.status.to_owned(),
                total_minor: 0,
                currency: facts
                    .currency
                    .clone()
                    .unwrap_or_else(|| base_currency.to_owned()),
                base_total_minor: None,
                base_currency: None,
                discount_minor: None,
                coupon_code: None,
                payment_method: None,
                payment_outcome: None,
                carrier: None,
                promised_days: None,
                actual_days: None,
                shipping_cost_minor: None,
                tracking_offered: None,
                destination_country: None,
                placed_at: at,
                updated_at: at,
                credit_note: facts.credit_note,
            });
        let newer = at >= row.updated_at;
        let is_new_row = created.contains(&facts.order_id);
        // Once a credit note, always: its other events need not repeat the flag.
        row.credit_note |= facts.credit_note;
        if newer {
            row.status = facts.status.to_owned();
            row.updated_at = at;
            row.customer_id = customer_id.to_owned();
        }
        if facts.status == ORDER_PLACED || at < row.placed_at {
            row.placed_at = at;
        }
        if let (Some(total), Some(currency)) = (facts.total_minor, &facts.currency)
            && (newer || row.total_minor == 0)
        {
            row.total_minor = total;
            row.currency = currency.clone();
        }
        macro_rules! fill {
            ($field:ident, $value:expr) => {
                if let Some(value) = $value
                    && (newer || row.$field.is_none())
                {
                    row.$field = Some(value);
                }
            };
        }
        fill!(discount_minor, facts.discount_minor);
        fill!(coupon_code, facts.coupon_code.clone());
        fill!(payment_method, facts.payment_method.map(str::to_owned));
        fill!(payment_outcome, facts.payment_outcome.map(str::to_owned));
        fill!(carrier, facts.carrier.clone());
        fill!(promised_days, facts.promised_days);
        fill!(actual_days, facts.actual_days);
        fill!(shipping_cost_minor, facts.shipping_cost_minor);
        fill!(tracking_offered, facts.tracking_offered);
        fill!(destination_country, facts.destination_country.clone());
        // Lines come from the newest event that has them; an older one only fills an order
        // that has none yet (its placement may arrive after its payment).
        let no_lines_yet = if is_new_row {
            !new_lines.contains_key(&facts.order_id)
        } else {
            !lined.contains(&facts.order_id)
        };
        if !facts.lines.is_empty() && (newer || no_lines_yet) {
            new_lines.insert(facts.order_id.clone(), facts.lines.clone());
        }
    }

    let currencies: Vec<String> = current
        .values()
        .map(|r| r.currency.clone())
        .filter(|c| c != base_currency)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let rates = load_rates(txn, merchant_id, &currencies).await?;
    let (mut new_rows, mut updated_rows) = (Vec::new(), Vec::new());
    let order_columns: Vec<orders::Column> = orders::Column::iter().collect();
    for (order_id, mut row) in current {
        row.base_total_minor = base_total(
            row.total_minor,
            &row.currency,
            base_currency,
            row.placed_at,
            &rates,
        );
        row.base_currency = row.base_total_minor.map(|_| base_currency.to_owned());
        if created.contains(&order_id) {
            new_rows.extend(order_columns.iter().map(|c| row.get(*c)));
        } else {
            updated_rows.push(orders::ActiveModel::from(row));
        }
    }
    let column_names: Vec<&str> = order_columns.iter().map(|c| c.as_str()).collect();
    insert_rows(txn, "orders", &column_names, new_rows, INSERT_CHUNK).await?;
    // Locked above: no concurrent batch changes these rows before this one commits.
    let mut rows = updated_rows;
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(INSERT_CHUNK));
        orders::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::columns([orders::Column::MerchantId, orders::Column::OrderId])
                    .update_columns([
                        orders::Column::CustomerId,
                        orders::Column::Status,
                        orders::Column::TotalMinor,
                        orders::Column::Currency,
                        orders::Column::BaseTotalMinor,
                        orders::Column::BaseCurrency,
                        orders::Column::DiscountMinor,
                        orders::Column::CouponCode,
                        orders::Column::PaymentMethod,
                        orders::Column::PaymentOutcome,
                        orders::Column::Carrier,
                        orders::Column::PromisedDays,
                        orders::Column::ActualDays,
                        orders::Column::ShippingCostMinor,
                        orders::Column::TrackingOffered,
                        orders::Column::DestinationCountry,
                        orders::Column::PlacedAt,
                        orders::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(txn)
            .await?;
        rows = rest;
    }

    if !new_lines.is_empty() {
        // Orders created by this batch have no lines yet. Deleting by their ids anyway is
        // not free on MySQL: the DELETE locks the gaps where their lines would go, and
        // concurrent batches inserting lines there wait for this commit.
        let replaced: Vec<&str> = new_lines
            .keys()
            .filter(|id| !created.contains(*id))
            .map(String::as_str)
            .collect();
        for chunk in replaced.chunks(LOOKUP_CHUNK) {
            order_lines::Entity::delete_many()
                .filter(order_lines::Column::MerchantId.eq(merchant_id))
                .filter(order_lines::Column::OrderId.is_in(padded_in_list(chunk)))
                .exec(txn)
                .await?;
        }
        let mut values = Vec::new();
        for (order_id, lines) in new_lines {
            for (n, (sku, quantity, unit_price_minor)) in lines.into_iter().enumerate() {
                values.extend([
                    Value::from(merchant_id),
                    Value::from(order_id.as_str()),
                    Value::from(i32::try_from(n).unwrap_or(i32::MAX)),
                    Value::from(sku),
                    Value::from(quantity),
                    Value::from(unit_price_minor),
                ]);
            }
        }
        insert_rows(txn, "order_lines", ORDER_LINE_COLUMNS, values, INSERT_CHUNK).await?;
    }
    Ok(())
}

/// Which of the stored orders in `current` that events with lines touch already have lines.
async fn orders_with_lines(
    txn: &WriteTransaction,
    merchant_id: &str,
    order_events: &[(&OrderFacts, &ValidEvent, &str)],
    current: &HashMap<String, orders::Model>,
) -> Result<HashSet<String>, IngestionError> {
    let ids: Vec<&str> = order_events
        .iter()
        .filter(|(o, _, _)| !o.lines.is_empty() && current.contains_key(&o.order_id))
        .map(|(o, _, _)| o.order_id.as_str())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut lined = HashSet::new();
    for chunk in ids.chunks(LOOKUP_CHUNK) {
        let rows: Vec<String> = order_lines::Entity::find()
            .select_only()
            .column(order_lines::Column::OrderId)
            .distinct()
            .filter(order_lines::Column::MerchantId.eq(merchant_id))
            .filter(order_lines::Column::OrderId.is_in(padded_in_list(chunk)))
            .into_tuple()
            .all(txn)
            .await?;
        lined.extend(rows);
    }
    Ok(lined)
}

/// Recomputes `base_total_minor` of every order of `merchant_id` in `currency` (after a
/// rate changed). Returns how many orders changed.
pub async fn recompute_base_totals(
    db: &DatabaseConnection,
    merchant_id: &str,
    base_currency: &str,
    currency: &str,
) -> Result<u64, IngestionError> {
    let rates = load_rates(db, merchant_id, &[currency.to_owned()]).await?;
    let rows = orders::Entity::find()
        .filter(orders::Column::MerchantId.eq(merchant_id))
        .filter(orders::Column::Currency.eq(currency))
        .all(db)
        .await?;
    let mut changed = 0;
    for row in rows {
        let base = base_total(
            row.total_minor,
            &row.currency,
            base_currency,
            row.placed_at,
            &rates,
        );
        if base != row.base_total_minor {
            orders::Entity::update_many()
                .col_expr(orders::Column::BaseTotalMinor, base.into())
                .col_expr(
                    orders::Column::BaseCurrency,
                    base.map(|_| base_currency.to_owned()).into(),
                )
                .filter(orders::Column::MerchantId.eq(merchant_id))
                .filter(orders::Column::OrderId.eq(row.order_id.as_str()))
                .exec(db)
                .await?;
            changed += 1;
        }
    }
    Ok(changed)
}

pub async fn get(
    db: &DatabaseConnection,
    merchant_id: &str,
    event_id: &str,
) -> Result<Option<events::Model>, IngestionError> {
    Ok(events::Entity::find()
        .filter(events::Column::MerchantId.eq(merchant_id))
        .filter(events::Column::EventId.eq(event_id))
        .one(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    #[test]
    fn only_batches_that_just_place_orders_skip_reading_them() {
        let placed = [ORDER_PLACED, ORDER_PLACED];
        let mixed = [ORDER_PLACED, "PAID"];
        assert!(skips_order_read(
            OrderLookup::UnlessAllPlaced,
            placed.into_iter()
        ));
        assert!(!skips_order_read(
            OrderLookup::UnlessAllPlaced,
            mixed.into_iter()
        ));
        assert!(!skips_order_read(OrderLookup::Always, placed.into_iter()));
    }

    #[test]
    fn retry_delays_grow_and_stay_bounded() {
        for attempt in 1..=8 {
            let base = 5u64 << (attempt - 1).min(6);
            let delay = retry_delay(attempt).as_millis() as u64;
            assert!(
                (base..2 * base).contains(&delay),
                "attempt {attempt}: {delay} ms"
            );
        }
    }

    #[test]
    fn latest_rate_on_or_before_the_date() {
        let rates = vec![
            (d(2024, 1, 1), Rate::parse("1.10").expect("rate")),
            (d(2024, 2, 1), Rate::parse("1.20").expect("rate")),
        ];
        assert_eq!(rate_on(&rates, d(2023, 12, 31)), None);
        assert_eq!(rate_on(&rates, d(2024, 1, 1)), Some(rates[0].1));
        assert_eq!(rate_on(&rates, d(2024, 1, 31)), Some(rates[0].1));
        assert_eq!(rate_on(&rates, d(2024, 6, 1)), Some(rates[1].1));

        let mut by_currency = HashMap::new();
        by_currency.insert("USD".to_owned(), rates);
        let at = |y, m, day| {
            UtcDateTime::new(
                d(y, m, day)
                    .and_hms_opt(23, 59, 0)
                    .expect("valid time")
                    .and_utc(),
            )
        };
        assert_eq!(
            base_total(1000, "USD", "EUR", at(2024, 1, 15), &by_currency),
            Some(1100)
        );
        assert_eq!(
            base_total(1000, "USD", "EUR", at(2023, 1, 15), &by_currency),
            None
        );
        assert_eq!(
            base_total(1000, "EUR", "EUR", at(2023, 1, 15), &by_currency),
            Some(1000)
        );
        assert_eq!(
            base_total(1000, "GBP", "EUR", at(2024, 1, 15), &by_currency),
            None
        );
    }
}
