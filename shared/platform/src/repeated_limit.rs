//! Limits on a repeated field enforced before the message is decoded: a batch of 100,000
//! events under the byte limits would otherwise be decoded whole (seconds of CPU and a
//! hundred megabytes) only to be refused for its size. The request body is scanned as it
//! arrives, without copying it: gRPC frames, and in each message the top-level protobuf
//! fields, counting the occurrences of the limited field. One too many fails the call with
//! the same `INVALID_ARGUMENT` the service would give after decoding.
//!
//! [`MiddlewareLayer`]: crate::middleware::MiddlewareLayer

use std::sync::Arc;

use bytes::{Buf, Bytes};
use http_body::Frame;
use tonic::Status;
use tonic::body::Body;

use crate::middleware::{Answer, FrameWatcher, Inner, Middleware, Watched};
use crate::status::{FieldViolations, invalid_argument};

/// At most `max` occurrences of top-level field `number` (`name` in error messages) in each
/// request message of the RPC at `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedFieldLimit {
    pub path: String,
    pub number: u32,
    pub name: &'static str,
    pub max: usize,
    /// Says where the limit is configured, for the error message.
    pub setting: &'static str,
}

/// Enforces the limits on the routes they name ([`MiddlewareLayer`]`(RepeatedLimits::new(..))`).
#[derive(Clone, Default)]
pub struct RepeatedLimits(Arc<Vec<RepeatedFieldLimit>>);

impl RepeatedLimits {
    pub fn new(limits: Vec<RepeatedFieldLimit>) -> Self {
        Self(Arc::new(limits))
    }
}

impl Middleware for RepeatedLimits {
    fn call<S: Inner>(&self, request: http::Request<Body>, mut inner: S) -> Answer<S> {
        let limit = self
            .0
            .iter()
            .find(|l| l.path == request.uri().path())
            .cloned();
        let request = match limit {
            Some(limit) => request.map(|body| Watched::body(body, Scanner::new(limit))),
            None => request,
        };
        Box::pin(inner.call(request))
    }
}

impl FrameWatcher for Scanner {
    fn frame(&mut self, frame: &mut Frame<Bytes>) -> Result<(), Status> {
        match frame.data_ref() {
            Some(data) => self.feed(data.chunk()),
            None => Ok(()),
        }
    }
}

/// Where the scanner is in the byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the 5-byte gRPC frame header (`have` bytes of it so far).
    FrameHeader { have: usize },
    /// Inside a message, `left` bytes to go, at the start of a field's tag.
    Tag { left: u64, value: u64, shift: u32 },
    /// Skipping a varint field's value.
    Varint { left: u64 },
    /// Reading a length prefix (of field `field`).
    Length {
        left: u64,
        field: u32,
        value: u64,
        shift: u32,
    },
    /// Skipping `skip` bytes of a field's value.
    Skip { left: u64, skip: u64 },
    /// A compressed message, or input the scanner cannot follow: the decoder decides.
    Done,
}

/// Counts occurrences of one top-level field in each message of a gRPC request stream.
struct Scanner {
    limit: RepeatedFieldLimit,
    state: State,
    header: [u8; 5],
    count: usize,
}

impl Scanner {
    fn new(limit: RepeatedFieldLimit) -> Self {
        Self {
            limit,
            state: State::FrameHeader { have: 0 },
            header: [0; 5],
            count: 0,
        }
    }

    fn refuse(&self) -> Status {
        let mut v = FieldViolations::new();
        v.add(
            self.limit.name,
            format!(
                "more than {} {} in one message; at most {} ({}) are accepted",
                self.limit.max, self.limit.name, self.limit.max, self.limit.setting
            ),
        );
        invalid_argument(&v)
    }

    /// Scans the next bytes of the body.
    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), Status> {
        while !bytes.is_empty() {
            let (used, state) = self.step(bytes)?;
            self.state = state;
            bytes = &bytes[used..];
            if state == State::Done {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The state after the message's end or the next field, whichever `left` says.
    fn next_field(left: u64) -> State {
        if left == 0 {
            State::FrameHeader { have: 0 }
        } else {
            State::Tag {
                left,
                value: 0,
                shift: 0,
            }
        }
    }

    /// Consumes some of `bytes`; returns how many and the next state.
    fn step(&mut self, bytes: &[u8]) -> Result<(usize, State), Status> {
        Ok(match self.state {
            State::Done => (bytes.len(), State::Done),
            State::FrameHeader { have } => {
                let take = (5 - have).min(bytes.len());
                self.header[have..have + take].copy_from_slice(&bytes[..take]);
                if have + take < 5 {
                    return Ok((take, State::FrameHeader { have: have + take }));
                }
                self.count = 0;
                let len = u64::from(u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]));
                if self.header[0] != 0 {
                    return Ok((take, State::Done));
                }
                (take, Self::next_field(len))
            }
            State::Tag { left, value, shift } => {
                let byte = bytes[0];
                let value = value | (u64::from(byte & 0x7f) << shift.min(63));
                let left = left.saturating_sub(1);
                if byte & 0x80 != 0 {
                    if shift > 63 {
                        return Ok((1, State::Done));
                    }
                    return Ok((
                        1,
                        State::Tag {
                            left,
                            value,
                            shift: shift + 7,
                        },
                    ));
                }
                let field = u32::try_from(value >> 3).unwrap_or(u32::MAX);
                let next = match value & 7 {
                    0 => State::Varint { left },
                    1 => State::Skip { left, skip: 8 },
                    2 => State::Length {
                        left,
                        field,
                        value: 0,
                        shift: 0,
                    },
                    5 => State::Skip { left, skip: 4 },
                    // Groups (deprecated) and invalid wire types: the decoder will say.
                    _ => State::Done,
                };
                (1, next)
            }
            State::Varint { left } => {
                let left = left.saturating_sub(1);
                if bytes[0] & 0x80 != 0 {
                    (1, State::Varint { left })
                } else {
                    (1, Self::next_field(left))
                }
            }
            State::Length {
                left,
                field,
                value,
                shift,
            } => {
                let byte = bytes[0];
                let value = value | (u64::from(byte & 0x7f) << shift.min(63));
                let left = left.saturating_sub(1);
                if byte & 0x80 != 0 {
                    if shift > 63 {
                        return Ok((1, State::Done));
                    }
                    let next = State::Length {
                        left,
                        field,
                        value,
                        shift: shift + 7,
                    };
                    return Ok((1, next));
                }
                if field == self.limit.number {
                    self.count += 1;
                    if self.count > self.limit.max {
                        return Err(self.refuse());
                    }
                }
                if value > left {
                    // Longer than its message: malformed, the decoder will say so.
                    return Ok((1, State::Done));
                }
                (1, State::Skip { left, skip: value })
            }
            State::Skip { left, skip } => {
                if skip == 0 {
                    return Ok((0, Self::next_field(left)));
                }
                let take = u64::try_from(bytes.len()).unwrap_or(u64::MAX).min(skip);
                let used = usize::try_from(take).unwrap_or(bytes.len());
                let (left, skip) = (left.saturating_sub(take), skip - take);
                let next = if skip == 0 {
                    Self::next_field(left)
                } else {
                    State::Skip { left, skip }
                };
                (used, next)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::Message;
    use tonic::Code;

    use super::*;

    /// A stand-in for a batch request: field 1 a string, 2 the repeated messages, 3 a bool.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Batch {
        #[prost(string, tag = "1")]
        parent: String,
        #[prost(message, repeated, tag = "2")]
        events: Vec<Item>,
        #[prost(bool, tag = "3")]
        validate_only: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    struct Item {
        #[prost(string, tag = "1")]
        id: String,
        #[prost(fixed64, tag = "2")]
        at: u64,
        #[prost(int64, tag = "3")]
        amount: i64,
    }

    fn limit(max: usize) -> RepeatedFieldLimit {
        RepeatedFieldLimit {
            path: "/x.S/Batch".to_owned(),
            number: 2,
            name: "events",
            max,
            setting: "test.max",
        }
    }

    fn batch(n: usize) -> Batch {
        Batch {
            parent: "merchants/acme".to_owned(),
            events: (0..n)
                .map(|i| Item {
                    id: format!("e-{i}"),
                    at: 1_700_000_000,
                    amount: -(i as i64) * 1_000_000_007,
                })
                .collect(),
            validate_only: true,
        }
    }

    /// Messages framed as gRPC sends them.
    fn framed(messages: &[Batch]) -> Vec<u8> {
        let mut out = Vec::new();
        for m in messages {
            let bytes = m.encode_to_vec();
            out.push(0);
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(&bytes);
        }
        out
    }

    fn scan(bytes: &[u8], chunk: usize, max: usize) -> Result<(), Status> {
        let mut s = Scanner::new(limit(max));
        for piece in bytes.chunks(chunk.max(1)) {
            s.feed(piece)?;
        }
        Ok(())
    }

    #[test]
    fn one_too_many_is_refused_naming_the_field_whatever_the_chunking() {
        let body = framed(&[batch(3), batch(5)]);
        for chunk in [1, 2, 3, 7, 64, body.len()] {
            assert!(scan(&body, chunk, 5).is_ok(), "chunk {chunk}");
            let err = scan(&body, chunk, 4).expect_err("5 > 4");
            assert_eq!(err.code(), Code::InvalidArgument);
            assert!(
                err.message().contains("events: more than 4 events"),
                "{err:?}"
            );
        }
    }

    #[test]
    fn each_message_of_a_stream_is_counted_on_its_own() {
        let body = framed(&[batch(4), batch(4), batch(4)]);
        assert!(scan(&body, 5, 4).is_ok());
    }

    proptest! {
        /// The count agrees with decoding for any batch and chunking, and arbitrary bytes
        /// never panic the scanner.
        #[test]
        fn counts_agree_with_decoding(n in 0usize..40, max in 0usize..40, chunk in 1usize..50) {
            let body = framed(&[batch(n)]);
            prop_assert_eq!(scan(&body, chunk, max).is_ok(), n <= max);
        }

        #[test]
        fn any_bytes_are_answered(bytes in proptest::collection::vec(any::<u8>(), 0..512), chunk in 1usize..32) {
            let _ = scan(&bytes, chunk, 3);
        }
    }
}
