//! Every filter a caller can send is answered, and none takes a process down: each RPC that
//! takes a `filter` (enumerated from the descriptor set, so a new one cannot be forgotten) is
//! sent filters nested 5,000 deep, 30,000 clauses long, a megabyte long and malformed, against
//! `caravan serve` (all four services in one process) on SQLite and on MariaDB. Each answers
//! INVALID_ARGUMENT naming the filter, the process keeps serving, and what the SQL-backed
//! lists do not support (OR, NOT, unknown values) is refused instead of matching nothing.

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use caravan_access::policy::AccessPolicy;
use caravan_integration_tests::customer_fixture::{Backend, Suite};
use caravan_integration_tests::raw_codec::{CallShape, call_raw};
use caravan_integration_tests::violated_fields;
use caravan_integration_tests::{Channel, SERVICES, ServerProcess};
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as pb;
use caravan_proto::caravan::ingestion::v1::ingestion_service_client::IngestionServiceClient;
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, MessageDescriptor, ReflectMessage as _, Value,
};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const MERCHANT: &str = "acme";
/// RPCs whose parent is a customer rather than the merchant.
const CUSTOMER_PARENT: [&str; 3] = ["ListContacts", "ListTags", "ListTagHistory"];

/// One RPC that takes a filter.
struct FilterRpc {
    path: String,
    method: String,
    shape: CallShape,
    input: MessageDescriptor,
    merchant_field: Option<String>,
}

fn rpcs_with_a_filter() -> Result<Vec<FilterRpc>> {
    let pool = DescriptorPool::decode(caravan_proto::FILE_DESCRIPTOR_SET)?;
    let policy = AccessPolicy::load(
        caravan_proto::FILE_DESCRIPTOR_SET,
        &caravan_proto::ALL_SERVICE_NAMES,
    )?;
    let mut out = Vec::new();
    for service in pool
        .services()
        .filter(|s| s.full_name().starts_with("caravan."))
    {
        for method in service.methods() {
            if method.input().get_field_by_name("filter").is_none() {
                continue;
            }
            let path = format!("/{}/{}", service.full_name(), method.name());
            let rule = policy
                .rule(&path)
                .with_context(|| format!("{path}: no rule"))?;
            out.push(FilterRpc {
                method: method.name().to_owned(),
                shape: CallShape {
                    client_streaming: method.is_client_streaming(),
                    server_streaming: method.is_server_streaming(),
                },
                input: method.input(),
                merchant_field: rule.merchant.as_ref().map(|f| f.name.clone()),
                path,
            });
        }
    }
    Ok(out)
}

fn request(rpc: &FilterRpc, filter: &str) -> Result<Bytes> {
    let mut message = DynamicMessage::new(rpc.input.clone());
    if let Some(field) = &rpc.merchant_field {
        let value = if CUSTOMER_PARENT.contains(&rpc.method.as_str()) {
            format!("merchants/{MERCHANT}/customers/c-1")
        } else {
            format!("merchants/{MERCHANT}")
        };
        let field = message
            .descriptor()
            .get_field_by_name(field)
            .with_context(|| format!("{}: no field {field}", rpc.method))?;
        message.set_field(&field, Value::String(value));
    }
    let filter_field = message
        .descriptor()
        .get_field_by_name("filter")
        .context("filter field")?;
    message.set_field(&filter_field, Value::String(filter.to_owned()));
    Ok(message.encode_to_vec().into())
}

/// Filters no RPC may accept, by what they try.
fn hostile_filters() -> Vec<(&'static str, String)> {
    let nested = |levels: usize| format!("{}x = 1{}", "(".repeat(levels), ")".repeat(levels));
    let clauses = |n: usize| vec!["x = 1"; n].join(" AND ");
    vec![
        ("5,000 nested parentheses (10 KB)", nested(5_000)),
        ("33 nested parentheses", nested(33)),
        ("30,000 AND clauses", clauses(30_000)),
        ("201 comparisons", clauses(201)),
        ("1 MB value", format!("x = \"{}\"", "a".repeat(1 << 20))),
        ("unbalanced ')'", "x = 1)".to_owned()),
        ("comparison without a value", "x =".to_owned()),
        ("unterminated string", "x = \"open".to_owned()),
        ("dangling AND", "x = 1 AND".to_owned()),
    ]
}

async fn expect_filter_refused(
    channel: Channel,
    rpc: &FilterRpc,
    what: &str,
    filter: &str,
) -> Result<()> {
    let status = match call_raw(channel, &rpc.path, rpc.shape, request(rpc, filter)?).await {
        Ok(_) => anyhow::bail!("{}: {what} was accepted", rpc.method),
        Err(status) => status,
    };
    ensure!(
        status.code() == Code::InvalidArgument,
        "{}: {what} answered {:?} {}",
        rpc.method,
        status.code(),
        status.message()
    );
    ensure!(
        violated_fields(&status).iter().any(|f| f == "filter"),
        "{}: {what} must name the filter: {:?} {}",
        rpc.method,
        violated_fields(&status),
        status.message()
    );
    Ok(())
}

async fn expect_all_serving(server: &ServerProcess) -> Result<()> {
    let mut health = HealthClient::new(server.channel().await?);
    for service in SERVICES {
        let status = health
            .check(HealthCheckRequest {
                service: (*service).to_owned(),
            })
            .await?
            .into_inner()
            .status;
        ensure!(
            status == ServingStatus::Serving as i32,
            "{service} is not serving after the hostile filters"
        );
    }
    Ok(())
}

async fn seed(client: &mut IngestionServiceClient<Channel>) -> Result<()> {
    client
        .create_merchant(pb::CreateMerchantRequest {
            merchant_id: MERCHANT.to_owned(),
            merchant: Some(pb::Merchant {
                display_name: "ACME".to_owned(),
                base_currency_code: "EUR".to_owned(),
                ..Default::default()
            }),
        })
        .await?;
    client
        .create_customer(pb::CreateCustomerRequest {
            parent: format!("merchants/{MERCHANT}"),
            customer_id: "c-1".to_owned(),
            customer: Some(pb::Customer {
                kind: common::CustomerKind::Person as i32,
                details: Some(pb::customer::Details::Person(pb::PersonDetails {
                    given_name: "Ada".to_owned(),
                    country_code: "DE".to_owned(),
                    ..Default::default()
                })),
                ..Default::default()
            }),
        })
        .await?;
    for (sku, category) in [("car-1", "Toys > Cars"), ("mug-1", "Home > Kitchen")] {
        client
            .create_product(pb::CreateProductRequest {
                parent: format!("merchants/{MERCHANT}"),
                product_id: sku.to_owned(),
                product: Some(pb::Product {
                    title: sku.to_owned(),
                    category_path: category.to_owned(),
                    active: true,
                    ..Default::default()
                }),
            })
            .await?;
    }
    Ok(())
}

async fn customers_matching(
    client: &mut IngestionServiceClient<Channel>,
    filter: &str,
) -> Result<usize, tonic::Status> {
    client
        .list_customers(pb::ListCustomersRequest {
            parent: format!("merchants/{MERCHANT}"),
            filter: filter.to_owned(),
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner().customers.len())
}

async fn products_matching(
    client: &mut IngestionServiceClient<Channel>,
    filter: &str,
) -> Result<Vec<String>> {
    let response = client
        .list_products(pb::ListProductsRequest {
            parent: format!("merchants/{MERCHANT}"),
            filter: filter.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(response.products.into_iter().map(|p| p.title).collect())
}

/// What the SQL-backed lists do not support is refused, and a category is matched as
/// written, never as a LIKE pattern.
async fn sql_lists_refuse_what_they_cannot_do(
    client: &mut IngestionServiceClient<Channel>,
) -> Result<()> {
    ensure!(customers_matching(client, "kind = PERSON").await? == 1);
    ensure!(customers_matching(client, "kind = CUSTOMER_KIND_PERSON").await? == 1);
    for bad in [
        "kind = PERSON OR kind = ENTERPRISE",
        "NOT kind = PERSON",
        "kind =",
        "kind = PERSON)",
        "kind = ROBOT",
        "star_rating = 9",
        "kind != PERSON",
    ] {
        let status = customers_matching(client, bad)
            .await
            .err()
            .with_context(|| format!("ListCustomers accepted {bad:?}"))?;
        ensure!(
            status.code() == Code::InvalidArgument && violated_fields(&status) == ["filter"],
            "{bad:?}: {status:?}"
        );
    }
    ensure!(products_matching(client, "category_path:\"Toys\"").await? == ["car-1"]);
    for wildcard in ["T_ys", "%", "To%", "_"] {
        let got = products_matching(client, &format!("category_path:\"{wildcard}\"")).await?;
        ensure!(got.is_empty(), "{wildcard:?} matched {got:?} as a wildcard");
    }
    Ok(())
}

async fn hostile_filters_are_refused(server: &ServerProcess) -> Result<()> {
    let mut client = IngestionServiceClient::new(server.channel().await?);
    seed(&mut client).await?;
    let rpcs = rpcs_with_a_filter()?;
    ensure!(
        rpcs.len() >= 18,
        "only {} RPCs with a filter found",
        rpcs.len()
    );
    for (what, filter) in hostile_filters() {
        for rpc in &rpcs {
            expect_filter_refused(server.channel().await?, rpc, what, &filter).await?;
        }
        expect_all_serving(server).await?;
    }
    sql_lists_refuse_what_they_cannot_do(&mut client).await?;
    expect_all_serving(server).await
}

async fn on(backend: Backend) -> Result<()> {
    match Suite::start(backend).await? {
        Some(suite) => hostile_filters_are_refused(&suite.server).await,
        None => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_filters_are_refused_on_sqlite() -> Result<()> {
    on(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_filters_are_refused_on_mariadb() -> Result<()> {
    on(Backend::MariaDb).await
}
