//! `outbox.entries`: every event one ingestion transaction stored, listed in one outbox row
//! (`kind` = [`BATCH_KIND`]) instead of one outbox row per event, which was a third of the
//! rows ingestion wrote. Protobuf, so readers in other languages can declare the same two
//! messages:
//!
//! ```proto
//! message OutboxEntries { repeated OutboxEntry entries = 1; }
//! message OutboxEntry { string event_id = 1; string customer_id = 2; string kind = 3; }
//! ```

use prost::Message;

/// The `kind` of an outbox row that lists a batch of events in `entries`.
pub const BATCH_KIND: &str = "event_batch";

/// The `kind` of an outbox row for a change to a customer's own record (details, consents,
/// identifiers, contacts), which carries no event.
pub const CUSTOMER_CHANGED_KIND: &str = "customer_changed";

/// One stored event as the outbox lists it.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct OutboxEntry {
    #[prost(string, tag = "1")]
    pub event_id: String,
    /// The customer the event was attributed to.
    #[prost(string, tag = "2")]
    pub customer_id: String,
    /// The `events.kind` code.
    #[prost(string, tag = "3")]
    pub kind: String,
}

#[derive(Clone, PartialEq, Eq, prost::Message)]
struct OutboxEntries {
    #[prost(message, repeated, tag = "1")]
    entries: Vec<OutboxEntry>,
}

/// The stored form of `entries`.
pub fn encode(entries: Vec<OutboxEntry>) -> Vec<u8> {
    OutboxEntries { entries }.encode_to_vec()
}

/// One stored event, borrowed: `(event_id, customer_id, kind)`.
pub type EntryRef<'a> = (&'a str, &'a str, &'a str);

/// The same bytes as [`encode`], from borrowed fields: ingestion lists a thousand events per
/// batch, and copying each field into an [`OutboxEntry`] first only to encode it showed in
/// its profile.
pub fn encode_refs(entries: &[EntryRef<'_>]) -> Vec<u8> {
    use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};
    fn field_len(tag: u32, value: &str) -> usize {
        if value.is_empty() {
            0
        } else {
            key_len(tag) + encoded_len_varint(value.len() as u64) + value.len()
        }
    }
    fn put_field(tag: u32, value: &str, out: &mut Vec<u8>) {
        if !value.is_empty() {
            encode_key(tag, WireType::LengthDelimited, out);
            encode_varint(value.len() as u64, out);
            out.extend_from_slice(value.as_bytes());
        }
    }
    let body_len = |(event_id, customer_id, kind): &EntryRef<'_>| {
        field_len(1, event_id) + field_len(2, customer_id) + field_len(3, kind)
    };
    let total: usize = entries
        .iter()
        .map(|e| {
            let len = body_len(e);
            key_len(1) + encoded_len_varint(len as u64) + len
        })
        .sum();
    let mut out = Vec::with_capacity(total);
    for entry in entries {
        encode_key(1, WireType::LengthDelimited, &mut out);
        encode_varint(body_len(entry) as u64, &mut out);
        put_field(1, entry.0, &mut out);
        put_field(2, entry.1, &mut out);
        put_field(3, entry.2, &mut out);
    }
    out
}

/// The entries of a stored `outbox.entries` value, or `None` if it is not one.
pub fn decode(bytes: &[u8]) -> Option<Vec<OutboxEntry>> {
    OutboxEntries::decode(bytes).ok().map(|e| e.entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let entries = vec![
            OutboxEntry {
                event_id: "e-1".to_owned(),
                customer_id: "c-1".to_owned(),
                kind: "order".to_owned(),
            },
            OutboxEntry {
                event_id: "e-2".to_owned(),
                customer_id: "跨境".to_owned(),
                kind: "page_view".to_owned(),
            },
        ];
        assert_eq!(decode(&encode(entries.clone())), Some(entries));
        assert_eq!(decode(&encode(Vec::new())), Some(Vec::new()));
        assert_eq!(decode(&[0xff, 0xff, 0xff]), None);
    }

    #[test]
    fn borrowed_entries_encode_to_the_same_bytes() {
        let long = "x".repeat(300); // a length that takes two varint bytes
        let refs: Vec<EntryRef<'_>> = vec![
            ("e-1", "c-1", "order"),
            ("e-2", "跨境", "page_view"),
            ("e-3", "", "search"),
            ("", "", ""),
            (long.as_str(), "c-2", long.as_str()),
        ];
        let owned: Vec<OutboxEntry> = refs
            .iter()
            .map(|(e, c, k)| OutboxEntry {
                event_id: (*e).to_owned(),
                customer_id: (*c).to_owned(),
                kind: (*k).to_owned(),
            })
            .collect();
        assert_eq!(encode_refs(&refs), encode(owned.clone()));
        assert_eq!(decode(&encode_refs(&refs)), Some(owned));
        assert_eq!(encode_refs(&[]), encode(Vec::new()));
    }
}
