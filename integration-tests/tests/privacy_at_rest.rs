//! Personal data at rest: after a customer with names, e-mails, phones, a B2B contact,
//! reviews, searches, inquiries and a tag note has gone through every service, no row of any
//! table (read raw, from the catalogue) holds any of it in clear; the API still returns it
//! to those allowed to see it. And keys rotate: `caravan privacy reseal` moves everything to
//! a new key, after which the old one can go.

use anyhow::{Context, Result, ensure};
use caravan_integration_tests::customer_fixture::{
    Backend, Suite, create_merchant, create_products, customer_name, ingest_all, ts,
    wait_for_profile,
};
use caravan_integration_tests::{ServerProcess, store_scan};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::ingestion::v1::event::Payload;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use caravan_proto::caravan::profiling::v1 as prof;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;

const GIVEN: &str = "Wilhelmina";
const FAMILY: &str = "Quackenbush";
const EMAIL: &str = "wilhelmina.q@example.org";
const PHONE: &str = "+4915123456789";
const CONTACT: &str = "Bartholomew Zylinski";
const CONTACT_EMAIL: &str = "bart.zylinski@example.net";
const CONTACT_PHONE: &str = "+33612345678";
const REVIEW: &str = "Wilhelmina here: the lantern glows beautifully";
const SEARCH: &str = "quackenbush birthday lantern";
const NOTE: &str = "call Wilhelmina after six";

fn event(id: &str, customer: &str, at: i64, payload: Payload) -> ing::Event {
    ing::Event {
        event_id: id.to_owned(),
        customer: customer.to_owned(),
        occur_time: ts(at),
        payload: Some(payload),
        ..Default::default()
    }
}

/// Ingests the customers and their texts, waits for the profile; returns the person's name.
async fn populate(suite: &Suite) -> Result<String> {
    let mut ingestion = suite.ingestion();
    create_merchant(&mut ingestion, "acme").await?;
    create_products(&mut ingestion, "acme", &[("P01", "Home")]).await?;
    let person = ingestion
        .create_customer(ing::CreateCustomerRequest {
            parent: "merchants/acme".into(),
            customer_id: "p-1".into(),
            customer: Some(ing::Customer {
                kind: common::CustomerKind::Person as i32,
                details: Some(ing::customer::Details::Person(ing::PersonDetails {
                    given_name: GIVEN.into(),
                    family_name: FAMILY.into(),
                    email: EMAIL.into(),
                    phone: PHONE.into(),
                    country_code: "DE".into(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    ingestion
        .create_customer(ing::CreateCustomerRequest {
            parent: "merchants/acme".into(),
            customer_id: "e-1".into(),
            customer: Some(ing::Customer {
                kind: common::CustomerKind::Enterprise as i32,
                details: Some(ing::customer::Details::Enterprise(ing::EnterpriseDetails {
                    company_name: "Globex".into(),
                    country_code: "FR".into(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        })
        .await?;
    ingestion
        .create_contact(ing::CreateContactRequest {
            parent: "merchants/acme/customers/e-1".into(),
            contact_id: "buyer".into(),
            contact: Some(ing::Contact {
                display_name: CONTACT.into(),
                email: CONTACT_EMAIL.into(),
                phone: CONTACT_PHONE.into(),
                decision_maker: true,
                ..Default::default()
            }),
        })
        .await?;
    let t = chrono::Utc::now().timestamp() - 3_600;
    let p = &person.name;
    ingest_all(
        &mut ingestion,
        "acme",
        vec![
            event(
                "s-1",
                p,
                t,
                Payload::Search(ing::SearchEvent {
                    query: SEARCH.into(),
                    results_count: 1,
                    ..Default::default()
                }),
            ),
            event(
                "r-1",
                p,
                t + 60,
                Payload::Review(ing::ReviewEvent {
                    product: "P01".into(),
                    rating: 5,
                    text: REVIEW.into(),
                    language_code: "en".into(),
                    ..Default::default()
                }),
            ),
            event(
                "i-1",
                p,
                t + 120,
                Payload::Inquiry(ing::InquiryEvent {
                    inquiry_id: "inq-1".into(),
                    product: "P01".into(),
                    message: format!("please write to {EMAIL}"),
                    channel: common::ContactChannel::Email as i32,
                    ..Default::default()
                }),
            ),
        ],
    )
    .await?;
    suite
        .profiling()
        .create_tag(prof::CreateTagRequest {
            parent: p.clone(),
            tag: Some(prof::Tag {
                key: "follow-up".into(),
                value: "phone".into(),
                note: NOTE.into(),
                ..Default::default()
            }),
            actor: "support".into(),
        })
        .await?;
    wait_for_profile(
        &mut suite.profiling(),
        p,
        "built with the search",
        |profile| format!("{profile:?}").contains(SEARCH),
    )
    .await?;
    Ok(p.clone())
}

const SECRETS: [&str; 10] = [
    GIVEN,
    FAMILY,
    EMAIL,
    PHONE,
    CONTACT,
    CONTACT_EMAIL,
    CONTACT_PHONE,
    REVIEW,
    SEARCH,
    NOTE,
];

async fn nothing_in_clear(suite: &Suite) -> Result<()> {
    let dump = store_scan::dump(&suite.store().await?).await?;
    let mut found = Vec::new();
    for secret in SECRETS {
        // Also lower case: profiles keep search queries lower-cased, e-mails are normalised.
        for needle in [secret.to_owned(), secret.to_lowercase()] {
            let tables = store_scan::rows_containing(&dump, needle.as_bytes());
            if !tables.is_empty() {
                found.push(format!("{needle:?} in {tables:?}"));
            }
        }
    }
    ensure!(
        found.is_empty(),
        "personal data in clear at rest:\n{}",
        found.join("\n")
    );
    eprintln!(
        "{} tables scanned, none holds any of {} personal values in clear",
        dump.len(),
        SECRETS.len()
    );
    Ok(())
}

async fn readable_by_the_allowed(suite: &Suite, person: &str) -> Result<()> {
    let mut ingestion = suite.ingestion();
    let customer = ingestion
        .get_customer(ing::GetCustomerRequest {
            name: person.into(),
            reveal_pii: true,
        })
        .await?
        .into_inner();
    let shown = format!("{customer:?}");
    ensure!(
        shown.contains(EMAIL) && shown.contains(PHONE) && shown.contains(FAMILY),
        "{shown}"
    );
    let contact = ingestion
        .get_contact(ing::GetContactRequest {
            name: "merchants/acme/customers/e-1/contacts/buyer".into(),
            reveal_pii: true,
        })
        .await?
        .into_inner();
    ensure!(
        contact.display_name == CONTACT && contact.email == CONTACT_EMAIL,
        "{contact:?}"
    );
    let review = ingestion
        .get_event(ing::GetEventRequest {
            name: "merchants/acme/events/r-1".into(),
        })
        .await?
        .into_inner();
    ensure!(format!("{review:?}").contains(REVIEW), "{review:?}");
    let tags = suite
        .profiling()
        .list_tags(prof::ListTagsRequest {
            parent: person.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(tags.tags.iter().any(|t| t.note == NOTE), "{tags:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn personal_data_is_sealed_at_rest_on_sqlite() -> Result<()> {
    let suite = Suite::start(Backend::Sqlite).await?.context("sqlite")?;
    let person = populate(&suite).await?;
    nothing_in_clear(&suite).await?;
    readable_by_the_allowed(&suite, &person).await
}

#[tokio::test(flavor = "multi_thread")]
async fn personal_data_is_sealed_at_rest_on_mariadb() -> Result<()> {
    let Some(suite) = Suite::start(Backend::MariaDb).await? else {
        return Ok(());
    };
    let person = populate(&suite).await?;
    nothing_in_clear(&suite).await?;
    readable_by_the_allowed(&suite, &person).await
}

const K1: &str = "a2V5LW9uZS1vZi10aGUtcm90YXRpb24tdGVzdC0xMjM";
const K2: &str = "a2V5LXR3by1vZi10aGUtcm90YXRpb24tdGVzdC00NTY";

fn keys_env(keys: &[(&'static str, &'static str)], active: &'static str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = keys
        .iter()
        .map(|(id, key)| {
            (
                format!("CARAVAN__PRIVACY__ENCRYPTION_KEYS__{}", id.to_uppercase()),
                (*key).to_owned(),
            )
        })
        .collect();
    env.push((
        "CARAVAN__PRIVACY__ACTIVE_ENCRYPTION_KEY".into(),
        active.into(),
    ));
    env
}

fn serve(workdir: &std::path::Path, env: &[(String, String)]) -> Result<ServerProcess> {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ServerProcess::start("caravan", &["serve"], &env, workdir)
}

async fn reveal(server: &ServerProcess) -> Result<Result<String, tonic::Status>> {
    let mut client = IngestionServiceClient::new(server.channel().await?);
    Ok(client
        .get_customer(ing::GetCustomerRequest {
            name: customer_name("acme", "p-1"),
            reveal_pii: true,
        })
        .await
        .map(|c| format!("{:?}", c.into_inner())))
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_rotate_with_reseal_and_the_old_key_can_go() -> Result<()> {
    let workdir = tempfile::tempdir()?;
    {
        let server = serve(workdir.path(), &keys_env(&[("k1", K1)], "k1"))?;
        let mut client = IngestionServiceClient::new(server.channel().await?);
        create_merchant(&mut client, "acme").await?;
        client
            .create_customer(ing::CreateCustomerRequest {
                parent: "merchants/acme".into(),
                customer_id: "p-1".into(),
                customer: Some(ing::Customer {
                    kind: common::CustomerKind::Person as i32,
                    details: Some(ing::customer::Details::Person(ing::PersonDetails {
                        given_name: GIVEN.into(),
                        email: EMAIL.into(),
                        ..Default::default()
                    })),
                    ..Default::default()
                }),
            })
            .await?;
        // An invalid event (no payload) goes to the failed-event store, sealed under k1.
        let rejected = client
            .batch_ingest_events(ing::BatchIngestEventsRequest {
                parent: "merchants/acme".into(),
                events: vec![ing::Event {
                    event_id: "e-invalid".into(),
                    customer: "p-1".into(),
                    ..Default::default()
                }],
                validate_only: false,
            })
            .await?
            .into_inner();
        ensure!(rejected.rejected_count == 1, "{rejected:?}");
        // A valid one: its profile and event summary are sealed under k1 too.
        let accepted = client
            .batch_ingest_events(ing::BatchIngestEventsRequest {
                parent: "merchants/acme".into(),
                events: vec![ing::Event {
                    event_id: "e-search".into(),
                    customer: "p-1".into(),
                    occur_time: ts(chrono::Utc::now().timestamp() - 60),
                    payload: Some(Payload::Search(ing::SearchEvent {
                        query: SEARCH.into(),
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                validate_only: false,
            })
            .await?
            .into_inner();
        ensure!(accepted.accepted_count == 1, "{accepted:?}");
        let mut profiles = ProfilingServiceClient::new(server.channel().await?);
        wait_for_profile(&mut profiles, &customer_name("acme", "p-1"), "built", |p| {
            p.event_count == 1
        })
        .await?;
    }
    // The new key alone cannot open what the old one sealed...
    {
        let server = serve(workdir.path(), &keys_env(&[("k2", K2)], "k2"))?;
        let refused = reveal(&server).await?.expect_err("sealed under k1");
        ensure!(refused.code() == tonic::Code::Internal, "{refused:?}");
    }
    // ...so both are configured, k2 active, while reseal moves everything to k2.
    let both = keys_env(&[("k1", K1), ("k2", K2)], "k2");
    let store = format!(
        "sqlite://{}?mode=rwc",
        workdir.path().join(".caravan/caravan.sqlite").display()
    );
    let mut command =
        std::process::Command::new(caravan_integration_tests::binary_path("caravan")?);
    command
        .args(["privacy", "reseal"])
        .current_dir(workdir.path())
        .env("CARAVAN__DATABASE__URL", &store)
        .envs(both.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let output = command.output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    ensure!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    ensure!(
        stdout.contains("customers 1")
            && stdout.contains("failed events 1")
            && stdout.contains("profiles 1, event summaries 1"),
        "{stdout}"
    );
    let again = command.output()?;
    ensure!(
        String::from_utf8_lossy(&again.stdout).contains(
            "customers 0, contacts 0, events 0, failed events 0, profiles 0, event summaries 0"
        ),
        "a second run has nothing to do"
    );
    // Now k1 can be removed.
    let server = serve(workdir.path(), &keys_env(&[("k2", K2)], "k2"))?;
    let shown = reveal(&server)
        .await?
        .map_err(|s| anyhow::anyhow!("{s:?}"))?;
    ensure!(shown.contains(EMAIL) && shown.contains(GIVEN), "{shown}");
    let failed = IngestionServiceClient::new(server.channel().await?)
        .list_failed_events(ing::ListFailedEventsRequest {
            parent: "merchants/acme".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(
        failed.failed_events.len() == 1,
        "the failed event opens under k2: {failed:?}"
    );
    Ok(())
}
