//! The stored form of an event payload, shared by the service that writes events
//! (ingestion) and the services that read them (profiling, recommendation).
//!
//! `events.payload` holds `{"v":1,"pb":"<hex>"}`, where `pb` is the protobuf encoding of a
//! `caravan.ingestion.v1.Event` with only its `payload` set (product and customer
//! references already normalised to resource names by ingestion). Protobuf keeps the
//! stored form exactly as expressive as the contract; the version tag lets the format
//! change without guessing.

use prost::Message;

use crate::caravan::ingestion::v1::Event;
use crate::caravan::ingestion::v1::event::Payload;

/// The stored JSON form of `payload`; decode with [`decode_payload`].
pub fn encode_payload(payload: &Payload) -> serde_json::Value {
    let event = Event {
        payload: Some(payload.clone()),
        ..Default::default()
    };
    serde_json::json!({ "v": 1, "pb": hex::encode(event.encode_to_vec()) })
}

/// The payload of a stored event, or `None` if the stored value is not a version-1
/// payload (never written by ingestion; a reader should skip and log such a row).
pub fn decode_payload(json: &serde_json::Value) -> Option<Payload> {
    let bytes = hex::decode(json.get("pb")?.as_str()?).ok()?;
    Event::decode(bytes.as_slice()).ok()?.payload
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
        assert_eq!(stored["v"], 1);
        assert_eq!(decode_payload(&stored), Some(payload));
        assert_eq!(decode_payload(&serde_json::json!({"pb": "zz"})), None);
        assert_eq!(decode_payload(&serde_json::json!({"v": 1})), None);
    }
}
