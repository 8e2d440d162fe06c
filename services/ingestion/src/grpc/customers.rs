//! Customers, identity resolution and merges.

use caravan_access::Principal;
use caravan_core::names::{check_child_id, parse_child_name};
use caravan_core::paging;
use caravan_platform::FieldViolations;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_store::entity::{customers, identity_merges};
use chrono::Utc;

use super::list_filter::comparisons;
use super::{IngestionApi, merchant_id_from_name};
use crate::customer_rules::{apply_mask, check_customer, customer_to_proto};
use crate::customer_store::{self, CustomerFilter, CustomerOrder, customer_name, new_customer_id};
use crate::erasure_store;
use crate::error::IngestionError;
use crate::identity_rules::{identifier_key, kind_from_code};
use crate::merchant_store;
use caravan_core::filter::{Comparison, Op};

fn customer_ids(name: &str, field: &str) -> Result<(String, String), IngestionError> {
    let (merchant, id) = parse_child_name(name, "customers")
        .map_err(|e| IngestionError::invalid(field, e.to_string()))?;
    if id.len() > 64 {
        return Err(IngestionError::invalid(
            field,
            "customer id must be at most 64 characters",
        ));
    }
    Ok((merchant.as_str().to_owned(), id))
}

pub(crate) async fn to_proto(
    api: &IngestionApi,
    row: &customers::Model,
    reveal: bool,
) -> Result<pb::Customer, IngestionError> {
    let identifiers = customer_store::identifiers_of(&api.db, &row.merchant_id, &row.id).await?;
    Ok(customer_to_proto(row, &identifiers, &api.hasher, reveal))
}

/// CreateCustomer: validates, stores the customer and registers its identifiers (explicit
/// ones plus e-mail, phone and registration number); ALREADY_EXISTS if the id or an
/// identifier is taken.
pub async fn create(
    api: &IngestionApi,
    request: pb::CreateCustomerRequest,
) -> Result<pb::Customer, IngestionError> {
    let merchant_id = merchant_id_from_name(&request.parent, "parent")?;
    let id = if request.customer_id.is_empty() {
        new_customer_id()
    } else {
        check_child_id(&request.customer_id)
            .map_err(|e| IngestionError::invalid("customer_id", e.to_string()))?;
        if request.customer_id.len() > 64 {
            return Err(IngestionError::invalid(
                "customer_id",
                "must be at most 64 characters",
            ));
        }
        request.customer_id.clone()
    };
    let customer = request
        .customer
        .ok_or_else(|| IngestionError::invalid("customer", "is required"))?;
    let fields = check_customer(&customer, &api.hasher, Utc::now(), true)?;
    merchant_store::get(&api.db, &merchant_id).await?;
    refuse_erased(api, &merchant_id, &id).await?;
    let row = customer_store::insert(&api.db, &merchant_id, &id, &fields).await?;
    to_proto(api, &row, false).await
}

/// An erased customer does not come back, whatever is sent for it later.
async fn refuse_erased(
    api: &IngestionApi,
    merchant_id: &str,
    id: &str,
) -> Result<(), IngestionError> {
    if erasure_store::is_erased(&api.db, &api.hasher, merchant_id, id).await? {
        return Err(IngestionError::FailedPrecondition(format!(
            "{} was erased; erased customers cannot be created or updated again",
            customer_store::customer_name(merchant_id, id)
        )));
    }
    Ok(())
}

pub async fn get(
    api: &IngestionApi,
    caller: &Principal,
    request: pb::GetCustomerRequest,
) -> Result<pb::Customer, IngestionError> {
    let (merchant_id, id) = customer_ids(&request.name, "name")?;
    let row = customer_store::get(&api.db, &merchant_id, &id).await?;
    if request.reveal_pii {
        super::record_reveal(api, caller, &merchant_id, &id, GET_CUSTOMER).await?;
    }
    to_proto(api, &row, request.reveal_pii).await
}

const GET_CUSTOMER: &str = "/caravan.ingestion.v1.IngestionService/GetCustomer";

/// UpdateCustomer (AIP-134). Identifiers in the request are added; existing identifiers are
/// removed only when `identifiers` is named in the update mask.
pub async fn update(
    api: &IngestionApi,
    request: pb::UpdateCustomerRequest,
) -> Result<pb::Customer, IngestionError> {
    let update = request
        .customer
        .ok_or_else(|| IngestionError::invalid("customer", "is required"))?;
    let (merchant_id, id) = customer_ids(&update.name, "customer.name")?;
    let paths = request.update_mask.map(|m| m.paths).unwrap_or_default();
    let Some(current_row) = customer_store::find(&api.db, &merchant_id, &id).await? else {
        if request.allow_missing {
            merchant_store::get(&api.db, &merchant_id).await?;
            refuse_erased(api, &merchant_id, &id).await?;
            let fields = check_customer(&update, &api.hasher, Utc::now(), true)?;
            let row = customer_store::insert(&api.db, &merchant_id, &id, &fields).await?;
            return to_proto(api, &row, false).await;
        }
        refuse_erased(api, &merchant_id, &id).await?;
        return Err(IngestionError::NotFound(update.name.clone()));
    };
    if let Some(into) = &current_row.merged_into {
        return Err(IngestionError::FailedPrecondition(format!(
            "{} was merged into {} and is read-only",
            update.name,
            customer_name(&merchant_id, into)
        )));
    }
    let mut merged = to_proto(api, &current_row, true).await?;
    // Identifiers are handled as keys below, never round-tripped through masked values.
    merged.identifiers.clear();
    apply_mask(&mut merged, &update, &paths)?;
    let touches_company = paths.is_empty()
        || paths
            .iter()
            .any(|p| p == "enterprise" || p == "enterprise.company_name");
    let fields = check_customer(&merged, &api.hasher, Utc::now(), touches_company)?;
    let replace = paths.iter().any(|p| p == "identifiers");
    let row = customer_store::update(&api.db, &merchant_id, &id, &fields, replace).await?;
    to_proto(api, &row, false).await
}

fn parse_customer_filter(filter: &str) -> Result<CustomerFilter, IngestionError> {
    let mut out = CustomerFilter::default();
    for c in comparisons(filter)? {
        if c.op != Op::Eq {
            return Err(IngestionError::invalid(
                "filter",
                format!("{c}: only equality (=) is supported"),
            ));
        }
        let field = c.field.as_str();
        let column = match field {
            "kind" => customers::Column::Kind,
            "source" => customers::Column::Source,
            "star_rating" => customers::Column::StarRating,
            "person.country_code" | "enterprise.country_code" => customers::Column::Country,
            other => {
                return Err(IngestionError::invalid(
                    "filter",
                    format!(
                        "{other:?}: supported fields are kind, source, star_rating, person.country_code, enterprise.country_code"
                    ),
                ));
            }
        };
        let value = match field {
            "kind" => customer_kind(&c)?,
            "star_rating" => star_rating(&c)?,
            _ => c.value.text.clone(),
        };
        if field.starts_with("person.") {
            out.conditions
                .push((customers::Column::Kind, "PERSON".to_owned()));
        } else if field.starts_with("enterprise.") {
            out.conditions
                .push((customers::Column::Kind, "ENTERPRISE".to_owned()));
        }
        out.conditions.push((column, value));
    }
    Ok(out)
}

/// `PERSON` or `ENTERPRISE` (with or without `CUSTOMER_KIND_`), as stored.
fn customer_kind(c: &Comparison) -> Result<String, IngestionError> {
    let name = c.value.text.as_str();
    match name.strip_prefix("CUSTOMER_KIND_").unwrap_or(name) {
        kind @ ("PERSON" | "ENTERPRISE") => Ok(kind.to_owned()),
        _ => Err(IngestionError::invalid(
            "filter",
            format!("{c}: kind is PERSON or ENTERPRISE"),
        )),
    }
}

/// A star rating 1 to 5, as stored.
fn star_rating(c: &Comparison) -> Result<String, IngestionError> {
    match c.value.text.parse::<u8>() {
        Ok(stars @ 1..=5) => Ok(stars.to_string()),
        _ => Err(IngestionError::invalid(
            "filter",
            format!("{c}: star_rating is a whole number from 1 to 5"),
        )),
    }
}

pub async fn list(
    api: &IngestionApi,
    request: pb::ListCustomersRequest,
) -> Result<pb::ListCustomersResponse, IngestionError> {
    let merchant_id = merchant_id_from_name(&request.parent, "parent")?;
    let size = paging::page_size(request.page_size)
        .map_err(|e| IngestionError::invalid("page_size", e.to_string()))?;
    let filter = parse_customer_filter(&request.filter)?;
    let order = match request.order_by.trim() {
        "" | "create_time desc" => CustomerOrder::CreateTime { desc: true },
        "create_time" | "create_time asc" => CustomerOrder::CreateTime { desc: false },
        "update_time desc" => CustomerOrder::UpdateTime { desc: true },
        "update_time" | "update_time asc" => CustomerOrder::UpdateTime { desc: false },
        "name" | "name asc" => CustomerOrder::Name { desc: false },
        "name desc" => CustomerOrder::Name { desc: true },
        other => {
            return Err(IngestionError::invalid(
                "order_by",
                format!("{other:?}: order by create_time, update_time or name (optionally desc)"),
            ));
        }
    };
    let show_merged = if request.show_merged { "merged" } else { "" };
    let fingerprint = paging::request_fingerprint(&[
        &request.parent,
        &request.filter,
        &request.order_by,
        show_merged,
        "customers",
    ]);
    let offset: u64 = paging::decode_token(&request.page_token, fingerprint)
        .map_err(|e| IngestionError::invalid("page_token", e.to_string()))?
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    merchant_store::get(&api.db, &merchant_id).await?;
    let (rows, total) = customer_store::list(
        &api.db,
        &merchant_id,
        &filter,
        order,
        request.show_merged,
        offset,
        size,
    )
    .await?;
    let next_page_token = if offset + (rows.len() as u64) < total {
        paging::encode_token(&(offset + size).to_string(), fingerprint)
    } else {
        String::new()
    };
    let mut customers_out = Vec::with_capacity(rows.len());
    for row in &rows {
        customers_out.push(to_proto(api, row, false).await?);
    }
    Ok(pb::ListCustomersResponse {
        customers: customers_out,
        next_page_token,
        total_size: i64::try_from(total).unwrap_or(i64::MAX),
    })
}

pub async fn resolve(
    api: &IngestionApi,
    request: pb::ResolveCustomerRequest,
) -> Result<pb::ResolveCustomerResponse, IngestionError> {
    let merchant_id = merchant_id_from_name(&request.parent, "parent")?;
    if request.identifiers.is_empty() {
        return Err(IngestionError::invalid(
            "identifiers",
            "at least one identifier is required",
        ));
    }
    let mut violations = FieldViolations::new();
    let keys: Vec<_> = request
        .identifiers
        .iter()
        .enumerate()
        .filter_map(|(i, id)| {
            identifier_key(
                id,
                &api.hasher,
                &mut violations,
                &format!("identifiers[{i}]"),
            )
        })
        .collect();
    violations.into_result()?;
    match customer_store::resolve(&api.db, &merchant_id, &keys).await? {
        Some((i, row)) => Ok(pb::ResolveCustomerResponse {
            customer: Some(to_proto(api, &row, false).await?),
            matched_identifier: request.identifiers.get(i).cloned(),
        }),
        None => Err(IngestionError::NotFound(format!(
            "a customer of merchants/{merchant_id} with these identifiers"
        ))),
    }
}

pub(crate) fn merge_to_proto(
    row: &identity_merges::Model,
    moved: &[(String, String)],
    moved_events: u64,
) -> pb::IdentityMerge {
    pb::IdentityMerge {
        name: format!("merchants/{}/identityMerges/{}", row.merchant_id, row.id),
        source_customer: customer_name(&row.merchant_id, &row.source_customer_id),
        target_customer: customer_name(&row.merchant_id, &row.target_customer_id),
        reason: row.reason.clone(),
        actor: row.actor.clone(),
        merge_time: Some(to_timestamp(row.merged_at.get())),
        moved_identifiers: moved
            .iter()
            .map(
                |(kind, hash)| caravan_proto::caravan::common::v1::CustomerIdentifier {
                    kind: kind_from_code(kind) as i32,
                    value: if kind == "EMAIL" || kind == "PHONE" {
                        "***".to_owned()
                    } else {
                        hash.clone()
                    },
                    issuer: String::new(),
                },
            )
            .collect(),
        moved_event_count: i64::try_from(moved_events).unwrap_or(i64::MAX),
    }
}

/// MergeCustomers: see [`customer_store::merge`].
pub async fn merge(
    api: &IngestionApi,
    request: pb::MergeCustomersRequest,
) -> Result<pb::MergeCustomersResponse, IngestionError> {
    let mut violations = FieldViolations::new();
    let target = customer_ids(&request.target_customer, "target_customer");
    let mut sources = Vec::new();
    if request.source_customers.is_empty() {
        violations.add(
            "source_customers",
            "at least one source customer is required",
        );
    }
    if request.source_customers.len() > 100 {
        violations.add("source_customers", "at most 100 source customers per merge");
    }
    for (i, source) in request.source_customers.iter().enumerate() {
        match customer_ids(source, "x") {
            Ok(ids) => sources.push(ids),
            Err(e) => violations.add(format!("source_customers[{i}]"), e.to_string()),
        }
    }
    if request.reason.trim().is_empty() {
        violations.add("reason", "is required");
    } else if request.reason.chars().count() > 255 {
        violations.add("reason", "must be at most 255 characters");
    }
    if request.actor.chars().count() > 128 {
        violations.add("actor", "must be at most 128 characters");
    }
    let (merchant_id, target_id) = match target {
        Ok(t) => t,
        Err(e) => {
            violations.add("target_customer", e.to_string());
            (String::new(), String::new())
        }
    };
    for (i, (m, id)) in sources.iter().enumerate() {
        if *m != merchant_id {
            violations.add(
                format!("source_customers[{i}]"),
                "must belong to the target's merchant",
            );
        }
        if *id == target_id {
            violations.add(format!("source_customers[{i}]"), "is the target itself");
        }
        if sources[..i].iter().any(|(_, other)| other == id) {
            violations.add(format!("source_customers[{i}]"), "is listed twice");
        }
    }
    violations.into_result()?;
    let source_ids: Vec<String> = sources.into_iter().map(|(_, id)| id).collect();
    let (target_row, merged) = customer_store::merge(
        &api.db,
        &merchant_id,
        &target_id,
        &source_ids,
        request.reason.trim(),
        request.actor.trim(),
    )
    .await?;
    tracing::info!(sources = merged.len(), "customers merged");
    Ok(pb::MergeCustomersResponse {
        customer: Some(to_proto(api, &target_row, false).await?),
        identity_merges: merged
            .iter()
            .map(|m| merge_to_proto(&m.audit, &m.moved_identifiers, m.moved_events))
            .collect(),
    })
}

/// ListIdentityMerges, newest first (filters are not supported yet: INVALID_ARGUMENT).
pub async fn list_merges(
    api: &IngestionApi,
    request: pb::ListIdentityMergesRequest,
) -> Result<pb::ListIdentityMergesResponse, IngestionError> {
    let merchant_id = merchant_id_from_name(&request.parent, "parent")?;
    if !request.filter.trim().is_empty() {
        return Err(IngestionError::invalid(
            "filter",
            "filtering identity merges is not supported yet",
        ));
    }
    let size = paging::page_size(request.page_size)
        .map_err(|e| IngestionError::invalid("page_size", e.to_string()))?;
    let fingerprint = paging::request_fingerprint(&[&request.parent, "identityMerges"]);
    let before = paging::decode_token(&request.page_token, fingerprint)
        .map_err(|e| IngestionError::invalid("page_token", e.to_string()))?
        .and_then(|t| t.parse::<i64>().ok());
    let mut rows = customer_store::list_merges(&api.db, &merchant_id, before, size + 1).await?;
    let next_page_token = if rows.len() as u64 > size {
        rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        rows.last()
            .map(|r| paging::encode_token(&r.id.to_string(), fingerprint))
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(pb::ListIdentityMergesResponse {
        identity_merges: rows.iter().map(|r| merge_to_proto(r, &[], 0)).collect(),
        next_page_token,
    })
}
