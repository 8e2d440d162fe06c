//! Shared by the RPCs that read sets of profiles: name parsing, filtering, ordering and
//! offset paging over in-memory lists.
//!
//! Profiles are filtered in memory after one read of the merchant's profiles: the filter
//! language covers every Profile field, most of which live inside the stored document.
//! That is fast for merchants with up to a few hundred thousand customers (see
//! BENCHMARKS.md); pushing common clauses down to the indexed columns is the next step.

use caravan_core::names::{parse_child_name, parse_merchant_name};
use caravan_core::paging;
use caravan_proto::caravan::profiling::v1 as pb;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::ProfilingApi;
use crate::error::ProfilingError;
use crate::filter::{self, FieldValue, Filter, OrderKey};
use crate::profile_fields::{field_type, field_value, orderable};
use crate::profile_store::merchant_context;
use crate::profile_view;

pub(crate) fn merchant_id(name: &str, field: &str) -> Result<String, ProfilingError> {
    parse_merchant_name(name)
        .map(|m| m.as_str().to_owned())
        .map_err(|e| ProfilingError::invalid(field, e.to_string()))
}

/// `(merchant, customer)` of `merchants/{m}/customers/{c}`.
pub(crate) fn customer_ids(name: &str, field: &str) -> Result<(String, String), ProfilingError> {
    let (m, c) = parse_child_name(name, "customers")
        .map_err(|e| ProfilingError::invalid(field, e.to_string()))?;
    Ok((m.as_str().to_owned(), c))
}

pub(crate) fn page_size(requested: i32, default: u64, max: u64) -> Result<usize, ProfilingError> {
    if requested < 0 {
        return Err(ProfilingError::invalid("page_size", "must not be negative"));
    }
    let size = if requested == 0 {
        default
    } else {
        u64::try_from(requested).unwrap_or(max).min(max)
    };
    Ok(usize::try_from(size).unwrap_or(usize::MAX))
}

/// The offset a page token stands for.
pub(crate) fn page_offset(token: &str, fingerprint: u64) -> Result<usize, ProfilingError> {
    match paging::decode_token(token, fingerprint) {
        Ok(None) => Ok(0),
        Ok(Some(key)) => key
            .parse()
            .map_err(|_| ProfilingError::invalid("page_token", "not a token of this request")),
        Err(_) => Err(ProfilingError::invalid(
            "page_token",
            "not a token of this request (the filter, order or parent changed?)",
        )),
    }
}

/// One page of `items` from `offset`, and the next token.
pub(crate) fn page<T>(
    mut items: Vec<T>,
    offset: usize,
    size: usize,
    fingerprint: u64,
) -> (Vec<T>, String) {
    let total = items.len();
    let end = offset.saturating_add(size).min(total);
    let page: Vec<T> = if offset >= total {
        Vec::new()
    } else {
        items.drain(offset..end).collect()
    };
    let next = if end < total {
        paging::encode_token(&end.to_string(), fingerprint)
    } else {
        String::new()
    };
    (page, next)
}

pub(crate) fn parse_profile_filter(input: &str, field: &str) -> Result<Filter, ProfilingError> {
    filter::parse(input, &field_type).map_err(|e| ProfilingError::invalid(field, e))
}

pub(crate) fn parse_profile_order(input: &str) -> Result<Vec<OrderKey>, ProfilingError> {
    filter::parse_order_by(input, &orderable).map_err(|e| ProfilingError::invalid("order_by", e))
}

/// Sorts by the keys, then by customer name (stable pages).
pub(crate) fn sort_profiles(profiles: &mut [pb::Profile], keys: &[OrderKey]) {
    profiles.sort_by(|a, b| {
        for k in keys {
            let o = filter::cmp_values(&field_value(a, &k.field), &field_value(b, &k.field));
            let o = if k.descending
                && !matches!(
                    (field_value(a, &k.field), field_value(b, &k.field)),
                    (FieldValue::Missing, _) | (_, FieldValue::Missing)
                ) {
                o.reverse()
            } else {
                o
            };
            if o.is_ne() {
                return o;
            }
        }
        a.customer.cmp(&b.customer)
    });
}

/// How long a merchant's reference time is reused before it is read again.
const AS_OF_TTL: Duration = Duration::from_secs(5);

/// A reference time and when it was read.
type Stamped = (DateTime<Utc>, Instant);

/// Merchant id -> its reference time.
#[derive(Clone, Default)]
pub(crate) struct AsOfCache(Arc<Mutex<HashMap<String, Stamped>>>);

/// The instant recency is counted to for a merchant (its latest event, capped at now);
/// `NotFound` for unknown merchants.
pub(crate) async fn as_of(
    api: &ProfilingApi,
    merchant: &str,
) -> Result<DateTime<Utc>, ProfilingError> {
    if let Ok(cache) = api.as_of_cache.0.lock()
        && let Some((t, read)) = cache.get(merchant)
        && read.elapsed() < AS_OF_TTL
    {
        return Ok(*t);
    }
    let t = merchant_context(&api.db, merchant)
        .await?
        .map(|c| c.as_of)
        .ok_or_else(|| ProfilingError::NotFound(format!("merchants/{merchant}")))?;
    if let Ok(mut cache) = api.as_of_cache.0.lock() {
        cache.insert(merchant.to_owned(), (t, Instant::now()));
    }
    Ok(t)
}

/// The merchant's profiles matching all `filters` (full view, no personal data).
pub(crate) async fn select(
    api: &ProfilingApi,
    merchant: &str,
    filters: &[&Filter],
) -> Result<Vec<pb::Profile>, ProfilingError> {
    let as_of = as_of(api, merchant).await?;
    let mut all = profile_view::load_all(&api.db, merchant, as_of).await?;
    all.retain(|p| {
        filters
            .iter()
            .all(|f| f.matches(&|path| field_value(p, path)))
    });
    Ok(all)
}
