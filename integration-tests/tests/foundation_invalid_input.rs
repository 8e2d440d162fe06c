//! Invalid input to an implemented RPC gets INVALID_ARGUMENT with google.rpc.BadRequest field
//! violations, and never changes what was stored.

use anyhow::{Context, Result, ensure};
use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::violated_fields;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use tonic::Code;

#[tokio::test(flavor = "multi_thread")]
async fn invalid_merchants_are_rejected_field_by_field_and_store_nothing() -> Result<()> {
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start("caravan", &["serve"], &[], workdir.path())?;
    let mut client = IngestionServiceClient::new(server.channel().await?);

    let bad = client
        .create_merchant(pb::CreateMerchantRequest {
            merchant_id: "Bad Id".to_owned(),
            merchant: Some(pb::Merchant {
                display_name: String::new(),
                base_currency_code: "EURO".to_owned(),
                ..Default::default()
            }),
        })
        .await
        .expect_err("invalid merchant");
    ensure!(bad.code() == Code::InvalidArgument, "{bad:?}");
    ensure!(
        violated_fields(&bad)
            == [
                "merchant_id",
                "merchant.display_name",
                "merchant.base_currency_code"
            ],
        "{:?}",
        violated_fields(&bad)
    );

    let good = client
        .create_merchant(pb::CreateMerchantRequest {
            merchant_id: "acme".to_owned(),
            merchant: Some(pb::Merchant {
                display_name: "ACME".to_owned(),
                base_currency_code: "EUR".to_owned(),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();

    let bad_update = client
        .update_merchant(pb::UpdateMerchantRequest {
            merchant: Some(pb::Merchant {
                name: "merchants/acme".to_owned(),
                display_name: " ".to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["display_name".to_owned()],
            }),
        })
        .await
        .expect_err("blank display name");
    ensure!(bad_update.code() == Code::InvalidArgument);
    ensure!(violated_fields(&bad_update) == ["merchant.display_name"]);

    let immutable = client
        .update_merchant(pb::UpdateMerchantRequest {
            merchant: Some(pb::Merchant {
                name: "merchants/acme".to_owned(),
                base_currency_code: "USD".to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["base_currency_code".to_owned()],
            }),
        })
        .await
        .expect_err("base currency is immutable");
    ensure!(violated_fields(&immutable) == ["update_mask"]);

    let unknown_zone = client
        .update_merchant(pb::UpdateMerchantRequest {
            merchant: Some(pb::Merchant {
                name: "merchants/acme".to_owned(),
                time_zone: "Europe/Atlantis".to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["time_zone".to_owned()],
            }),
        })
        .await
        .expect_err("not an IANA zone");
    ensure!(violated_fields(&unknown_zone) == ["merchant.time_zone"]);

    let stored = client
        .get_merchant(pb::GetMerchantRequest {
            name: "merchants/acme".to_owned(),
        })
        .await?
        .into_inner();
    ensure!(stored == good, "a rejected update changed the merchant");
    ensure!(stored.time_zone == "UTC", "{stored:?}");
    let zoned = client
        .update_merchant(pb::UpdateMerchantRequest {
            merchant: Some(pb::Merchant {
                name: "merchants/acme".to_owned(),
                time_zone: "America/Los_Angeles".to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["time_zone".to_owned()],
            }),
        })
        .await?
        .into_inner();
    ensure!(
        zoned.time_zone == "America/Los_Angeles" && zoned.display_name == good.display_name,
        "{zoned:?}"
    );

    let malformed = client
        .get_merchant(pb::GetMerchantRequest {
            name: "customers/acme".to_owned(),
        })
        .await
        .expect_err("malformed name");
    ensure!(violated_fields(&malformed) == ["name"]);

    let page = client
        .list_merchants(pb::ListMerchantsRequest {
            page_size: -1,
            page_token: String::new(),
        })
        .await
        .expect_err("negative page size");
    ensure!(violated_fields(&page) == ["page_size"]);
    let token = client
        .list_merchants(pb::ListMerchantsRequest {
            page_size: 10,
            page_token: "forged".to_owned(),
        })
        .await
        .expect_err("forged token");
    ensure!(violated_fields(&token) == ["page_token"]);

    // The same contract holds across services: profiling names the malformed field too.
    let profile = caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient::new(server.channel().await?)
        .get_profile(caravan_proto::caravan::profiling::v1::GetProfileRequest::default())
        .await
        .expect_err("empty profile name");
    ensure!(profile.code() == Code::InvalidArgument, "{profile:?}");
    ensure!(violated_fields(&profile) == ["name"]);
    drop(server);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn merchants_page_through_with_tokens() -> Result<()> {
    let workdir = tempfile::tempdir()?;
    let server = ServerProcess::start("caravan", &["serve"], &[], workdir.path())?;
    let mut client = IngestionServiceClient::new(server.channel().await?);
    for id in ["m-003", "m-001", "m-002", "m-005", "m-004"] {
        client
            .create_merchant(pb::CreateMerchantRequest {
                merchant_id: id.to_owned(),
                merchant: Some(pb::Merchant {
                    display_name: id.to_uppercase(),
                    base_currency_code: "GBP".to_owned(),
                    ..Default::default()
                }),
            })
            .await
            .with_context(|| format!("create {id}"))?;
    }
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_merchants(pb::ListMerchantsRequest {
                page_size: 2,
                page_token: token.clone(),
            })
            .await?
            .into_inner();
        ensure!(page.merchants.len() <= 2);
        seen.extend(page.merchants.into_iter().map(|m| m.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    ensure!(
        seen == [
            "merchants/m-001",
            "merchants/m-002",
            "merchants/m-003",
            "merchants/m-004",
            "merchants/m-005"
        ],
        "{seen:?}"
    );
    Ok(())
}
