//! A gRPC codec that sends request bytes as they are and hands back response bytes: for
//! calls with messages a generated client cannot build (undecodable, hand-encoded).

use std::str::FromStr;

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::Channel;

/// Sends encoded messages as they are and takes responses as bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = tonic::Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, tonic::Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Whether each side of an RPC streams.
#[derive(Clone, Copy, Debug, Default)]
pub struct CallShape {
    pub client_streaming: bool,
    pub server_streaming: bool,
}

/// Calls `path` with one encoded request message, whatever the RPC's shape; the first
/// response message (empty for a stream that ends at once) or the status it failed with.
pub async fn call_raw(
    channel: Channel,
    path: &str,
    shape: CallShape,
    request: Bytes,
) -> Result<Option<Bytes>, tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::from_error(e.into()))?;
    let path = http::uri::PathAndQuery::from_str(path)
        .map_err(|e| tonic::Status::internal(format!("bad path {path}: {e}")))?;
    match (shape.client_streaming, shape.server_streaming) {
        (false, false) => grpc
            .unary(tonic::Request::new(request), path, RawCodec)
            .await
            .map(|r| Some(r.into_inner())),
        (true, false) => grpc
            .client_streaming(
                tonic::Request::new(futures::stream::iter([request])),
                path,
                RawCodec,
            )
            .await
            .map(|r| Some(r.into_inner())),
        (false, true) => {
            let response = grpc
                .server_streaming(tonic::Request::new(request), path, RawCodec)
                .await?;
            response.into_inner().message().await
        }
        (true, true) => {
            let response = grpc
                .streaming(
                    tonic::Request::new(futures::stream::iter([request])),
                    path,
                    RawCodec,
                )
                .await?;
            response.into_inner().message().await
        }
    }
}
