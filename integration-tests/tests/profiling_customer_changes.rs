//! Every change to a customer's own record reaches the portrait without a rebuild: creating
//! and updating a customer (details) and creating, updating and deleting an enterprise's
//! contacts write an outbox entry in the same transaction, and the consumer rebuilds the
//! portrait from it, on `caravan serve` (SQLite) and on MariaDB.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use caravan_integration_tests::customer_fixture::{self, Backend, Suite};
use caravan_integration_tests::{Channel, ServerProcess};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_proto::caravan::profiling::v1 as prof;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;

const MERCHANT: &str = "merchants/acme";

/// Waits until the portrait of `customer` satisfies `wanted` (the consumer runs in the
/// background; no rebuild is asked for).
async fn portrait_until(
    profiling: &mut ProfilingServiceClient<Channel>,
    customer: &str,
    what: &str,
    wanted: impl Fn(&prof::Profile) -> bool,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = None;
    loop {
        if let Ok(profile) = profiling
            .get_profile(prof::GetProfileRequest {
                name: format!("{MERCHANT}/customers/{customer}/profile"),
                view: prof::ProfileView::Full as i32,
                reveal_pii: false,
            })
            .await
        {
            let profile = profile.into_inner();
            if wanted(&profile) {
                return Ok(());
            }
            last = Some(profile);
        }
        if Instant::now() > deadline {
            bail!("the portrait of {customer} never showed {what}; last: {last:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn city(p: &prof::Profile) -> &str {
    match &p.basic {
        Some(prof::profile::Basic::Person(person)) => &person.city,
        _ => "",
    }
}

fn contact_count(p: &prof::Profile) -> i64 {
    p.contacts.as_ref().map_or(0, |c| c.contact_count)
}

fn person(city: &str) -> pb::Customer {
    pb::Customer {
        name: format!("{MERCHANT}/customers/ada"),
        kind: common::CustomerKind::Person as i32,
        details: Some(pb::customer::Details::Person(pb::PersonDetails {
            given_name: "Ada".to_owned(),
            country_code: "DE".to_owned(),
            city: city.to_owned(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

async fn changes_reach_the_portrait(server: &ServerProcess) -> Result<()> {
    let mut ingestion = IngestionServiceClient::new(server.channel().await?);
    let mut profiling = ProfilingServiceClient::new(server.channel().await?);
    customer_fixture::create_merchant(&mut ingestion, "acme").await?;
    ingestion
        .create_customer(pb::CreateCustomerRequest {
            parent: MERCHANT.to_owned(),
            customer_id: "ada".to_owned(),
            customer: Some(person("Berlin")),
        })
        .await?;
    portrait_until(&mut profiling, "ada", "city Berlin", |p| {
        city(p) == "Berlin"
    })
    .await?;
    ingestion
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(person("Munich")),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["person.city".to_owned()],
            }),
            allow_missing: false,
        })
        .await?;
    portrait_until(&mut profiling, "ada", "city Munich", |p| {
        city(p) == "Munich"
    })
    .await?;

    ingestion
        .create_customer(pb::CreateCustomerRequest {
            parent: MERCHANT.to_owned(),
            customer_id: "globex".to_owned(),
            customer: Some(pb::Customer {
                kind: common::CustomerKind::Enterprise as i32,
                details: Some(pb::customer::Details::Enterprise(pb::EnterpriseDetails {
                    company_name: "Globex".to_owned(),
                    country_code: "DE".to_owned(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        })
        .await?;
    let contact = ingestion
        .create_contact(pb::CreateContactRequest {
            parent: format!("{MERCHANT}/customers/globex"),
            contact_id: "hank".to_owned(),
            contact: Some(pb::Contact {
                display_name: "Hank Scorpio".to_owned(),
                decision_maker: true,
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    portrait_until(&mut profiling, "globex", "one contact", |p| {
        contact_count(p) == 1
    })
    .await?;
    ingestion
        .delete_contact(pb::DeleteContactRequest { name: contact.name })
        .await?;
    portrait_until(&mut profiling, "globex", "no contact", |p| {
        contact_count(p) == 0
    })
    .await
}

async fn on(backend: Backend) -> Result<()> {
    match Suite::start(backend).await? {
        Some(suite) => changes_reach_the_portrait(&suite.server).await,
        None => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn customer_and_contact_changes_reach_the_portrait_on_sqlite() -> Result<()> {
    on(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn customer_and_contact_changes_reach_the_portrait_on_mariadb() -> Result<()> {
    on(Backend::MariaDb).await
}
