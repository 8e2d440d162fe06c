//! IngestEvents, BatchIngestEvents, GetEvent, ListEvents.

use foldhash::{HashSet, HashSetExt};
use std::sync::Arc;

use futures::StreamExt;
use futures::stream::FuturesOrdered;

use caravan_core::filter::Op;
use caravan_core::paging;
use caravan_platform::FieldViolations;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_store::entity::{events, merchants};
use caravan_store::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use chrono::{DateTime, Utc};

use super::list_filter::comparisons;
use super::{IngestionApi, merchant_id_from_name};
use crate::error::IngestionError;
use caravan_proto::stored_event::decode_payload;

use crate::event_rules::{check_event, kind_code_from_filter, kind_from_code};
use crate::event_store::{self, Outcome};
use crate::failed_event_store::{self, Rejection};
use crate::merchant_store;

/// At most this many rejections are listed in an IngestEvents response.
const MAX_LISTED_REJECTIONS: usize = 1000;

/// What happened to one event.
pub(super) enum Item {
    Accepted {
        customer_id: String,
    },
    Duplicate {
        customer_id: String,
    },
    Rejected(FieldViolations),
    /// Valid, but its customer was erased (a failed precondition).
    Refused(FieldViolations),
}

impl Item {
    fn stored(outcome: Outcome, merchant_id: &str) -> Self {
        match outcome {
            Outcome::Accepted { customer_id } => Item::Accepted { customer_id },
            Outcome::Duplicate { customer_id } => Item::Duplicate { customer_id },
            Outcome::Refused { customer_id } => {
                Item::Refused(erased_customer(merchant_id, &customer_id))
            }
        }
    }

    fn status(&self) -> pb::EventIngestStatus {
        match self {
            Item::Accepted { .. } => pb::EventIngestStatus::Accepted,
            Item::Duplicate { .. } => pb::EventIngestStatus::Duplicate,
            Item::Rejected(_) => pb::EventIngestStatus::Rejected,
            Item::Refused(_) => pb::EventIngestStatus::Refused,
        }
    }
}

/// Why an event of an erased customer is refused.
fn erased_customer(merchant_id: &str, customer_id: &str) -> FieldViolations {
    let mut violations = FieldViolations::new();
    violations.add(
        "customer",
        format!(
            "merchants/{merchant_id}/customers/{customer_id} was erased: events and upserts for erased customers are refused (FAILED_PRECONDITION)"
        ),
    );
    violations
}

/// Validates and stores one batch; one item per event, in order. Unless `validate_only`,
/// the events rejected as invalid go to the failed-event store.
pub(super) async fn process(
    api: &IngestionApi,
    merchant: &merchants::Model,
    events: Vec<pb::Event>,
    validate_only: bool,
    seen: &mut HashSet<String>,
) -> Result<Vec<(String, Item)>, IngestionError> {
    let now = Utc::now();
    // Valid events get their item (and their id back) from the store below.
    let mut items: Vec<Option<(String, Item)>> = Vec::with_capacity(events.len());
    let mut valid = Vec::with_capacity(events.len());
    let mut valid_at = Vec::with_capacity(events.len());
    let mut rejected = Vec::new();
    for (i, event) in events.into_iter().enumerate() {
        match check_event(event, &merchant.id, now, &api.hasher) {
            Ok(v) => {
                valid.push(v);
                valid_at.push(i);
                items.push(None);
            }
            Err(r) => {
                if let Some(event) = r.event {
                    rejected.push(Rejection {
                        event: *event,
                        violations: violations_to_proto(&r.violations),
                    });
                }
                items.push(Some((r.event_id, Item::Rejected(r.violations))));
            }
        }
    }
    let trace_parent = caravan_platform::trace_context::current_traceparent();
    let to = event_store::Destination {
        db: &api.db,
        merchant_id: &merchant.id,
        base_currency: &merchant.base_currency,
        customers: &api.customers,
        hasher: &api.hasher,
        trace_parent: trace_parent.as_deref(),
    };
    // Checking above runs at once; only the transaction waits for its turn. (The semaphore
    // is never closed; acquiring would fail only if it were.)
    let _permit = api.batch_permits.acquire().await.map_err(|_| {
        IngestionError::Unavailable("no batch permits: the service is stopping".to_owned())
    })?;
    let outcomes = event_store::ingest_batch(to, valid, validate_only, seen).await?;
    if !validate_only && !rejected.is_empty() {
        failed_event_store::keep(&api.db, &api.hasher, &merchant.id, rejected).await?;
    }
    for (i, (event_id, outcome)) in valid_at.into_iter().zip(outcomes) {
        items[i] = Some((event_id, Item::stored(outcome, &merchant.id)));
    }
    // Every item is set: one outcome per valid event, in order.
    let items: Vec<(String, Item)> = items.into_iter().flatten().collect();
    if !validate_only {
        count_outcomes(&items);
    }
    Ok(items)
}

/// Adds a stored message's outcomes to the ingestion metrics.
fn count_outcomes(items: &[(String, Item)]) {
    let (mut accepted, mut duplicates, mut rejected) = (0, 0, 0);
    for (_, item) in items {
        match item {
            Item::Accepted { .. } => accepted += 1,
            Item::Duplicate { .. } => duplicates += 1,
            Item::Rejected(_) | Item::Refused(_) => rejected += 1,
        }
    }
    caravan_platform::metrics::global().count_events(accepted, duplicates, rejected);
}

fn check_batch_size(api: &IngestionApi, len: usize) -> Result<(), IngestionError> {
    if len > api.max_batch_events {
        return Err(IngestionError::invalid(
            "events",
            format!(
                "{len} events in one batch; at most {} (ingestion.max_batch_events) are accepted",
                api.max_batch_events
            ),
        ));
    }
    Ok(())
}

fn violations_to_proto(violations: &FieldViolations) -> Vec<pb::FieldViolation> {
    violations
        .iter()
        .map(|v| pb::FieldViolation {
            field: v.field.clone(),
            description: v.description.clone(),
        })
        .collect()
}

/// BatchIngestEvents. Orders whose currency differs from the merchant's base currency and
/// has no exchange rate on or before the order date are still stored (ACCEPTED), with a
/// NULL base amount that SetExchangeRate fills in later.
pub async fn batch_ingest(
    api: &IngestionApi,
    request: pb::BatchIngestEventsRequest,
) -> Result<pb::BatchIngestEventsResponse, IngestionError> {
    let merchant_id = merchant_id_from_name(&request.parent, "parent")?;
    check_batch_size(api, request.events.len())?;
    let merchant = merchant_store::get(&api.db, &merchant_id).await?;
    let mut seen = HashSet::new();
    let items = process(
        api,
        &merchant,
        request.events,
        request.validate_only,
        &mut seen,
    )
    .await?;
    let response = batch_response(&merchant_id, items, request.validate_only);
    tracing::info!(
        accepted = response.accepted_count,
        duplicate = response.duplicate_count,
        rejected = response.rejected_count,
        validate_only = request.validate_only,
        "batch ingested"
    );
    Ok(response)
}

/// The per-event results of a batch, in order, with their counts.
pub(super) fn batch_response(
    merchant_id: &str,
    items: Vec<(String, Item)>,
    validate_only: bool,
) -> pb::BatchIngestEventsResponse {
    let mut response = pb::BatchIngestEventsResponse::default();
    for (index, (event_id, item)) in items.into_iter().enumerate() {
        let event_name = |stored: bool| {
            if stored && !validate_only {
                format!("merchants/{merchant_id}/events/{event_id}")
            } else {
                String::new()
            }
        };
        let customer_name = |id: &str| {
            if id.is_empty() {
                String::new()
            } else {
                format!("merchants/{merchant_id}/customers/{id}")
            }
        };
        let status = item.status();
        let result = match item {
            Item::Accepted { customer_id } => {
                response.accepted_count += 1;
                pb::EventResult {
                    index: index as i64,
                    status: pb::EventIngestStatus::Accepted as i32,
                    event: event_name(true),
                    customer: customer_name(&customer_id),
                    event_id: event_id.clone(),
                    field_violations: Vec::new(),
                }
            }
            Item::Duplicate { customer_id } => {
                response.duplicate_count += 1;
                pb::EventResult {
                    index: index as i64,
                    status: pb::EventIngestStatus::Duplicate as i32,
                    event: event_name(!customer_id.is_empty()),
                    customer: customer_name(&customer_id),
                    event_id: event_id.clone(),
                    field_violations: Vec::new(),
                }
            }
            Item::Rejected(violations) | Item::Refused(violations) => {
                response.rejected_count += 1;
                pb::EventResult {
                    index: index as i64,
                    status: status as i32,
                    event: String::new(),
                    customer: String::new(),
                    event_id: event_id.clone(),
                    field_violations: violations_to_proto(&violations),
                }
            }
        };
        response.results.push(result);
    }
    response
}

/// IngestEvents: each message's batch is validated and committed as it arrives (one
/// transaction per message), so memory stays bounded and a failed stream can simply be
/// re-sent: events stored before the failure count as duplicates the second time.
///
/// Up to `ingestion.stream_pipeline_depth` messages are stored at once: while one batch is
/// in the database, the next is read and checked. Batches may commit in any order; the
/// response counts and rejection indexes do not depend on it. Validate-only streams go one
/// message at a time, because each message's duplicates depend on the ones before.
pub async fn ingest_stream(
    api: &IngestionApi,
    mut stream: tonic::Streaming<pb::IngestEventsRequest>,
) -> Result<pb::IngestEventsResponse, tonic::Status> {
    let mut response = pb::IngestEventsResponse::default();
    let mut header: Option<StreamHeader> = None;
    let mut seen = HashSet::new();
    let mut in_flight = FuturesOrdered::new();
    let (mut offset, mut message_no, mut ended) = (0i64, 0usize, false);
    while !(ended && in_flight.is_empty()) {
        let depth = match &header {
            Some(h) if !h.validate_only => api.stream_pipeline_depth,
            _ => 1,
        };
        tokio::select! {
            // Finished batches first: their results free a slot and, when validating,
            // hand back the ids seen so far.
            biased;
            Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                let done: StoredMessage = done?;
                tally(&mut response, done.offset, done.items);
                seen = done.seen;
            }
            message = stream.message(), if !ended && in_flight.len() < depth => {
                let Some(message) = message? else {
                    ended = true;
                    continue;
                };
                let header = match &header {
                    Some(h) => {
                        h.check_same(&message, message_no)?;
                        h
                    }
                    None => header.insert(StreamHeader::start(api, &message).await?),
                };
                check_batch_size(api, message.events.len())?;
                let count = message.events.len() as i64;
                let (merchant, validate_only) = (header.merchant.clone(), header.validate_only);
                // Only validation carries ids between messages, and it goes one at a time.
                let mut carried = if validate_only {
                    std::mem::take(&mut seen)
                } else {
                    HashSet::new()
                };
                let message_offset = offset;
                in_flight.push_back(async move {
                    let items =
                        process(api, &merchant, message.events, validate_only, &mut carried)
                            .await?;
                    Ok::<_, IngestionError>(StoredMessage {
                        offset: message_offset,
                        items,
                        seen: carried,
                    })
                });
                offset += count;
                message_no += 1;
            }
        }
    }
    tracing::info!(
        messages = message_no,
        accepted = response.accepted_count,
        duplicate = response.duplicate_count,
        rejected = response.rejected_count,
        "event stream ingested"
    );
    Ok(response)
}

/// What every message of a stream must repeat, from its first message.
struct StreamHeader {
    parent: String,
    validate_only: bool,
    merchant: Arc<merchants::Model>,
}

impl StreamHeader {
    async fn start(
        api: &IngestionApi,
        first: &pb::IngestEventsRequest,
    ) -> Result<Self, IngestionError> {
        let merchant_id = merchant_id_from_name(&first.parent, "parent")?;
        let merchant = merchant_store::get(&api.db, &merchant_id).await?;
        Ok(Self {
            parent: first.parent.clone(),
            validate_only: first.validate_only,
            merchant: Arc::new(merchant),
        })
    }

    fn check_same(
        &self,
        message: &pb::IngestEventsRequest,
        message_no: usize,
    ) -> Result<(), IngestionError> {
        if self.parent != message.parent {
            return Err(IngestionError::invalid(
                "parent",
                format!(
                    "message {message_no} names {:?} but the stream started with {:?}; one merchant per stream",
                    message.parent, self.parent
                ),
            ));
        }
        if self.validate_only != message.validate_only {
            return Err(IngestionError::invalid(
                "validate_only",
                format!(
                    "message {message_no} changes validate_only; it must be the same in every message"
                ),
            ));
        }
        Ok(())
    }
}

/// One stored (or validated) message: where its events start in the stream, one item per
/// event, and the ids a validate-only stream has seen so far.
struct StoredMessage {
    offset: i64,
    items: Vec<(String, Item)>,
    seen: HashSet<String>,
}

/// Adds one message's outcomes to the stream's response.
fn tally(response: &mut pb::IngestEventsResponse, offset: i64, items: Vec<(String, Item)>) {
    for (i, (event_id, item)) in items.into_iter().enumerate() {
        let status = item.status();
        match item {
            Item::Accepted { .. } => response.accepted_count += 1,
            Item::Duplicate { .. } => response.duplicate_count += 1,
            Item::Rejected(violations) | Item::Refused(violations) => {
                response.rejected_count += 1;
                if response.rejections.len() < MAX_LISTED_REJECTIONS {
                    response.rejections.push(pb::EventRejection {
                        index: offset + i as i64,
                        event_id,
                        field_violations: violations_to_proto(&violations),
                        status: status as i32,
                    });
                }
            }
        }
    }
}

/// The wire form of a stored event; order events get `base_total` at today's rates.
pub(crate) async fn event_to_proto(
    api: &IngestionApi,
    merchant: &merchants::Model,
    row: events::Model,
) -> Result<pb::Event, IngestionError> {
    let opened = caravan_store::pii::open_event_payload(&row.merchant_id, &row.payload)
        .map_err(caravan_store::sea_orm::DbErr::from)?;
    let mut payload = decode_payload(&opened);
    if let Some(pb::event::Payload::Order(order)) = payload.as_mut()
        && let Some(total) = &order.total
    {
        let currencies = [total.currency_code.clone()];
        let rates = event_store::load_rates(&api.db, &merchant.id, &currencies).await?;
        order.base_total = event_store::base_total(
            total.amount_minor,
            &total.currency_code,
            &merchant.base_currency,
            row.occur_time,
            &rates,
        )
        .map(|amount_minor| common::Money {
            currency_code: merchant.base_currency.clone(),
            amount_minor,
        });
    }
    Ok(pb::Event {
        name: format!("merchants/{}/events/{}", row.merchant_id, row.event_id),
        event_id: row.event_id,
        customer: format!(
            "merchants/{}/customers/{}",
            row.merchant_id, row.customer_id
        ),
        customer_identifiers: Vec::new(),
        occur_time: Some(to_timestamp(row.occur_time.get())),
        session_id: row.session_id.unwrap_or_default(),
        source: row.source.unwrap_or_default(),
        kind: kind_from_code(&row.kind) as i32,
        ingest_time: Some(to_timestamp(row.ingested_at.get())),
        payload,
    })
}

pub async fn get(
    api: &IngestionApi,
    request: pb::GetEventRequest,
) -> Result<pb::Event, IngestionError> {
    // Event ids may contain ':' which parse_child_name rejects; split by hand.
    let parts: Vec<&str> = request.name.splitn(4, '/').collect();
    let (merchant_id, event_id) = match parts.as_slice() {
        ["merchants", m, "events", e] if !e.is_empty() => {
            let merchant_id = merchant_id_from_name(&format!("merchants/{m}"), "name")?;
            (merchant_id, (*e).to_owned())
        }
        _ => {
            return Err(IngestionError::invalid(
                "name",
                format!(
                    "{:?} is not of the form merchants/{{merchant}}/events/{{event}}",
                    request.name
                ),
            ));
        }
    };
    let merchant = merchant_store::get(&api.db, &merchant_id).await?;
    let row = event_store::get(&api.db, &merchant_id, &event_id)
        .await?
        .ok_or_else(|| IngestionError::NotFound(request.name.clone()))?;
    event_to_proto(api, &merchant, row).await
}

/// ListEvents with a filter of `AND`-joined equalities/comparisons over `customer`, `kind`,
/// `session_id`, `source` and `occur_time` (`>=`, `<`, `>`, `<=`), ordered by occur_time.
pub async fn list(
    api: &IngestionApi,
    request: pb::ListEventsRequest,
) -> Result<pb::ListEventsResponse, IngestionError> {
    let merchant_id = merchant_id_from_name(&request.parent, "parent")?;
    let merchant = merchant_store::get(&api.db, &merchant_id).await?;
    let size = match request.page_size {
        0 => 100,
        n => {
            paging::page_size(n).map_err(|e| IngestionError::invalid("page_size", e.to_string()))?
        }
    };
    let desc = match request.order_by.trim() {
        "" | "occur_time desc" => true,
        "occur_time" | "occur_time asc" => false,
        other => {
            return Err(IngestionError::invalid(
                "order_by",
                format!("{other:?}: only \"occur_time\" or \"occur_time desc\""),
            ));
        }
    };
    let fingerprint = paging::request_fingerprint(&[
        &request.parent,
        &request.filter,
        &request.order_by,
        "events",
    ]);
    let offset: u64 = paging::decode_token(&request.page_token, fingerprint)
        .map_err(|e| IngestionError::invalid("page_token", e.to_string()))?
        .map(|t| t.parse().unwrap_or(0))
        .unwrap_or(0);
    let mut query =
        events::Entity::find().filter(events::Column::MerchantId.eq(merchant_id.as_str()));
    for c in comparisons(&request.filter)? {
        let value = c.value.text.clone();
        query = match (c.field.as_str(), c.op) {
            ("customer", Op::Eq) => {
                let id = crate::event_rules::customer_id_ref(&value, &merchant_id)
                    .map_err(|why| IngestionError::invalid("filter", why))?;
                query.filter(events::Column::CustomerId.eq(id))
            }
            ("kind", Op::Eq) => {
                let code = kind_code_from_filter(&value).ok_or_else(|| {
                    IngestionError::invalid("filter", format!("{value:?} is not an event kind"))
                })?;
                query.filter(events::Column::Kind.eq(code))
            }
            ("session_id", Op::Eq) => query.filter(events::Column::SessionId.eq(value)),
            ("source", Op::Eq) => query.filter(events::Column::Source.eq(value)),
            ("occur_time", op) if op != Op::Has && op != Op::Ne => {
                let t = DateTime::parse_from_rfc3339(&value)
                    .map_err(|_| {
                        IngestionError::invalid(
                            "filter",
                            format!("{value:?} is not an RFC 3339 time"),
                        )
                    })?
                    .to_utc();
                let t = caravan_store::UtcDateTime::new(t);
                match op {
                    Op::Ge => query.filter(events::Column::OccurTime.gte(t)),
                    Op::Gt => query.filter(events::Column::OccurTime.gt(t)),
                    Op::Le => query.filter(events::Column::OccurTime.lte(t)),
                    Op::Lt => query.filter(events::Column::OccurTime.lt(t)),
                    _ => query.filter(events::Column::OccurTime.eq(t)),
                }
            }
            _ => {
                return Err(IngestionError::invalid(
                    "filter",
                    format!(
                        "{c}: supported are customer, kind, session_id, source (=) and occur_time (=, <, <=, >, >=)"
                    ),
                ));
            }
        };
    }
    query = if desc {
        query
            .order_by_desc(events::Column::OccurTime)
            .order_by_desc(events::Column::Id)
    } else {
        query
            .order_by_asc(events::Column::OccurTime)
            .order_by_asc(events::Column::Id)
    };
    let mut rows = query.offset(offset).limit(size + 1).all(&api.db).await?;
    let next_page_token = if rows.len() as u64 > size {
        rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        paging::encode_token(&(offset + size).to_string(), fingerprint)
    } else {
        String::new()
    };
    let mut events_out = Vec::with_capacity(rows.len());
    for row in rows {
        events_out.push(event_to_proto(api, &merchant, row).await?);
    }
    Ok(pb::ListEventsResponse {
        events: events_out,
        next_page_token,
    })
}
