//! ListFailedEvents, ReplayFailedEvents, DeleteFailedEvent: the failed-event store's face.
//! Replay sends the kept events through the same checks and storage as BatchIngestEvents.

use chrono::Duration;
use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use caravan_core::names::{NameError, parse_child_name};
use caravan_core::paging;
use caravan_platform::FieldViolations;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_store::UtcDateTime;

use super::events::{Item, batch_response, process};
use super::{IngestionApi, merchant_id_from_name};
use crate::error::IngestionError;
use crate::failed_event_store::{self, Kept, ListCursor};
use crate::merchant_store;

/// The collection segment of failed-event names.
const COLLECTION: &str = "failedEvents";
/// Most names one ReplayFailedEvents call takes.
const MAX_REPLAY: usize = 1000;
const DEFAULT_PAGE_SIZE: u64 = 100;

/// The name of failed event `id` of `merchant_id`.
fn name_of(merchant_id: &str, id: i64) -> String {
    format!("merchants/{merchant_id}/{COLLECTION}/{id}")
}

/// The merchant and row id of a failed-event name.
fn parse_name(name: &str) -> Result<(String, i64), NameError> {
    let (merchant, id) = parse_child_name(name, COLLECTION)?;
    let id = id.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        NameError(format!(
            "{name:?}: a failed event's id is a positive number"
        ))
    })?;
    Ok((merchant.as_str().to_owned(), id))
}

fn to_proto(merchant_id: &str, kept: Kept, retention: Duration) -> pb::FailedEvent {
    pb::FailedEvent {
        name: name_of(merchant_id, kept.id),
        event: Some(kept.event),
        field_violations: kept.violations,
        attempt_count: kept.attempt_count,
        first_fail_time: Some(to_timestamp(kept.first_failed_at.get())),
        last_fail_time: Some(to_timestamp(kept.last_failed_at.get())),
        expire_time: Some(to_timestamp(kept.last_failed_at.get() + retention)),
    }
}

/// A page token's cursor: the last row's failure time (microseconds) and id.
fn encode_cursor(c: ListCursor) -> String {
    format!("{}:{}", c.last_failed_at.get().timestamp_micros(), c.id)
}

fn decode_cursor(text: &str) -> Option<ListCursor> {
    let (micros, id) = text.split_once(':')?;
    let at = chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?;
    Some(ListCursor {
        last_failed_at: UtcDateTime::new(at),
        id: id.parse().ok()?,
    })
}

pub async fn list(
    api: &IngestionApi,
    request: pb::ListFailedEventsRequest,
) -> Result<pb::ListFailedEventsResponse, IngestionError> {
    let merchant_id = merchant_id_from_name(&request.parent, "parent")?;
    let size = match request.page_size {
        0 => DEFAULT_PAGE_SIZE,
        n => {
            paging::page_size(n).map_err(|e| IngestionError::invalid("page_size", e.to_string()))?
        }
    };
    let fingerprint = paging::request_fingerprint(&[&request.parent, COLLECTION]);
    let after = paging::decode_token(&request.page_token, fingerprint)
        .map_err(|e| IngestionError::invalid("page_token", e.to_string()))?
        .map(|t| {
            decode_cursor(&t)
                .ok_or_else(|| IngestionError::invalid("page_token", "is not a token of this list"))
        })
        .transpose()?;
    merchant_store::get(&api.db, &merchant_id).await?;
    let retention = api.failed_event_retention;
    let (kept, more) =
        failed_event_store::list(&api.db, &merchant_id, retention, after, size).await?;
    let next_page_token = match kept.last() {
        Some(last) if more => paging::encode_token(
            &encode_cursor(ListCursor {
                last_failed_at: last.last_failed_at,
                id: last.id,
            }),
            fingerprint,
        ),
        _ => String::new(),
    };
    Ok(pb::ListFailedEventsResponse {
        failed_events: kept
            .into_iter()
            .map(|k| to_proto(&merchant_id, k, retention))
            .collect(),
        next_page_token,
    })
}

/// The kept failed events that name one of `customer_ids` (exports).
pub(crate) async fn for_customers(
    api: &IngestionApi,
    merchant_id: &str,
    customer_ids: &[String],
) -> Result<Vec<pb::FailedEvent>, IngestionError> {
    let retention = api.failed_event_retention;
    let kept =
        failed_event_store::for_customers(&api.db, merchant_id, retention, customer_ids).await?;
    Ok(kept
        .into_iter()
        .map(|k| to_proto(merchant_id, k, retention))
        .collect())
}

/// The row ids named by `names`, all of `merchant_id`, each once.
fn replay_ids(merchant_id: &str, names: &[String]) -> Result<Vec<i64>, IngestionError> {
    let mut violations = FieldViolations::new();
    if names.is_empty() || names.len() > MAX_REPLAY {
        violations.add(
            "names",
            format!("{} names; 1 to {MAX_REPLAY} are accepted", names.len()),
        );
    }
    let mut seen = HashSet::with_capacity(names.len());
    let mut ids = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate().take(MAX_REPLAY) {
        match parse_name(name) {
            Err(e) => violations.add(format!("names[{i}]"), e.to_string()),
            Ok((m, _)) if m != merchant_id => violations.add(
                format!("names[{i}]"),
                format!("{name:?} is not a failed event of merchants/{merchant_id}"),
            ),
            Ok((_, id)) if !seen.insert(id) => {
                violations.add(format!("names[{i}]"), format!("{name:?} is named twice"));
            }
            Ok((_, id)) => ids.push(id),
        }
    }
    if violations.is_empty() {
        Ok(ids)
    } else {
        Err(violations.into())
    }
}

pub async fn replay(
    api: &IngestionApi,
    request: pb::ReplayFailedEventsRequest,
) -> Result<pb::ReplayFailedEventsResponse, IngestionError> {
    let merchant_id = merchant_id_from_name(&request.parent, "parent")?;
    let ids = replay_ids(&merchant_id, &request.names)?;
    let merchant = merchant_store::get(&api.db, &merchant_id).await?;
    let retention = api.failed_event_retention;
    let mut by_id: HashMap<i64, Kept> = HashMap::with_capacity(ids.len());
    for kept in failed_event_store::get_many(&api.db, &merchant_id, retention, &ids).await? {
        by_id.insert(kept.id, kept);
    }
    if let Some(missing) = ids.iter().find(|id| !by_id.contains_key(id)) {
        return Err(IngestionError::NotFound(name_of(&merchant_id, *missing)));
    }
    let events: Vec<pb::Event> = ids
        .iter()
        .filter_map(|id| by_id.remove(id).map(|k| k.event))
        .collect();
    let mut seen = HashSet::new();
    // Rejected again: `process` counts the attempt on the same row (same event, same
    // fingerprint). Anything else is settled and leaves the store.
    let items = process(api, &merchant, events, false, &mut seen).await?;
    let settled: Vec<i64> = ids
        .iter()
        .zip(&items)
        .filter(|(_, (_, item))| !matches!(item, Item::Rejected(_)))
        .map(|(id, _)| *id)
        .collect();
    failed_event_store::delete(&api.db, &merchant_id, &settled).await?;
    let batch = batch_response(&merchant_id, items, false);
    tracing::info!(
        replayed = ids.len(),
        accepted = batch.accepted_count,
        duplicate = batch.duplicate_count,
        rejected = batch.rejected_count,
        "failed events replayed"
    );
    Ok(pb::ReplayFailedEventsResponse {
        accepted_count: batch.accepted_count,
        duplicate_count: batch.duplicate_count,
        rejected_count: batch.rejected_count,
        results: batch.results,
    })
}

pub async fn delete(
    api: &IngestionApi,
    request: pb::DeleteFailedEventRequest,
) -> Result<(), IngestionError> {
    let (merchant_id, id) =
        parse_name(&request.name).map_err(|e| IngestionError::invalid("name", e.to_string()))?;
    if failed_event_store::delete_kept(&api.db, &merchant_id, api.failed_event_retention, id)
        .await?
    {
        Ok(())
    } else {
        Err(IngestionError::NotFound(request.name))
    }
}

/// Deletes expired failed events now and then every tenth of the retention period (at
/// least every second, at most every hour), for as long as the process runs.
pub fn spawn_retention(api: &IngestionApi) {
    let db = api.db.clone();
    let retention = api.failed_event_retention;
    let every = (retention / 10).to_std().unwrap_or_default().clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(3600),
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match failed_event_store::purge_expired(&db, retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "expired failed events deleted"),
                Err(err) => tracing::warn!(error = %err, "cannot delete expired failed events"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_ones_are_refused() {
        assert_eq!(
            parse_name(&name_of("acme", 42)).ok(),
            Some(("acme".to_owned(), 42))
        );
        for bad in [
            "merchants/acme/failedEvents/0",
            "merchants/acme/failedEvents/-3",
            "merchants/acme/failedEvents/x1",
            "merchants/acme/events/1",
            "merchants/acme/failedEvents/99999999999999999999",
        ] {
            assert!(parse_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn replay_names_must_be_of_the_merchant_and_distinct() {
        let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            replay_ids("acme", &names(&["merchants/acme/failedEvents/3"])).ok(),
            Some(vec![3])
        );
        for bad in [
            names(&[]),
            names(&["merchants/other/failedEvents/3"]),
            names(&[
                "merchants/acme/failedEvents/3",
                "merchants/acme/failedEvents/3",
            ]),
            vec!["merchants/acme/failedEvents/1".to_owned(); MAX_REPLAY + 1],
        ] {
            assert!(replay_ids("acme", &bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Names and page cursors come from callers: any text is parsed or refused, never
        /// a panic, and what is accepted is what was named.
        #[test]
        fn any_name_or_cursor_text_is_parsed_or_refused(text in ".{0,80}", id in 1i64..) {
            let _ = parse_name(&text);
            let _ = decode_cursor(&text);
            let name = name_of("acme", id);
            proptest::prop_assert_eq!(parse_name(&name).ok(), Some(("acme".to_owned(), id)));
        }
    }

    #[test]
    fn cursors_round_trip() {
        let c = ListCursor {
            last_failed_at: UtcDateTime::new(
                chrono::DateTime::from_timestamp_micros(1_765_000_000_123_456).expect("time"),
            ),
            id: 7,
        };
        assert_eq!(decode_cursor(&encode_cursor(c)), Some(c));
        assert_eq!(decode_cursor("garbage"), None);
    }
}
