//! The stored form of an event payload, shared by the service that writes events
//! (ingestion) and the services that read them (profiling, recommendation).
//!
//! `events.payload` holds a format byte, [`FORMAT_V1`], followed by the protobuf encoding
//! of a `caravan.ingestion.v1.Event` with only its `payload` set (product and customer
//! references already normalised to resource names by ingestion). Protobuf keeps the stored
//! form exactly as expressive as the contract; the format byte lets it change without
//! guessing. (Until migration `m20261124_000015` it was `{"v":1,"pb":"<hex>"}` in JSON.)

use prost::Message;

use crate::caravan::ingestion::v1::Event;
use crate::caravan::ingestion::v1::event::Payload;

/// The first byte of a stored payload in the current format.
pub const FORMAT_V1: u8 = 1;

/// The stored form of `payload`; decode with [`decode_payload`].
pub fn encode_payload(payload: &Payload) -> Vec<u8> {
    // The oneof's fields are fields of `Event`: encoded on their own they are exactly the
    // encoding of an `Event` with only `payload` set, without copying the payload into one.
    let mut stored = Vec::with_capacity(1 + payload.encoded_len());
    stored.push(FORMAT_V1);
    payload.encode(&mut stored);
    stored
}

/// The payload of a stored event, or `None` if the stored value is not in the current
/// format (never written by ingestion; a reader should skip and log such a row).
pub fn decode_payload(stored: &[u8]) -> Option<Payload> {
    let (&format, pb) = stored.split_first()?;
    if format != FORMAT_V1 {
        return None;
    }
    Event::decode(pb).ok()?.payload
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caravan::ingestion::v1::ProductViewEvent;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let payload = Payload::ProductView(ProductViewEvent {
            product: "merchants/acme/products/sku-1".to_owned(),
            ..Default::default()
        });
        let stored = encode_payload(&payload);
        assert_eq!(stored[0], FORMAT_V1);
        let event = Event {
            payload: Some(payload.clone()),
            ..Default::default()
        };
        assert_eq!(
            stored[1..],
            event.encode_to_vec(),
            "an Event with only its payload"
        );
        assert_eq!(decode_payload(&stored), Some(payload));
        assert_eq!(decode_payload(&[]), None);
        assert_eq!(decode_payload(&[2, 0x0a, 0x00]), None, "unknown format");
        assert_eq!(
            decode_payload(&[FORMAT_V1, 0xff, 0xff]),
            None,
            "not protobuf"
        );
    }
}
