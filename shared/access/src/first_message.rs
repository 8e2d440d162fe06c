//! Reads the first gRPC message of a request body, then hands the whole body on unchanged.
//!
//! The access check must see the merchant a request names before the RPC runs. For unary
//! calls the first message is the request; for client streams the RPC itself refuses later
//! messages that name another merchant.

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use http_body::Frame;
use http_body_util::{BodyExt as _, BodyStream, StreamBody};
use tonic::body::Body;

use crate::error::AccessError;

/// gRPC frames start with a compression flag and a 4-byte big-endian length.
const HEADER_LEN: usize = 5;

/// The body to hand on and, when the body held one, its first message.
pub struct Peeked {
    pub body: Body,
    pub message: Option<Bytes>,
}

/// Reads until the first message is complete (or the body ends).
pub async fn peek_first_message(mut body: Body, limit: usize) -> Result<Peeked, AccessError> {
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut buffered = 0usize;
    let mut trailers = None;
    let mut ended = false;
    loop {
        if let Some(len) = message_len(&chunks, buffered, limit)?
            && buffered >= HEADER_LEN + len
        {
            break;
        }
        match body.frame().await {
            None => {
                ended = true;
                break;
            }
            Some(Err(status)) => return Err(AccessError::Body(status)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) => {
                    buffered += data.len();
                    chunks.push(data);
                }
                Err(frame) => {
                    trailers = frame.into_trailers().ok();
                    ended = true;
                    break;
                }
            },
        }
    }
    let head = contiguous(chunks);
    let message = match message_len(std::slice::from_ref(&head), head.len(), limit)? {
        Some(len) if head.len() >= HEADER_LEN + len => {
            Some(head.slice(HEADER_LEN..HEADER_LEN + len))
        }
        _ => None,
    };
    let mut replay = vec![Ok(Frame::data(head))];
    if let Some(trailers) = trailers {
        replay.push(Ok(Frame::trailers(trailers)));
    }
    let replay = futures::stream::iter(replay);
    let body = if ended {
        Body::new(StreamBody::new(replay))
    } else {
        Body::new(StreamBody::new(replay.chain(BodyStream::new(body))))
    };
    Ok(Peeked { body, message })
}

/// The first message's length, once its header has arrived.
fn message_len(
    chunks: &[Bytes],
    buffered: usize,
    limit: usize,
) -> Result<Option<usize>, AccessError> {
    if buffered < HEADER_LEN {
        return Ok(None);
    }
    let mut header = [0u8; HEADER_LEN];
    let mut filled = 0;
    for chunk in chunks {
        let take = (HEADER_LEN - filled).min(chunk.len());
        header[filled..filled + take].copy_from_slice(&chunk[..take]);
        filled += take;
        if filled == HEADER_LEN {
            break;
        }
    }
    match header[0] {
        0 => {}
        1 => return Err(AccessError::Compressed),
        flag => {
            return Err(AccessError::field(
                "",
                format!("the request is not a gRPC message (frame flag {flag})"),
            ));
        }
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > limit {
        return Err(AccessError::TooLarge { len, limit });
    }
    Ok(Some(len))
}

/// One buffer; no copy when the body arrived in one chunk (the usual case).
fn contiguous(mut chunks: Vec<Bytes>) -> Bytes {
    if chunks.len() == 1 {
        return chunks.pop().unwrap_or_default();
    }
    let mut all = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
    for chunk in chunks {
        all.extend_from_slice(&chunk);
    }
    all.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(message: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&(message.len() as u32).to_be_bytes());
        out.extend_from_slice(message);
        out
    }

    fn body_of(chunks: Vec<Vec<u8>>) -> Body {
        let frames = chunks
            .into_iter()
            .map(|c| Ok::<_, tonic::Status>(Frame::data(Bytes::from(c))));
        Body::new(StreamBody::new(futures::stream::iter(
            frames.collect::<Vec<_>>(),
        )))
    }

    async fn collect(body: Body) -> Vec<u8> {
        body.collect().await.expect("body").to_bytes().to_vec()
    }

    #[tokio::test]
    async fn finds_the_first_message_across_chunks_and_replays_everything() {
        let first = frame(b"hello");
        let second = frame(b"world");
        let all: Vec<u8> = [first.clone(), second.clone()].concat();
        // Split in awkward places: inside the header, inside the message, across messages.
        let chunks = vec![all[..2].to_vec(), all[2..7].to_vec(), all[7..].to_vec()];
        let peeked = peek_first_message(body_of(chunks), 1024)
            .await
            .expect("peeked");
        assert_eq!(peeked.message.as_deref(), Some(&b"hello"[..]));
        assert_eq!(collect(peeked.body).await, all);
    }

    #[tokio::test]
    async fn an_empty_body_has_no_message() {
        let peeked = peek_first_message(body_of(vec![]), 1024)
            .await
            .expect("peeked");
        assert!(peeked.message.is_none());
        let truncated = peek_first_message(body_of(vec![frame(b"abc")[..6].to_vec()]), 1024)
            .await
            .expect("peeked");
        assert!(truncated.message.is_none());
    }

    #[tokio::test]
    async fn compressed_oversized_and_foreign_frames_are_refused() {
        let mut compressed = frame(b"x");
        compressed[0] = 1;
        assert!(matches!(
            peek_first_message(body_of(vec![compressed]), 1024).await,
            Err(AccessError::Compressed)
        ));
        assert!(matches!(
            peek_first_message(body_of(vec![frame(&[0; 100])]), 10).await,
            Err(AccessError::TooLarge {
                len: 100,
                limit: 10
            })
        ));
        let mut foreign = frame(b"x");
        foreign[0] = b'G';
        assert!(matches!(
            peek_first_message(body_of(vec![foreign]), 1024).await,
            Err(AccessError::InvalidRequest(_))
        ));
    }
}
