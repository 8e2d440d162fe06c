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
}
