//! Tags and their history.

use caravan_core::paging::request_fingerprint;
use caravan_platform::FieldViolations;
use caravan_platform::proto_time::{from_timestamp, to_timestamp};
use caravan_proto::caravan::profiling::v1 as pb;
use caravan_store::entity::{customers, tag_history};
use caravan_store::sea_orm::EntityTrait;
use tonic::Response;

use super::selection::{customer_ids, page, page_offset, page_size};
use super::{ProfilingApi, RpcResult};
use crate::error::ProfilingError;
use crate::filter::{self, FieldType, FieldValue, OrderKey};
use crate::profile_view::tag_to_proto;
use crate::tag_store::{self, ManualTag};

const MAX_KEY: usize = 64;
const MAX_VALUE: usize = 255;
const MAX_NOTE: usize = 2000;

fn tag_field(path: &str) -> Option<FieldType> {
    Some(match path {
        "key" | "value" => FieldType::Text,
        "source" => FieldType::Enum("TAG_SOURCE_"),
        "confidence" | "evidence_count" => FieldType::Number,
        "last_seen_time" => FieldType::Time,
        _ => return None,
    })
}

fn tag_value(t: &pb::Tag, path: &str) -> FieldValue {
    match path {
        "key" => FieldValue::Text(t.key.clone()),
        "value" => FieldValue::Text(t.value.clone()),
        "source" => pb::TagSource::try_from(t.source).map_or(FieldValue::Missing, |s| {
            FieldValue::Enum(s.as_str_name().to_owned())
        }),
        "confidence" => FieldValue::Number(t.confidence),
        #[allow(clippy::cast_precision_loss)]
        "evidence_count" => FieldValue::Number(t.evidence_count as f64),
        "last_seen_time" => t
            .last_seen_time
            .as_ref()
            .and_then(from_timestamp)
            .map_or(FieldValue::Missing, FieldValue::Time),
        _ => FieldValue::Missing,
    }
}

/// `(merchant, Some(customer))`, or `None` for the `-` wildcard.
fn tag_parent(parent: &str) -> Result<(String, Option<String>), ProfilingError> {
    if let Some(m) = parent.strip_suffix("/customers/-") {
        return Ok((super::selection::merchant_id(m, "parent")?, None));
    }
    let (m, c) = customer_ids(parent, "parent")?;
    Ok((m, Some(c)))
}

async fn require_customer(
    api: &ProfilingApi,
    merchant: &str,
    customer: &str,
) -> Result<(), ProfilingError> {
    customers::Entity::find_by_id((merchant.to_owned(), customer.to_owned()))
        .one(&api.db)
        .await?
        .filter(|c| c.deleted_at.is_none() && c.merged_into.is_none())
        .map(|_| ())
        .ok_or_else(|| {
            ProfilingError::NotFound(format!("merchants/{merchant}/customers/{customer}"))
        })
}

pub async fn list(
    api: &ProfilingApi,
    request: pb::ListTagsRequest,
) -> RpcResult<pb::ListTagsResponse> {
    let (merchant, customer) = tag_parent(&request.parent)?;
    let size = page_size(request.page_size, 100, 1000)?;
    let filter = filter::parse(&request.filter, &tag_field)
        .map_err(|e| ProfilingError::invalid("filter", e))?;
    let order_by = if request.order_by.trim().is_empty() {
        "confidence desc"
    } else {
        request.order_by.as_str()
    };
    let order = filter::parse_order_by(order_by, &|f| {
        matches!(
            f,
            "confidence" | "evidence_count" | "last_seen_time" | "key"
        )
    })
    .map_err(|e| ProfilingError::invalid("order_by", e))?;
    let fingerprint = request_fingerprint(&[&request.parent, &request.filter, order_by]);
    let offset = page_offset(&request.page_token, fingerprint)?;
    let mut tags: Vec<pb::Tag> = tag_store::list(&api.db, &merchant, customer.as_deref())
        .await?
        .iter()
        .map(tag_to_proto)
        .filter(|t| filter.matches(&|p| tag_value(t, p)))
        .collect();
    tags.sort_by(|a, b| {
        for OrderKey { field, descending } in &order {
            let o = filter::cmp_values(&tag_value(a, field), &tag_value(b, field));
            let o = if *descending { o.reverse() } else { o };
            if o.is_ne() {
                return o;
            }
        }
        a.name.cmp(&b.name)
    });
    let (tags, next_page_token) = page(tags, offset, size, fingerprint);
    Ok(Response::new(pb::ListTagsResponse {
        tags,
        next_page_token,
    }))
}

fn check_new_tag(tag: Option<&pb::Tag>, actor: &str) -> Result<ManualTag, ProfilingError> {
    let mut v = FieldViolations::new();
    let Some(tag) = tag else {
        v.add("tag", "required");
        return Err(v.into());
    };
    let key = tag.key.trim();
    let value = tag.value.trim();
    if key.is_empty() {
        v.add("tag.key", "required");
    } else if key.chars().count() > MAX_KEY {
        v.add("tag.key", format!("at most {MAX_KEY} characters"));
    }
    if value.is_empty() {
        v.add("tag.value", "required");
    } else if value.chars().count() > MAX_VALUE {
        v.add("tag.value", format!("at most {MAX_VALUE} characters"));
    }
    if !(tag.confidence.is_finite() && (0.0..=1.0).contains(&tag.confidence)) {
        v.add("tag.confidence", "must be between 0 and 1");
    }
    if tag.note.chars().count() > MAX_NOTE {
        v.add("tag.note", format!("at most {MAX_NOTE} characters"));
    }
    if actor.chars().count() > MAX_VALUE {
        v.add("actor", format!("at most {MAX_VALUE} characters"));
    }
    v.into_result()?;
    Ok(ManualTag {
        key: key.to_owned(),
        value: value.to_owned(),
        // 0 is proto3's "not set": manual tags default to full confidence.
        confidence: if tag.confidence == 0.0 {
            1.0
        } else {
            tag.confidence
        },
        note: (!tag.note.trim().is_empty()).then(|| tag.note.trim().to_owned()),
        actor: (!actor.trim().is_empty()).then(|| actor.trim().to_owned()),
    })
}

pub async fn create(api: &ProfilingApi, request: pb::CreateTagRequest) -> RpcResult<pb::Tag> {
    let parent = customer_ids(&request.parent, "parent");
    let tag = check_new_tag(request.tag.as_ref(), &request.actor);
    let ((merchant, customer), tag) = match (parent, tag) {
        (Ok(p), Ok(t)) => (p, t),
        (Err(ProfilingError::Invalid(mut a)), Err(ProfilingError::Invalid(b))) => {
            a.extend(b);
            return Err(ProfilingError::Invalid(a).into());
        }
        (Err(e), _) | (_, Err(e)) => return Err(e.into()),
    };
    require_customer(api, &merchant, &customer).await?;
    let saved = tag_store::create_manual(&api.db, &merchant, &customer, tag).await?;
    Ok(Response::new(tag_to_proto(&saved)))
}

pub async fn delete(api: &ProfilingApi, request: pb::DeleteTagRequest) -> RpcResult<()> {
    let bad = || {
        ProfilingError::invalid(
            "name",
            "must be merchants/{merchant}/customers/{customer}/tags/{tag}",
        )
    };
    let (customer_name, tag_id) = request.name.rsplit_once("/tags/").ok_or_else(bad)?;
    if tag_id.is_empty() || tag_id.contains('/') {
        return Err(bad().into());
    }
    let (merchant, customer) = customer_ids(customer_name, "name")?;
    let actor = (!request.actor.trim().is_empty()).then(|| request.actor.trim().to_owned());
    tag_store::delete(&api.db, &merchant, &customer, tag_id, actor).await?;
    Ok(Response::new(()))
}

fn history_field(path: &str) -> Option<FieldType> {
    Some(match path {
        "key" | "value" => FieldType::Text,
        "action" => FieldType::Enum("TAG_ACTION_"),
        "source" => FieldType::Enum("TAG_SOURCE_"),
        "event_time" => FieldType::Time,
        _ => return None,
    })
}

fn history_to_proto(h: &tag_history::Model) -> pb::TagHistoryEntry {
    pb::TagHistoryEntry {
        tag: format!(
            "merchants/{}/customers/{}/tags/{}",
            h.merchant_id, h.customer_id, h.tag_id
        ),
        key: h.tag_key.clone(),
        value: h.value.clone(),
        action: pb::TagAction::from_str_name(&format!("TAG_ACTION_{}", h.action))
            .map_or(0, |a| a as i32),
        source: pb::TagSource::from_str_name(&format!("TAG_SOURCE_{}", h.source))
            .map_or(0, |s| s as i32),
        confidence: h.confidence,
        evidence_count: i64::from(h.evidence_count),
        event_time: Some(to_timestamp(h.occurred_at.get())),
        reason: tag_store::opened(
            tag_store::HISTORY_REASONS,
            &h.merchant_id,
            h.reason.as_ref(),
        )
        .unwrap_or_default(),
        actor: h.actor.clone().unwrap_or_default(),
    }
}

fn history_value(e: &pb::TagHistoryEntry, path: &str) -> FieldValue {
    match path {
        "key" => FieldValue::Text(e.key.clone()),
        "value" => FieldValue::Text(e.value.clone()),
        "action" => pb::TagAction::try_from(e.action).map_or(FieldValue::Missing, |a| {
            FieldValue::Enum(a.as_str_name().to_owned())
        }),
        "source" => pb::TagSource::try_from(e.source).map_or(FieldValue::Missing, |s| {
            FieldValue::Enum(s.as_str_name().to_owned())
        }),
        "event_time" => e
            .event_time
            .as_ref()
            .and_then(from_timestamp)
            .map_or(FieldValue::Missing, FieldValue::Time),
        _ => FieldValue::Missing,
    }
}

pub async fn history(
    api: &ProfilingApi,
    request: pb::ListTagHistoryRequest,
) -> RpcResult<pb::ListTagHistoryResponse> {
    let (merchant, customer) = customer_ids(&request.parent, "parent")?;
    let size = page_size(request.page_size, 100, 1000)?;
    let filter = filter::parse(&request.filter, &history_field)
        .map_err(|e| ProfilingError::invalid("filter", e))?;
    let fingerprint = request_fingerprint(&[&request.parent, &request.filter]);
    let offset = page_offset(&request.page_token, fingerprint)?;
    let entries: Vec<pb::TagHistoryEntry> = tag_store::history(&api.db, &merchant, &customer)
        .await?
        .iter()
        .map(history_to_proto)
        .filter(|e| filter.matches(&|p| history_value(e, p)))
        .collect();
    let (entries, next_page_token) = page(entries, offset, size, fingerprint);
    Ok(Response::new(pb::ListTagHistoryResponse {
        entries,
        next_page_token,
    }))
}
