//! The personal fields of customers and B2B contacts, sealed together in their row's `pii`
//! column (`crate::sealing`). Writers call [`seal_customer`] / [`seal_contact`] on the
//! active model before saving; readers call [`open_customer`] / [`open_contact`] on each
//! row loaded, after which the plaintext fields hold the values as if never sealed.

use sea_orm::ActiveValue::{self, NotSet, Set, Unchanged};

use crate::entity::{customer_contacts, customers};
use crate::sealing::{self, SealError};

const CUSTOMERS: &str = "customers.pii";
const CONTACTS: &str = "customer_contacts.pii";
const EVENT_PAYLOADS: &str = "events.payload";
const FAILED_EVENTS: &str = "failed_events.record";

/// The stored form of an event's encoded payload (reviews, tickets, comments, searches and
/// messages are free text that may name people).
pub fn seal_event_payload(merchant_id: &str, encoded: &[u8]) -> Vec<u8> {
    sealing::seal(EVENT_PAYLOADS, merchant_id, encoded)
}

/// The encoded payload of a stored event (one written before sealing is returned as it is).
pub fn open_event_payload<'a>(
    merchant_id: &str,
    stored: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>, SealError> {
    sealing::open(EVENT_PAYLOADS, merchant_id, stored)
}

/// The stored form of a failed event's record (the event as sent, with its reasons).
pub fn seal_failed_event(merchant_id: &str, encoded: &[u8]) -> Vec<u8> {
    sealing::seal(FAILED_EVENTS, merchant_id, encoded)
}

/// The encoded record of a stored failed event.
pub fn open_failed_event<'a>(
    merchant_id: &str,
    stored: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>, SealError> {
    sealing::open(FAILED_EVENTS, merchant_id, stored)
}

/// Whether a stored event payload (or failed-event record) needs `caravan privacy reseal`.
pub fn event_payload_needs_reseal(stored: &[u8]) -> bool {
    !sealing::is_current(stored)
}

fn value(v: &ActiveValue<Option<String>>) -> Option<String> {
    match v {
        Set(v) | Unchanged(v) => v.clone(),
        NotSet => None,
    }
}

fn merchant(v: &ActiveValue<String>) -> String {
    match v {
        Set(v) | Unchanged(v) => v.clone(),
        NotSet => String::new(),
    }
}

/// The sealed form of `fields` (`None` when all are empty).
fn seal_fields(
    context: &str,
    merchant: &str,
    fields: &[(&str, Option<String>)],
) -> Option<Vec<u8>> {
    let map: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .filter_map(|(k, v)| {
            v.clone()
                .map(|v| ((*k).to_owned(), serde_json::Value::String(v)))
        })
        .collect();
    if map.is_empty() {
        return None;
    }
    let plain = serde_json::Value::Object(map).to_string();
    Some(sealing::seal(context, merchant, plain.as_bytes()))
}

fn open_fields(
    context: &str,
    merchant: &str,
    sealed: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, SealError> {
    let plain = sealing::open(context, merchant, sealed)?;
    match serde_json::from_slice(&plain) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        _ => Err(SealError::Malformed),
    }
}

fn take(map: &mut serde_json::Map<String, serde_json::Value>, key: &str) -> Option<String> {
    match map.remove(key) {
        Some(serde_json::Value::String(s)) => Some(s),
        _ => None,
    }
}

/// Moves the customer's names, e-mail and phone into `pii`, sealed; the plaintext columns
/// are written as NULL.
pub fn seal_customer(row: &mut customers::ActiveModel) {
    let fields = [
        ("given_name", value(&row.given_name)),
        ("family_name", value(&row.family_name)),
        ("email", value(&row.email)),
        ("phone", value(&row.phone)),
    ];
    row.pii = Set(seal_fields(CUSTOMERS, &merchant(&row.merchant_id), &fields));
    row.given_name = Set(None);
    row.family_name = Set(None);
    row.email = Set(None);
    row.phone = Set(None);
}

/// Fills the plaintext fields of a loaded customer from its `pii` (a row written before
/// sealing keeps its plaintext columns).
pub fn open_customer(row: &mut customers::Model) -> Result<(), SealError> {
    let Some(sealed) = row.pii.take() else {
        return Ok(());
    };
    let mut map = open_fields(CUSTOMERS, &row.merchant_id, &sealed)?;
    row.given_name = take(&mut map, "given_name");
    row.family_name = take(&mut map, "family_name");
    row.email = take(&mut map, "email");
    row.phone = take(&mut map, "phone");
    Ok(())
}

/// Moves the contact's name, e-mail and phone into `pii`, sealed.
pub fn seal_contact(row: &mut customer_contacts::ActiveModel) {
    let fields = [
        ("name", value(&row.name)),
        ("email", value(&row.email)),
        ("phone", value(&row.phone)),
    ];
    row.pii = Set(seal_fields(CONTACTS, &merchant(&row.merchant_id), &fields));
    row.name = Set(None);
    row.email = Set(None);
    row.phone = Set(None);
}

/// Fills the plaintext fields of a loaded contact from its `pii`.
pub fn open_contact(row: &mut customer_contacts::Model) -> Result<(), SealError> {
    let Some(sealed) = row.pii.take() else {
        return Ok(());
    };
    let mut map = open_fields(CONTACTS, &row.merchant_id, &sealed)?;
    row.name = take(&mut map, "name");
    row.email = take(&mut map, "email");
    row.phone = take(&mut map, "phone");
    Ok(())
}

/// Whether a row needs `caravan privacy reseal`: plaintext personal data, or sealed under
/// another key than the active one.
pub fn customer_needs_reseal(row: &customers::Model) -> bool {
    match &row.pii {
        Some(sealed) => !sealing::is_current(sealed),
        None => {
            row.given_name.is_some()
                || row.family_name.is_some()
                || row.email.is_some()
                || row.phone.is_some()
        }
    }
}

/// [`customer_needs_reseal`] for contacts.
pub fn contact_needs_reseal(row: &customer_contacts::Model) -> bool {
    match &row.pii {
        Some(sealed) => !sealing::is_current(sealed),
        None => row.name.is_some() || row.email.is_some() || row.phone.is_some(),
    }
}

impl From<SealError> for sea_orm::DbErr {
    fn from(e: SealError) -> Self {
        sea_orm::DbErr::Custom(format!("personal data: {e}"))
    }
}
