//! Requests the server cannot decode (invalid UTF-8 in a string field, a truncated message)
//! answer INVALID_ARGUMENT with a `google.rpc.BadRequest` naming the field, in a unary call
//! and in the middle of a stream, and store nothing; the process keeps serving.

use std::str::FromStr;

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use caravan_integration_tests::ingestion_env;
use caravan_integration_tests::raw_codec::RawCodec;
use caravan_integration_tests::{Channel, mysql::expect_counts};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use prost::Message as _;
use tonic::Code;
use tonic_types::StatusExt;

const M: &str = "merchants/acme";
/// Replaced, in the encoded message, by as many bytes that are not UTF-8.
const MARKER: &str = "MARKER-MARKER";

/// `message` encoded, with the bytes of [`MARKER`] replaced by 0xFF bytes.
fn with_invalid_utf8(message: &impl prost::Message) -> Result<Bytes> {
    let mut bytes = message.encode_to_vec();
    let at = bytes
        .windows(MARKER.len())
        .position(|w| w == MARKER.as_bytes())
        .context("marker not in the encoded message")?;
    bytes[at..at + MARKER.len()].fill(0xFF);
    Ok(Bytes::from(bytes))
}

fn customer_named(given_name: &str) -> pb::CreateCustomerRequest {
    pb::CreateCustomerRequest {
        parent: M.to_owned(),
        customer_id: "jane".to_owned(),
        customer: Some(pb::Customer {
            kind: common::CustomerKind::Person as i32,
            details: Some(pb::customer::Details::Person(pb::PersonDetails {
                given_name: given_name.to_owned(),
                country_code: "DE".to_owned(),
                ..Default::default()
            })),
            ..Default::default()
        }),
    }
}

fn page_view(event_id: &str, uri: &str) -> pb::Event {
    pb::Event {
        event_id: event_id.to_owned(),
        customer_identifiers: vec![common::CustomerIdentifier {
            kind: common::IdentifierKind::DeviceId as i32,
            value: "visitor-1".to_owned(),
            issuer: String::new(),
        }],
        occur_time: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        payload: Some(pb::event::Payload::PageView(pb::PageViewEvent {
            uri: uri.to_owned(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

async fn unary(channel: Channel, path: &str, request: Bytes) -> Result<tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await?;
    let path = http::uri::PathAndQuery::from_str(path)?;
    match grpc
        .unary(tonic::Request::new(request), path, RawCodec)
        .await
    {
        Ok(_) => anyhow::bail!("an undecodable request was answered"),
        Err(status) => Ok(status),
    }
}

fn violated_field(status: &tonic::Status) -> Option<String> {
    let details = status.get_error_details();
    Some(
        details
            .bad_request()?
            .field_violations
            .first()?
            .field
            .clone(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn undecodable_requests_are_invalid_arguments_naming_the_field() -> Result<()> {
    let Some(env) = ingestion_env::start(&[]).await? else {
        return Ok(());
    };
    let create = "/caravan.ingestion.v1.IngestionService/CreateCustomer";

    // Unary: invalid UTF-8 in a nested string field.
    let status = unary(
        env.server.channel().await?,
        create,
        with_invalid_utf8(&customer_named(MARKER))?,
    )
    .await?;
    ensure!(status.code() == Code::InvalidArgument, "{status:?}");
    let field = violated_field(&status).context("no field violation")?;
    ensure!(field.ends_with("given_name"), "{field} in {status:?}");
    ensure!(status.message().contains("UTF-8"), "{status:?}");

    // Unary: a message cut in the middle of a field.
    let mut truncated = customer_named("Jane").encode_to_vec();
    truncated.truncate(truncated.len() - 3);
    let status = unary(env.server.channel().await?, create, Bytes::from(truncated)).await?;
    ensure!(status.code() == Code::InvalidArgument, "{status:?}");

    // A stream whose second message is undecodable ends with INVALID_ARGUMENT.
    let first = pb::IngestEventsRequest {
        parent: M.to_owned(),
        events: vec![page_view("e1", "https://shop.example/")],
        validate_only: false,
    };
    let second = pb::IngestEventsRequest {
        parent: M.to_owned(),
        events: vec![page_view("e2", &format!("https://shop.example/{MARKER}"))],
        validate_only: false,
    };
    let messages = [
        Bytes::from(first.encode_to_vec()),
        with_invalid_utf8(&second)?,
    ];
    let mut grpc = tonic::client::Grpc::new(env.server.channel().await?);
    grpc.ready().await?;
    let path =
        http::uri::PathAndQuery::from_str("/caravan.ingestion.v1.IngestionService/IngestEvents")?;
    let status = match grpc
        .streaming(
            tonic::Request::new(futures::stream::iter(messages)),
            path,
            RawCodec,
        )
        .await
    {
        Err(status) => status,
        Ok(response) => {
            let mut responses = response.into_inner();
            loop {
                match responses.message().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => anyhow::bail!("the stream ended without an error"),
                    Err(status) => break status,
                }
            }
        }
    };
    ensure!(status.code() == Code::InvalidArgument, "{status:?}");
    let field = violated_field(&status).context("no field violation")?;
    ensure!(field.ends_with("uri"), "{field} in {status:?}");

    // Nothing of the undecodable requests was stored; the server still serves.
    let store = caravan_store::connect(&env.db.url, 1).await?;
    expect_counts(
        &store,
        &[(
            "SELECT COUNT(*) FROM events WHERE merchant_id = 'acme' AND event_id = 'e2'",
            0,
        )],
    )
    .await?;
    store.close().await?;
    // The customer the undecodable call named was not created by it: creating it now works.
    let mut client = env.client.clone();
    client.create_customer(customer_named("Jane")).await?;
    Ok(())
}
