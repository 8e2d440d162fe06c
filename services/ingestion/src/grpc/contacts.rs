//! B2B contacts and customer erasure.

use caravan_access::Principal;
use caravan_core::names::{check_child_id, parse_child_name};
use caravan_core::paging;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;

use super::IngestionApi;
use super::list_filter::{boolean, comparisons};
use crate::contact_rules::{apply_contact_mask, check_contact, contact_to_proto};
use crate::customer_store::{self, contacts, new_customer_id};
use crate::erasure_store;
use crate::error::IngestionError;
use caravan_core::filter::{Comparison, Op};

/// `merchants/{m}/customers/{c}/contacts/{id}` -> (m, c, id).
fn contact_ids(name: &str, field: &str) -> Result<(String, String, String), IngestionError> {
    let bad = || {
        IngestionError::invalid(
            field,
            format!(
                "{name:?} is not of the form merchants/{{merchant}}/customers/{{customer}}/contacts/{{contact}}"
            ),
        )
    };
    let (parent, id) = name.rsplit_once("/contacts/").ok_or_else(bad)?;
    let (merchant, customer) = parse_child_name(parent, "customers").map_err(|_| bad())?;
    check_child_id(id).map_err(|e| IngestionError::invalid(field, e.to_string()))?;
    if id.len() > 64 {
        return Err(IngestionError::invalid(
            field,
            "contact id must be at most 64 characters",
        ));
    }
    Ok((merchant.as_str().to_owned(), customer, id.to_owned()))
}

fn customer_parent(parent: &str) -> Result<(String, String), IngestionError> {
    let (merchant, customer) = parse_child_name(parent, "customers")
        .map_err(|e| IngestionError::invalid("parent", e.to_string()))?;
    Ok((merchant.as_str().to_owned(), customer))
}

pub async fn create(
    api: &IngestionApi,
    request: pb::CreateContactRequest,
) -> Result<pb::Contact, IngestionError> {
    let (merchant_id, customer_id) = customer_parent(&request.parent)?;
    let id = if request.contact_id.is_empty() {
        new_customer_id()
    } else {
        check_child_id(&request.contact_id)
            .map_err(|e| IngestionError::invalid("contact_id", e.to_string()))?;
        if request.contact_id.len() > 64 {
            return Err(IngestionError::invalid(
                "contact_id",
                "must be at most 64 characters",
            ));
        }
        request.contact_id.clone()
    };
    let contact = request
        .contact
        .ok_or_else(|| IngestionError::invalid("contact", "is required"))?;
    let fields = check_contact(&contact)?;
    contacts::check_parent(&api.db, &merchant_id, &customer_id).await?;
    let row = contacts::insert(&api.db, &merchant_id, &customer_id, &id, &fields).await?;
    Ok(contact_to_proto(&row, false))
}

pub async fn get(
    api: &IngestionApi,
    caller: &Principal,
    request: pb::GetContactRequest,
) -> Result<pb::Contact, IngestionError> {
    let (m, c, id) = contact_ids(&request.name, "name")?;
    let row = contacts::get_contact(&api.db, &m, &c, &id).await?;
    if request.reveal_pii {
        super::record_reveal(api, caller, &m, &c, GET_CONTACT).await?;
    }
    Ok(contact_to_proto(&row, request.reveal_pii))
}

const GET_CONTACT: &str = "/caravan.ingestion.v1.IngestionService/GetContact";

pub async fn update(
    api: &IngestionApi,
    request: pb::UpdateContactRequest,
) -> Result<pb::Contact, IngestionError> {
    let update = request
        .contact
        .ok_or_else(|| IngestionError::invalid("contact", "is required"))?;
    let (m, c, id) = contact_ids(&update.name, "contact.name")?;
    let paths = request
        .update_mask
        .map(|mask| mask.paths)
        .unwrap_or_default();
    let current = contacts::get_contact(&api.db, &m, &c, &id).await?;
    let mut merged = contact_to_proto(&current, true);
    apply_contact_mask(&mut merged, &update, &paths)?;
    let fields = check_contact(&merged)?;
    let row = contacts::update(&api.db, current, &fields).await?;
    Ok(contact_to_proto(&row, false))
}

pub async fn list(
    api: &IngestionApi,
    request: pb::ListContactsRequest,
) -> Result<pb::ListContactsResponse, IngestionError> {
    let (merchant_id, customer_id) = customer_parent(&request.parent)?;
    let size = paging::page_size(request.page_size)
        .map_err(|e| IngestionError::invalid("page_size", e.to_string()))?;
    let (mut decision_maker, mut channel) = (None, None);
    for c in comparisons(&request.filter)? {
        match (c.field.as_str(), c.op) {
            ("decision_maker", Op::Eq) => decision_maker = Some(boolean(&c)?),
            ("preferred_channel", Op::Eq) => channel = Some(contact_channel(&c)?),
            _ => {
                return Err(IngestionError::invalid(
                    "filter",
                    format!("{c}: supported are decision_maker and preferred_channel (=)"),
                ));
            }
        }
    }
    customer_store::get(&api.db, &merchant_id, &customer_id).await?;
    let fingerprint = paging::request_fingerprint(&[&request.parent, &request.filter, "contacts"]);
    let after = paging::decode_token(&request.page_token, fingerprint)
        .map_err(|e| IngestionError::invalid("page_token", e.to_string()))?;
    let mut rows = contacts::list(
        &api.db,
        &merchant_id,
        &customer_id,
        decision_maker,
        channel,
        after.as_deref(),
        size + 1,
    )
    .await?;
    let next_page_token = if rows.len() as u64 > size {
        rows.truncate(usize::try_from(size).unwrap_or(usize::MAX));
        rows.last()
            .map(|r| paging::encode_token(&r.id, fingerprint))
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(pb::ListContactsResponse {
        contacts: rows.iter().map(|r| contact_to_proto(r, false)).collect(),
        next_page_token,
    })
}

pub async fn delete(
    api: &IngestionApi,
    request: pb::DeleteContactRequest,
) -> Result<(), IngestionError> {
    let (m, c, id) = contact_ids(&request.name, "name")?;
    contacts::delete(&api.db, &m, &c, &id).await
}

/// DeleteCustomer (right to erasure); the reason is logged (it must not carry personal data).
/// Returns once every recommendation replica has had its erasure poll, so the caller's next
/// Recommend no longer uses the customer (`ingestion.erasure_settle_ms`).
pub async fn delete_customer(
    api: &IngestionApi,
    caller: &Principal,
    request: pb::DeleteCustomerRequest,
) -> Result<(), IngestionError> {
    let (merchant_id, id) = customer_parent(&request.name).map_err(|_| {
        IngestionError::invalid("name", format!("{:?} is not a customer name", request.name))
    })?;
    if request.reason.chars().count() > 255 {
        return Err(IngestionError::invalid(
            "reason",
            "must be at most 255 characters",
        ));
    }
    let erased =
        erasure_store::erase(&api.db, &api.hasher, &merchant_id, &id, &caller.name()).await?;
    tracing::info!(
        customer = %request.name,
        reason = %request.reason,
        erased_by = %caller,
        customers = erased.customers.len(),
        events = erased.events,
        referrals = erased.referrals_scrubbed,
        models_dropped = ?erased.derived.model_versions,
        outbox_rows = erased.derived.outbox_rows,
        "customer erased"
    );
    tokio::time::sleep(api.erasure_settle).await;
    Ok(())
}

/// A contact channel value name (with or without `CONTACT_CHANNEL_`), as stored.
fn contact_channel(c: &Comparison) -> Result<String, IngestionError> {
    let name = c.value.text.trim_start_matches("CONTACT_CHANNEL_");
    match common::ContactChannel::from_str_name(&format!("CONTACT_CHANNEL_{name}")) {
        Some(channel) if channel != common::ContactChannel::Unspecified => Ok(name.to_owned()),
        _ => Err(IngestionError::invalid(
            "filter",
            format!("{c}: '{name}' is not a contact channel"),
        )),
    }
}
