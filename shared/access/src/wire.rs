//! Reads one field out of an encoded protobuf message without decoding the rest, so the
//! access check can see which merchant a request names before the RPC runs.
//!
//! It must agree with prost on what the RPC will see, or a request could show the check one
//! merchant and the RPC another. So it follows protobuf's rules for a singular field: the
//! last occurrence wins, and occurrences of an embedded message merge (a later one that
//! lacks the field keeps the earlier value). Wire types that prost would refuse for the
//! field are refused here too; anything this reader cannot follow (groups) is refused, never
//! skipped over.

/// Why a request could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("the message ends in the middle of a field")]
    Truncated,
    #[error("a varint is longer than 10 bytes")]
    VarintTooLong,
    #[error("field number {0} is out of range")]
    BadFieldNumber(u64),
    #[error("field {field} has wire type {wire_type}, which its type does not allow")]
    WrongWireType { field: u32, wire_type: u8 },
    #[error("wire type {0} (groups or unknown) is not accepted")]
    UnsupportedWireType(u8),
    #[error("field {0} is not valid UTF-8")]
    NotUtf8(u32),
}

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;
const MAX_FIELD: u64 = (1 << 29) - 1;

/// The value of the `string` field at `path` (field numbers from the outer message in),
/// or `None` when the message does not set it.
pub fn last_string<'a>(message: &'a [u8], path: &[u32]) -> Result<Option<&'a str>, WireError> {
    let Some(&leaf) = path.last() else {
        return Ok(None);
    };
    match last_value(message, path, LEN)? {
        None => Ok(None),
        Some(Value::Bytes(bytes)) => std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|_| WireError::NotUtf8(leaf)),
        Some(Value::Varint(_)) => Err(WireError::WrongWireType {
            field: leaf,
            wire_type: VARINT,
        }),
    }
}

/// The value of the `bool` field at `path`; `false` when the message does not set it.
pub fn last_bool(message: &[u8], path: &[u32]) -> Result<bool, WireError> {
    match last_value(message, path, VARINT)? {
        Some(Value::Varint(v)) => Ok(v != 0),
        _ => Ok(false),
    }
}

enum Value<'a> {
    Bytes(&'a [u8]),
    Varint(u64),
}

fn last_value<'a>(
    message: &'a [u8],
    path: &[u32],
    leaf_wire_type: u8,
) -> Result<Option<Value<'a>>, WireError> {
    let Some((&wanted, rest)) = path.split_first() else {
        return Ok(None);
    };
    let mut found = None;
    let mut reader = Reader(message);
    while let Some((field, wire_type)) = reader.tag()? {
        let value = reader.value(wire_type)?;
        if field != wanted {
            continue;
        }
        let expected = if rest.is_empty() { leaf_wire_type } else { LEN };
        if wire_type != expected {
            return Err(WireError::WrongWireType { field, wire_type });
        }
        if rest.is_empty() {
            found = Some(value);
        } else if let Value::Bytes(inner) = value {
            // An embedded message: a later occurrence without the field keeps the value.
            if let Some(value) = last_value(inner, rest, leaf_wire_type)? {
                found = Some(value);
            }
        }
    }
    Ok(found)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn tag(&mut self) -> Result<Option<(u32, u8)>, WireError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let field = tag >> 3;
        if field == 0 || field > MAX_FIELD {
            return Err(WireError::BadFieldNumber(field));
        }
        let wire_type = u8::try_from(tag & 7).unwrap_or(u8::MAX);
        Ok(Some((u32::try_from(field).unwrap_or(u32::MAX), wire_type)))
    }

    fn value(&mut self, wire_type: u8) -> Result<Value<'a>, WireError> {
        match wire_type {
            VARINT => self.varint().map(Value::Varint),
            FIXED64 => self.take(8).map(Value::Bytes),
            FIXED32 => self.take(4).map(Value::Bytes),
            LEN => {
                let len = usize::try_from(self.varint()?).map_err(|_| WireError::Truncated)?;
                self.take(len).map(Value::Bytes)
            }
            other => Err(WireError::UnsupportedWireType(other)),
        }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for (i, byte) in self.0.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                self.0 = &self.0[i + 1..];
                return Ok(value);
            }
        }
        if self.0.len() < 10 {
            Err(WireError::Truncated)
        } else {
            Err(WireError::VarintTooLong)
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        if len > self.0.len() {
            return Err(WireError::Truncated);
        }
        let (taken, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(taken)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message;

    use super::*;

    /// A stand-in for a request: `parent` at 1, a nested resource at 3 with its `name` at 1,
    /// `reveal_pii` at 4, and a repeated payload at 2 to skip over.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Request {
        #[prost(string, tag = "1")]
        parent: String,
        #[prost(bytes = "vec", repeated, tag = "2")]
        payload: Vec<Vec<u8>>,
        #[prost(message, optional, tag = "3")]
        resource: Option<Resource>,
        #[prost(bool, tag = "4")]
        reveal_pii: bool,
        #[prost(fixed64, tag = "5")]
        fixed: u64,
        #[prost(int64, tag = "6")]
        number: i64,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Resource {
        #[prost(string, tag = "1")]
        name: String,
        #[prost(string, tag = "2")]
        other: String,
    }

    fn encode(m: &Request) -> Vec<u8> {
        m.encode_to_vec()
    }

    #[test]
    fn reads_top_level_and_nested_strings_and_bools() {
        let request = Request {
            parent: "merchants/acme".into(),
            payload: vec![vec![1; 300], vec![]],
            resource: Some(Resource {
                name: "merchants/acme/customers/7".into(),
                other: "x".into(),
            }),
            reveal_pii: true,
            fixed: 9,
            number: -1,
        };
        let bytes = encode(&request);
        assert_eq!(last_string(&bytes, &[1]), Ok(Some("merchants/acme")));
        assert_eq!(
            last_string(&bytes, &[3, 1]),
            Ok(Some("merchants/acme/customers/7"))
        );
        assert_eq!(last_bool(&bytes, &[4]), Ok(true));
        assert_eq!(last_string(&[], &[1]), Ok(None));
        assert_eq!(last_bool(&[], &[4]), Ok(false));
    }

    #[test]
    fn the_last_occurrence_wins_as_in_prost() {
        // Two concatenated encodings are one valid message; prost keeps the later parent.
        let first = encode(&Request {
            parent: "merchants/beta".into(),
            ..Default::default()
        });
        let second = encode(&Request {
            parent: "merchants/acme".into(),
            ..Default::default()
        });
        let both = [first, second].concat();
        assert_eq!(
            Request::decode(both.as_slice()).expect("valid").parent,
            "merchants/acme"
        );
        assert_eq!(last_string(&both, &[1]), Ok(Some("merchants/acme")));
    }

    #[test]
    fn embedded_messages_merge_as_in_prost() {
        let with_name = encode(&Request {
            resource: Some(Resource {
                name: "merchants/acme/x/1".into(),
                other: String::new(),
            }),
            ..Default::default()
        });
        let without_name = encode(&Request {
            resource: Some(Resource {
                name: String::new(),
                other: "later".into(),
            }),
            ..Default::default()
        });
        let both = [with_name, without_name].concat();
        let decoded = Request::decode(both.as_slice()).expect("valid");
        assert_eq!(
            last_string(&both, &[3, 1]).map(|s| s.map(str::to_owned)),
            Ok(decoded.resource.map(|r| r.name))
        );
    }

    #[test]
    fn wrong_wire_types_and_broken_input_are_refused() {
        // field 1 as a varint
        assert_eq!(
            last_string(&[0x08, 0x01], &[1]),
            Err(WireError::WrongWireType {
                field: 1,
                wire_type: 0
            })
        );
        // a length running past the end
        assert_eq!(
            last_string(&[0x0a, 0x05, b'a'], &[1]),
            Err(WireError::Truncated)
        );
        // field number 0
        assert_eq!(
            last_string(&[0x02, 0x00], &[1]),
            Err(WireError::BadFieldNumber(0))
        );
        // a group (wire type 3)
        assert_eq!(
            last_string(&[0x0b, 0x0c], &[1]),
            Err(WireError::UnsupportedWireType(3))
        );
        // invalid UTF-8
        assert_eq!(
            last_string(&[0x0a, 0x01, 0xff], &[1]),
            Err(WireError::NotUtf8(1))
        );
        assert_eq!(
            last_string(&[0x80; 11], &[1]),
            Err(WireError::VarintTooLong)
        );
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        (
            ".{0,40}",
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..4),
            proptest::option::of((".{0,40}", ".{0,10}")),
            any::<bool>(),
            any::<u64>(),
            any::<i64>(),
        )
            .prop_map(
                |(parent, payload, resource, reveal_pii, fixed, number)| Request {
                    parent,
                    payload,
                    resource: resource.map(|(name, other)| Resource { name, other }),
                    reveal_pii,
                    fixed,
                    number,
                },
            )
    }

    proptest! {
        /// Whatever prost decodes from a concatenation of messages, the reader finds the same.
        #[test]
        fn agrees_with_prost(parts in proptest::collection::vec(arb_request(), 1..4)) {
            let bytes: Vec<u8> = parts.iter().flat_map(encode).collect();
            let decoded = Request::decode(bytes.as_slice()).expect("concatenation is valid");
            prop_assert_eq!(last_string(&bytes, &[1]).map(|s| s.unwrap_or_default().to_owned()), Ok(decoded.parent));
            let name = decoded.resource.map(|r| r.name).unwrap_or_default();
            prop_assert_eq!(last_string(&bytes, &[3, 1]).map(|s| s.unwrap_or_default().to_owned()), Ok(name));
            prop_assert_eq!(last_bool(&bytes, &[4]), Ok(decoded.reveal_pii));
        }

        /// Arbitrary bytes never panic; when the reader accepts them and prost also decodes
        /// them, both see the same parent.
        #[test]
        fn arbitrary_bytes_never_disagree_with_prost(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let read = last_string(&bytes, &[1]);
            if let (Ok(found), Ok(decoded)) = (read, Request::decode(bytes.as_slice())) {
                prop_assert_eq!(found.unwrap_or_default(), decoded.parent.as_str());
            }
        }
    }
}
