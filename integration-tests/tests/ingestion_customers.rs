//! Customers, identity resolution and merge, and the product catalogue, against the real
//! `caravan-ingestion` binary on a fresh MariaDB database.

use anyhow::{Context, Result, ensure};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use pb::customer::Details;
use pb::event::Payload;
use sea_orm::{ConnectionTrait, Statement};

const M: &str = "merchants/acme";

use caravan_integration_tests::ingestion_env::IngestionEnv as Env;
use caravan_integration_tests::mysql::expect_counts;

async fn start() -> Result<Option<Env>> {
    caravan_integration_tests::ingestion_env::start(&[("CARAVAN__TELEMETRY__LOG_FILTER", "debug")])
        .await
}

fn identifier(kind: common::IdentifierKind, value: &str) -> common::CustomerIdentifier {
    common::CustomerIdentifier {
        kind: kind as i32,
        value: value.to_owned(),
        issuer: String::new(),
    }
}

fn page_view(id: &str, identifiers: Vec<common::CustomerIdentifier>) -> pb::Event {
    pb::Event {
        event_id: id.to_owned(),
        customer_identifiers: identifiers,
        occur_time: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        payload: Some(Payload::PageView(pb::PageViewEvent {
            uri: "https://shop.example/".to_owned(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

async fn ingest(env: &mut Env, events: Vec<pb::Event>) -> Result<pb::BatchIngestEventsResponse> {
    Ok(env
        .client
        .batch_ingest_events(pb::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events,
            validate_only: false,
        })
        .await?
        .into_inner())
}

#[tokio::test(flavor = "multi_thread")]
async fn customers_resolve_by_identifiers_and_merge_with_an_audit_record() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    // A person with e-mail and phone, created through the API.
    let created = env
        .client
        .create_customer(pb::CreateCustomerRequest {
            parent: M.to_owned(),
            customer_id: "jane".to_owned(),
            customer: Some(pb::Customer {
                kind: common::CustomerKind::Person as i32,
                details: Some(Details::Person(pb::PersonDetails {
                    given_name: "Jane".to_owned(),
                    family_name: "Doe".to_owned(),
                    email: "Jane.Doe@Example.com".to_owned(),
                    phone: "+49 151 1234 5678".to_owned(),
                    country_code: "DE".to_owned(),
                    city: "Hamburg".to_owned(),
                    city_tier: common::CityTier::Tier1 as i32,
                    age: Some(pb::person_details::Age::BirthYear(1990)),
                    gender: common::Gender::Female as i32,
                    language_code: "de-DE".to_owned(),
                    preferred_currency_code: "EUR".to_owned(),
                    acquisition_channel: common::AcquisitionChannel::ShortVideo as i32,
                    ..Default::default()
                })),
                identifiers: vec![identifier(
                    common::IdentifierKind::PlatformBuyerId,
                    "ali-42",
                )],
                consents: vec![pb::MarketingConsent {
                    channel: common::ConsentChannel::Whatsapp as i32,
                    granted: true,
                    update_time: Some(prost_types::Timestamp {
                        seconds: 1_700_000_000,
                        nanos: 0,
                    }),
                    source: "checkout".to_owned(),
                }],
                import_tags: vec!["vip".to_owned()],
                star_rating: 4,
                source: "crm-import".to_owned(),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    ensure!(created.name == format!("{M}/customers/jane"));
    ensure!(created.identifiers.len() == 3, "{:?}", created.identifiers);
    // The answer to a create is masked like any read without reveal_pii.
    let Some(Details::Person(p)) = &created.details else {
        anyhow::bail!("person expected");
    };
    ensure!(
        p.email == "j***@example.com" && p.given_name == "J***" && p.family_name == "D***",
        "{p:?}"
    );
    ensure!(
        created
            .identifiers
            .iter()
            .filter(|i| i.kind == common::IdentifierKind::Email as i32)
            .all(|i| i.value == "j***@example.com"),
        "{:?}",
        created.identifiers
    );

    // Masked by default, revealed on request.
    let masked = env
        .client
        .get_customer(pb::GetCustomerRequest {
            name: created.name.clone(),
            reveal_pii: false,
        })
        .await?
        .into_inner();
    let Some(Details::Person(p)) = &masked.details else {
        anyhow::bail!("person expected");
    };
    ensure!(
        p.email == "j***@example.com" && p.given_name == "J***",
        "{p:?}"
    );
    ensure!(masked.consents.len() == 1 && masked.import_tags == ["vip"]);
    let revealed = env
        .client
        .get_customer(pb::GetCustomerRequest {
            name: created.name.clone(),
            reveal_pii: true,
        })
        .await?
        .into_inner();
    let Some(Details::Person(p)) = &revealed.details else {
        anyhow::bail!("person expected");
    };
    ensure!(p.email == "jane.doe@example.com" && p.phone == "+4915112345678");

    // Update with a field mask.
    let updated = env
        .client
        .update_customer(pb::UpdateCustomerRequest {
            customer: Some(pb::Customer {
                name: created.name.clone(),
                details: Some(Details::Person(pb::PersonDetails {
                    city: "Berlin".to_owned(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["person.city".to_owned()],
            }),
            allow_missing: false,
        })
        .await?
        .into_inner();
    let Some(Details::Person(p)) = &updated.details else {
        anyhow::bail!("person expected");
    };
    ensure!(
        p.city == "Berlin" && p.country_code == "DE" && p.family_name == "D***",
        "masked like a create: {p:?}"
    );
    ensure!(updated.identifiers.len() == 3);
    // Only the city changed: the personal data is still there in clear.
    let revealed = env
        .client
        .get_customer(pb::GetCustomerRequest {
            name: created.name.clone(),
            reveal_pii: true,
        })
        .await?
        .into_inner();
    let Some(Details::Person(p)) = &revealed.details else {
        anyhow::bail!("person expected");
    };
    ensure!(
        p.city == "Berlin"
            && p.given_name == "Jane"
            && p.family_name == "Doe"
            && p.email == "jane.doe@example.com"
            && p.phone == "+4915112345678",
        "{p:?}"
    );

    // Events with the e-mail in another spelling land on Jane.
    let response = ingest(
        &mut env,
        vec![page_view(
            "pv-1",
            vec![identifier(
                common::IdentifierKind::Email,
                " JANE.DOE@example.COM ",
            )],
        )],
    )
    .await?;
    ensure!(response.results[0].customer == created.name, "{response:?}");

    // An unknown device id creates a new customer; the same device again lands on it.
    let response = ingest(
        &mut env,
        vec![
            page_view(
                "pv-2",
                vec![identifier(common::IdentifierKind::DeviceId, "dev-9")],
            ),
            page_view(
                "pv-3",
                vec![identifier(common::IdentifierKind::DeviceId, "dev-9")],
            ),
        ],
    )
    .await?;
    let device_customer = response.results[0].customer.clone();
    ensure!(device_customer != created.name && !device_customer.is_empty());
    ensure!(
        response.results[1].customer == device_customer,
        "{response:?}"
    );

    // An identifier owned by another customer cannot be given to a new one.
    let taken = env
        .client
        .create_customer(pb::CreateCustomerRequest {
            parent: M.to_owned(),
            customer_id: "jane2".to_owned(),
            customer: Some(pb::Customer {
                kind: common::CustomerKind::Person as i32,
                identifiers: vec![identifier(common::IdentifierKind::DeviceId, "dev-9")],
                ..Default::default()
            }),
        })
        .await
        .expect_err("identifier taken");
    ensure!(taken.code() == tonic::Code::AlreadyExists, "{taken:?}");

    // Merge the device customer into Jane.
    let merged = env
        .client
        .merge_customers(pb::MergeCustomersRequest {
            target_customer: created.name.clone(),
            source_customers: vec![device_customer.clone()],
            reason: "same person on app and web".to_owned(),
            actor: "test".to_owned(),
        })
        .await?
        .into_inner();
    ensure!(merged.identity_merges.len() == 1);
    let audit = &merged.identity_merges[0];
    ensure!(audit.source_customer == device_customer && audit.target_customer == created.name);
    ensure!(audit.moved_event_count == 2, "{audit:?}");
    ensure!(audit.moved_identifiers.len() == 1);

    // The device now resolves to Jane, for new events and for ResolveCustomer.
    let response = ingest(
        &mut env,
        vec![page_view(
            "pv-4",
            vec![identifier(common::IdentifierKind::DeviceId, "dev-9")],
        )],
    )
    .await?;
    ensure!(response.results[0].customer == created.name, "{response:?}");
    let resolved = env
        .client
        .resolve_customer(pb::ResolveCustomerRequest {
            parent: M.to_owned(),
            identifiers: vec![
                identifier(common::IdentifierKind::Email, "nobody@example.com"),
                identifier(common::IdentifierKind::Phone, "0049 151 12345678"),
            ],
        })
        .await?
        .into_inner();
    ensure!(resolved.customer.map(|c| c.name) == Some(created.name.clone()));
    ensure!(
        resolved.matched_identifier.map(|i| i.kind) == Some(common::IdentifierKind::Phone as i32)
    );
    // Events sent by the merged id are re-attributed to the survivor.
    let source_id = device_customer.rsplit('/').next().context("id")?.to_owned();
    let mut by_id = page_view("pv-5", Vec::new());
    by_id.customer = source_id;
    let response = ingest(&mut env, vec![by_id]).await?;
    ensure!(response.results[0].customer == created.name, "{response:?}");

    let source = env
        .client
        .get_customer(pb::GetCustomerRequest {
            name: device_customer.clone(),
            reveal_pii: false,
        })
        .await?
        .into_inner();
    ensure!(source.merged_into == created.name);
    let listed = env
        .client
        .list_customers(pb::ListCustomersRequest {
            parent: M.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(
        listed.total_size == 1,
        "merged customers hidden: {listed:?}"
    );
    let listed = env
        .client
        .list_customers(pb::ListCustomersRequest {
            parent: M.to_owned(),
            show_merged: true,
            filter: "kind = PERSON AND person.country_code = \"DE\"".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(listed.total_size == 1, "{listed:?}");
    let merges = env
        .client
        .list_identity_merges(pb::ListIdentityMergesRequest {
            parent: M.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(merges.identity_merges.len() == 1);
    ensure!(merges.identity_merges[0].reason == "same person on app and web");

    let store = caravan_store::connect(&env.db.url, 1).await?;
    let row = store
        .query_one_raw(Statement::from_string(
            store.get_database_backend(),
            "SELECT COUNT(*) FROM events WHERE customer_id = 'jane'",
        ))
        .await?
        .context("row")?;
    ensure!(row.try_get_by_index::<i64>(0)? == 5);
    let row = store
        .query_one_raw(Statement::from_string(
            store.get_database_backend(),
            "SELECT COUNT(*) FROM outbox WHERE kind = 'customer_merged'",
        ))
        .await?
        .context("row")?;
    ensure!(row.try_get_by_index::<i64>(0)? == 1);
    // Only keyed hashes of e-mails are stored as identifiers.
    let row = store
        .query_one_raw(Statement::from_string(
            store.get_database_backend(),
            "SELECT COUNT(*) FROM customer_identifiers WHERE value_hash LIKE '%@%'",
        ))
        .await?
        .context("row")?;
    ensure!(row.try_get_by_index::<i64>(0)? == 0);

    // Erasing the survivor erases the duplicate merged into it too (the same person):
    // nothing is left pointing at a customer that no longer exists.
    env.client
        .delete_customer(pb::DeleteCustomerRequest {
            name: created.name.clone(),
            reason: "ticket DSR-2".to_owned(),
        })
        .await?;
    for name in [&created.name, &device_customer] {
        let gone = env
            .client
            .get_customer(pb::GetCustomerRequest {
                name: name.clone(),
                reveal_pii: false,
            })
            .await
            .expect_err("erased");
        ensure!(gone.code() == tonic::Code::NotFound, "{name}: {gone:?}");
    }
    expect_counts(
        &store,
        &[
            ("SELECT COUNT(*) FROM customers", 0),
            ("SELECT COUNT(*) FROM events", 0),
            ("SELECT COUNT(*) FROM customer_identifiers", 0),
            // Erasure removes what was derived in the same transaction: the outbox rows
            // that listed their events list nobody now (kept as empty batches, no consumer
            // has passed them yet), and one tombstone is left per erased id.
            (
                "SELECT COUNT(*) FROM outbox WHERE entry_count > 0 OR customer_id <> ''",
                0,
            ),
            ("SELECT COUNT(*) FROM erased_customers", 2),
        ],
    )
    .await?;
    store.close().await?;

    // No personal data in the logs, even at debug level.
    let logs = env.server.logs().join("\n");
    for pii in ["jane.doe", "Jane.Doe", "4915112345678", "Doe"] {
        ensure!(!logs.contains(pii), "{pii} leaked into logs");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn enterprise_customers_and_the_product_catalogue() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    let company = env
        .client
        .create_customer(pb::CreateCustomerRequest {
            parent: M.to_owned(),
            customer_id: String::new(),
            customer: Some(pb::Customer {
                kind: common::CustomerKind::Enterprise as i32,
                details: Some(Details::Enterprise(pb::EnterpriseDetails {
                    company_name: "Müller Handels GmbH".to_owned(),
                    industry: "Home goods wholesale".to_owned(),
                    size_band: common::CompanySizeBand::CompanySizeBand50To249 as i32,
                    annual_revenue_band: common::AnnualRevenueBand::AnnualRevenueBand1mTo10m as i32,
                    country_code: "DE".to_owned(),
                    website_uri: "https://mueller.example".to_owned(),
                    business_type: common::BusinessType::Wholesaler as i32,
                    year_founded: 2008,
                    registration_number: "HRB 12345".to_owned(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    let Some(Details::Enterprise(e)) = &company.details else {
        anyhow::bail!("enterprise expected");
    };
    ensure!(e.business_type == common::BusinessType::Wholesaler as i32 && e.year_founded == 2008);
    // Events naming the registration number land on the company.
    let mut inquiry = page_view(
        "inq-1",
        vec![identifier(
            common::IdentifierKind::RegistrationNumber,
            "HRB 12345",
        )],
    );
    inquiry.payload = Some(Payload::Inquiry(pb::InquiryEvent {
        message: "Price for 1000 pcs?".to_owned(),
        channel: common::ContactChannel::Email as i32,
        ..Default::default()
    }));
    let response = ingest(&mut env, vec![inquiry]).await?;
    ensure!(response.results[0].customer == company.name, "{response:?}");

    // Invalid customers are named field by field.
    let err = env
        .client
        .create_customer(pb::CreateCustomerRequest {
            parent: M.to_owned(),
            customer_id: "bad".to_owned(),
            customer: Some(pb::Customer {
                kind: common::CustomerKind::Person as i32,
                details: Some(Details::Person(pb::PersonDetails {
                    country_code: "UK".to_owned(),
                    email: "not-an-email".to_owned(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        })
        .await
        .expect_err("invalid");
    ensure!(err.code() == tonic::Code::InvalidArgument);
    ensure!(
        err.message().contains("customer.person.country_code"),
        "{err:?}"
    );

    // Products.
    let product = |sku: &str, title: &str, category: &str, stock: i64| pb::Product {
        name: format!("{M}/products/{sku}"),
        title: title.to_owned(),
        category_path: category.to_owned(),
        brand: "Acme".to_owned(),
        price: Some(common::Money {
            currency_code: "GBP".to_owned(),
            amount_minor: 255,
        }),
        ship_to_country_codes: vec!["GB".to_owned(), "DE".to_owned()],
        stock_quantity: stock,
        active: true,
        ..Default::default()
    };
    let batch = env
        .client
        .batch_upsert_products(pb::BatchUpsertProductsRequest {
            parent: M.to_owned(),
            products: vec![
                product(
                    "85123A",
                    "WHITE HANGING HEART T-LIGHT HOLDER",
                    "Home > Decor",
                    10,
                ),
                product("71053", "WHITE METAL LANTERN", "Home > Lighting", 3),
            ],
            validate_only: false,
        })
        .await?
        .into_inner();
    ensure!(
        batch.created_count == 2 && batch.updated_count == 0,
        "{batch:?}"
    );
    let batch = env
        .client
        .batch_upsert_products(pb::BatchUpsertProductsRequest {
            parent: M.to_owned(),
            products: vec![product(
                "71053",
                "WHITE METAL LANTERN",
                "Home > Lighting",
                5,
            )],
            validate_only: false,
        })
        .await?
        .into_inner();
    ensure!(batch.created_count == 0 && batch.updated_count == 1);
    ensure!(batch.products[0].stock_quantity == 5);
    let bad = env
        .client
        .batch_upsert_products(pb::BatchUpsertProductsRequest {
            parent: M.to_owned(),
            products: vec![product("ok-1", "ok", "", 1), product("bad sku", "", "", 1)],
            validate_only: false,
        })
        .await
        .expect_err("invalid batch");
    ensure!(bad.code() == tonic::Code::InvalidArgument);
    ensure!(bad.message().contains("products[1]"), "{bad:?}");

    let updated = env
        .client
        .update_product(pb::UpdateProductRequest {
            product: Some(pb::Product {
                name: format!("{M}/products/85123A"),
                stock_quantity: 0,
                active: false,
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["stock_quantity".to_owned(), "active".to_owned()],
            }),
            allow_missing: false,
        })
        .await?
        .into_inner();
    ensure!(!updated.active && updated.title.contains("HEART"));
    ensure!(updated.ship_to_country_codes == ["DE", "GB"]);
    let listed = env
        .client
        .list_products(pb::ListProductsRequest {
            parent: M.to_owned(),
            filter: "category_path:\"Home > Lighting\" AND active = true".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(listed.total_size == 1 && listed.products[0].name.ends_with("/71053"));
    let created = env
        .client
        .create_product(pb::CreateProductRequest {
            parent: M.to_owned(),
            product_id: "POST".to_owned(),
            product: Some(product("POST", "POSTAGE", "Services", 0)),
        })
        .await?
        .into_inner();
    ensure!(created.name == format!("{M}/products/POST"));
    let again = env
        .client
        .create_product(pb::CreateProductRequest {
            parent: M.to_owned(),
            product_id: "POST".to_owned(),
            product: Some(product("POST", "POSTAGE", "Services", 0)),
        })
        .await
        .expect_err("exists");
    ensure!(again.code() == tonic::Code::AlreadyExists);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn contacts_of_enterprises_and_erasure_of_a_customer() -> Result<()> {
    let Some(mut env) = start().await? else {
        return Ok(());
    };
    // An enterprise created implicitly by an RFQ, then a contact for it.
    let rfq = pb::Event {
        event_id: "rfq-1".to_owned(),
        customer: "buyer-co".to_owned(),
        occur_time: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 0,
        }),
        payload: Some(Payload::Rfq(pb::RfqEvent {
            quantity: 500,
            ..Default::default()
        })),
        ..Default::default()
    };
    let response = ingest(&mut env, vec![rfq]).await?;
    ensure!(response.accepted_count == 1, "{response:?}");
    let parent = format!("{M}/customers/buyer-co");
    let contact = env
        .client
        .create_contact(pb::CreateContactRequest {
            parent: parent.clone(),
            contact_id: "li-wei".to_owned(),
            contact: Some(pb::Contact {
                display_name: "Li Wei".to_owned(),
                job_title: "Purchasing manager".to_owned(),
                decision_maker: true,
                email: "li.wei@example.cn".to_owned(),
                phone: "+86 138 0013 8000".to_owned(),
                preferred_channel: common::ContactChannel::Wechat as i32,
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    ensure!(contact.name == format!("{parent}/contacts/li-wei"));
    ensure!(
        contact.email == "l***@example.cn" && contact.display_name == "L***",
        "the answer to a create is masked: {contact:?}"
    );
    let masked = env
        .client
        .get_contact(pb::GetContactRequest {
            name: contact.name.clone(),
            reveal_pii: false,
        })
        .await?
        .into_inner();
    ensure!(
        masked.email == "l***@example.cn" && masked.decision_maker,
        "{masked:?}"
    );
    let updated = env
        .client
        .update_contact(pb::UpdateContactRequest {
            contact: Some(pb::Contact {
                name: contact.name.clone(),
                job_title: "Head of sourcing".to_owned(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["job_title".to_owned()],
            }),
        })
        .await?
        .into_inner();
    ensure!(
        updated.job_title == "Head of sourcing" && updated.email == "l***@example.cn",
        "masked like a create: {updated:?}"
    );
    // Only the job title changed: the personal data is still there in clear.
    let revealed = env
        .client
        .get_contact(pb::GetContactRequest {
            name: contact.name.clone(),
            reveal_pii: true,
        })
        .await?
        .into_inner();
    ensure!(
        revealed.job_title == "Head of sourcing"
            && revealed.display_name == "Li Wei"
            && revealed.email == "li.wei@example.cn"
            && revealed.phone == "+8613800138000",
        "{revealed:?}"
    );
    let listed = env
        .client
        .list_contacts(pb::ListContactsRequest {
            parent: parent.clone(),
            filter: "decision_maker = true".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(listed.contacts.len() == 1);

    // Persons have no contacts.
    env.client
        .create_customer(pb::CreateCustomerRequest {
            parent: M.to_owned(),
            customer_id: "p1".to_owned(),
            customer: Some(pb::Customer {
                kind: common::CustomerKind::Person as i32,
                ..Default::default()
            }),
        })
        .await?;
    let err = env
        .client
        .create_contact(pb::CreateContactRequest {
            parent: format!("{M}/customers/p1"),
            contact_id: String::new(),
            contact: Some(pb::Contact {
                display_name: "X".to_owned(),
                ..Default::default()
            }),
        })
        .await
        .expect_err("person");
    ensure!(err.code() == tonic::Code::FailedPrecondition, "{err:?}");

    // Erasure removes the customer, its contacts and events, and leaves a tombstone.
    env.client
        .delete_customer(pb::DeleteCustomerRequest {
            name: parent.clone(),
            reason: "ticket DSR-1".to_owned(),
        })
        .await?;
    let gone = env
        .client
        .get_customer(pb::GetCustomerRequest {
            name: parent.clone(),
            reveal_pii: false,
        })
        .await
        .expect_err("erased");
    ensure!(gone.code() == tonic::Code::NotFound);
    let gone = env
        .client
        .get_event(pb::GetEventRequest {
            name: format!("{M}/events/rfq-1"),
        })
        .await
        .expect_err("erased");
    ensure!(gone.code() == tonic::Code::NotFound);
    let store = caravan_store::connect(&env.db.url, 1).await?;
    expect_counts(
        &store,
        &[
            ("SELECT COUNT(*) FROM customer_contacts", 0),
            ("SELECT COUNT(*) FROM erased_customers", 1),
        ],
    )
    .await?;
    store.close().await?;
    Ok(())
}

/// Each replica remembers which customers exist between batches. A merge or an erasure made
/// through another replica must still redirect the next events at once: here replica A has
/// just seen customers `x` and `y` when replica B merges `x` into `y`, and again when B
/// erases `y` (and with it `x`), after which A refuses their events instead of recreating
/// them.
#[tokio::test(flavor = "multi_thread")]
async fn a_replica_follows_merges_and_erasures_made_through_another() -> Result<()> {
    let Some(mut a) = start().await? else {
        return Ok(());
    };
    let workdir = tempfile::tempdir()?;
    let replica_b = caravan_integration_tests::ServerProcess::start(
        "caravan-ingestion",
        &[],
        &[
            ("CARAVAN__DATABASE__URL", a.db.url.as_str()),
            (
                "CARAVAN__INGESTION__IDENTITY_HASH_KEY",
                "integration-test-key",
            ),
        ],
        workdir.path(),
    )?;
    let mut b =
        pb::ingestion_service_client::IngestionServiceClient::new(replica_b.channel().await?);
    let event = |id: &str, customer: &str| pb::Event {
        customer: customer.to_owned(),
        ..page_view(id, Vec::new())
    };
    let customer_of = |r: &pb::BatchIngestEventsResponse| -> Vec<String> {
        r.results.iter().map(|e| e.customer.clone()).collect()
    };

    let first = ingest(&mut a, vec![event("e1", "x"), event("e2", "y")]).await?;
    ensure!(first.accepted_count == 2, "{first:?}");
    // Seen again through A: known now, no lookup.
    let again = ingest(&mut a, vec![event("e3", "x")]).await?;
    ensure!(customer_of(&again) == vec![format!("{M}/customers/x")]);

    b.merge_customers(pb::MergeCustomersRequest {
        target_customer: format!("{M}/customers/y"),
        source_customers: vec![format!("{M}/customers/x")],
        reason: "same shopper".to_owned(),
        actor: "test".to_owned(),
    })
    .await?;
    let after_merge = ingest(&mut a, vec![event("e4", "x")]).await?;
    ensure!(
        customer_of(&after_merge) == vec![format!("{M}/customers/y")],
        "A still attributes events to the merged customer: {after_merge:?}"
    );

    b.delete_customer(pb::DeleteCustomerRequest {
        name: format!("{M}/customers/y"),
        reason: "ticket DSR-3".to_owned(),
    })
    .await?;
    let after_erasure = ingest(&mut a, vec![event("e5", "x"), event("e6", "y")]).await?;
    ensure!(
        after_erasure.rejected_count == 2
            && after_erasure.results.iter().all(|r| r.status
                == pb::EventIngestStatus::Refused as i32
                && r.field_violations
                    .iter()
                    .any(|v| v.field == "customer" && v.description.contains("was erased"))),
        "{after_erasure:?}"
    );

    let store = caravan_store::connect(&a.db.url, 1).await?;
    expect_counts(
        &store,
        &[
            // e1-e4 were erased with x and y; e5 and e6 were refused.
            ("SELECT COUNT(*) FROM events", 0),
            ("SELECT COUNT(*) FROM customers WHERE id IN ('x', 'y')", 0),
            (
                "SELECT COUNT(*) FROM merchants WHERE id = 'acme' AND identity_version = 2",
                1,
            ),
        ],
    )
    .await?;
    Ok(())
}
