//! Recommendation end to end on real MariaDB: products, customers, orders and behaviour
//! events go in through the real `caravan-ingestion` binary; the real
//! `caravan-recommendation` binary trains on them and serves `Recommend` and
//! `SimilarItems` under the cross-border rules. A second training is deployed while a client
//! calls `Recommend` in a loop: no call fails and the version changes; a second replica
//! picks the new version up by polling. Profiling is not running (the address is closed), so
//! `Recommend` must work without the content signal. A second test runs profiling too: the
//! model learns popularity per RFM segment, and a customer new since training gets it.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::Channel;
use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::ingestion_env::{self, IngestionEnv};
use caravan_integration_tests::violated_fields;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::ingestion::v1 as ing;
use caravan_proto::caravan::profiling::v1 as prof;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use caravan_proto::caravan::recommendation::v1 as rec;
use caravan_proto::caravan::recommendation::v1::recommendation_service_client::RecommendationServiceClient;
use ing::event::Payload;
use tonic::Code;

const M: &str = "merchants/acme";

fn product_name(sku: &str) -> String {
    format!("{M}/products/{sku}")
}

fn sku_of(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or_default()
}

struct Sku {
    sku: &'static str,
    category: &'static str,
    ships_to: &'static [&'static str],
    stock: i64,
}

/// Group A (candles) is bought together; NOSHIP ships only to France, OOS is out of stock,
/// WINE is in a category Saudi Arabia excludes; group B (garden) is a separate taste.
const CATALOGUE: [Sku; 9] = [
    Sku {
        sku: "A1",
        category: "Home > Candles",
        ships_to: &[],
        stock: 10,
    },
    Sku {
        sku: "A2",
        category: "Home > Candles",
        ships_to: &[],
        stock: 10,
    },
    Sku {
        sku: "A3",
        category: "Home > Candles",
        ships_to: &[],
        stock: 10,
    },
    Sku {
        sku: "NOSHIP",
        category: "Home > Candles",
        ships_to: &["FR"],
        stock: 10,
    },
    Sku {
        sku: "OOS",
        category: "Home > Candles",
        ships_to: &[],
        stock: 0,
    },
    Sku {
        sku: "WINE",
        category: "Drinks > Wine",
        ships_to: &[],
        stock: 10,
    },
    Sku {
        sku: "B1",
        category: "Garden > Tools",
        ships_to: &[],
        stock: 10,
    },
    Sku {
        sku: "B2",
        category: "Garden > Tools",
        ships_to: &[],
        stock: 10,
    },
    Sku {
        sku: "B3",
        category: "Garden > Tools",
        ships_to: &[],
        stock: 10,
    },
];

fn product(s: &Sku) -> ing::Product {
    ing::Product {
        name: product_name(s.sku),
        title: format!("Product {}", s.sku),
        category_path: s.category.to_owned(),
        ship_to_country_codes: s.ships_to.iter().map(|c| (*c).to_owned()).collect(),
        stock_quantity: s.stock,
        active: true,
        ..Default::default()
    }
}

fn at(days_ago: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() - days_ago * 86_400,
        nanos: 0,
    })
}

fn event(id: String, customer: &str, days_ago: i64, payload: Payload) -> ing::Event {
    ing::Event {
        event_id: id,
        customer: customer.to_owned(),
        occur_time: at(days_ago),
        session_id: "s".to_owned(),
        source: "test".to_owned(),
        payload: Some(payload),
        ..Default::default()
    }
}

fn order(id: &str, customer: &str, days_ago: i64, skus: &[&str]) -> ing::Event {
    event(
        format!("order-{id}"),
        customer,
        days_ago,
        Payload::Order(ing::OrderEvent {
            order_id: id.to_owned(),
            status: ing::OrderStatus::Delivered as i32,
            lines: skus
                .iter()
                .map(|s| ing::OrderLine {
                    product: product_name(s),
                    quantity: 1,
                    unit_price: Some(common::Money {
                        currency_code: "EUR".to_owned(),
                        amount_minor: 500,
                    }),
                })
                .collect(),
            ..Default::default()
        }),
    )
}

/// Products, two customers with a country, 24 candle buyers and 10 garden buyers, views,
/// cart adds, a return and a bad review, all through ingestion.
async fn seed(env: &mut IngestionEnv) -> Result<()> {
    env.client
        .batch_upsert_products(ing::BatchUpsertProductsRequest {
            parent: M.to_owned(),
            products: CATALOGUE.iter().map(product).collect(),
            validate_only: false,
        })
        .await?;
    for (id, country) in [("jane", "DE"), ("omar", "SA")] {
        env.client
            .create_customer(ing::CreateCustomerRequest {
                parent: M.to_owned(),
                customer_id: id.to_owned(),
                customer: Some(ing::Customer {
                    kind: common::CustomerKind::Person as i32,
                    details: Some(ing::customer::Details::Person(ing::PersonDetails {
                        country_code: country.to_owned(),
                        ..Default::default()
                    })),
                    ..Default::default()
                }),
            })
            .await?;
    }
    let mut events = Vec::new();
    for u in 0..24 {
        let c = format!("cand{u:02}");
        if u < 6 {
            // A few early A3 buyers, so that A3 is known before Evaluate's cut-off.
            events.push(order(&format!("oc{u}"), &c, 35, &["A1", "A3"]));
        }
        events.push(order(
            &format!("oa{u}"),
            &c,
            40,
            &["A1", "A2", "NOSHIP", "WINE"],
        ));
        events.push(order(
            &format!("ob{u}"),
            &c,
            20,
            &["A3", "OOS", "NOSHIP", "WINE"],
        ));
        events.push(event(
            format!("view-{u}"),
            &c,
            10,
            Payload::ProductView(ing::ProductViewEvent {
                product: product_name("A2"),
                dwell_seconds: 5,
            }),
        ));
    }
    for u in 0..10 {
        let c = format!("gard{u:02}");
        events.push(order(&format!("og{u}"), &c, 30, &["B1", "B2", "B3"]));
        events.push(event(
            format!("cart-{u}"),
            &c,
            5,
            Payload::CartAdd(ing::CartChangeEvent {
                product: product_name("B2"),
                quantity: 1,
                unit_price: None,
            }),
        ));
    }
    // Jane bought A1 (not replenishable) and viewed A2; Omar bought A1 too.
    events.push(order("jane-1", "jane", 15, &["A1"]));
    events.push(order("omar-1", "omar", 15, &["A1"]));
    events.push(event(
        "ret-1".into(),
        "gard00",
        3,
        Payload::ReturnGoods(ing::ReturnEvent {
            order_id: "og0".into(),
            product: product_name("B3"),
            quantity: 1,
            reason: ing::ReturnReason::Damaged as i32,
            ..Default::default()
        }),
    ));
    events.push(event(
        "rev-1".into(),
        "gard01",
        3,
        Payload::Review(ing::ReviewEvent {
            product: product_name("B3"),
            rating: 1,
            ..Default::default()
        }),
    ));
    let response = env
        .client
        .batch_ingest_events(ing::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events,
            validate_only: false,
        })
        .await?
        .into_inner();
    let failed: Vec<_> = response
        .results
        .iter()
        .filter(|r| !r.field_violations.is_empty())
        .collect();
    ensure!(failed.is_empty(), "events rejected: {failed:?}");
    Ok(())
}

fn start_recommendation(env: &IngestionEnv, dir: &std::path::Path) -> Result<ServerProcess> {
    ServerProcess::start(
        "caravan-recommendation",
        &[],
        &[
            ("CARAVAN__DATABASE__URL", env.db.url.as_str()),
            ("CARAVAN__DATABASE__MIGRATE_ON_START", "false"),
            ("CARAVAN__RECOMMENDATION__MODEL_POLL_MS", "200"),
            // Nothing listens there: profiling is "down", Recommend must degrade.
            ("CARAVAN__CLIENTS__PROFILING_ADDR", "http://127.0.0.1:9"),
        ],
        dir,
    )
}

async fn train(
    client: &mut RecommendationServiceClient<Channel>,
    kind: rec::ModelKind,
    auto_deploy: bool,
) -> Result<rec::TrainingJob> {
    let job = client
        .start_training(rec::StartTrainingRequest {
            parent: M.to_owned(),
            config: Some(rec::TrainingConfig {
                kind: kind as i32,
                auto_deploy,
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    ensure!(job.name.starts_with(&format!("{M}/trainingJobs/")));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = client
            .get_training_job(rec::GetTrainingJobRequest {
                name: job.name.clone(),
            })
            .await?
            .into_inner();
        match rec::TrainingJobState::try_from(got.state) {
            Ok(rec::TrainingJobState::Succeeded) => return Ok(got),
            Ok(rec::TrainingJobState::Failed) => bail!("training failed: {}", got.error_message),
            _ if Instant::now() > deadline => bail!("training did not finish: {got:?}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn recommend_request(customer: &str, country: &str) -> rec::RecommendRequest {
    rec::RecommendRequest {
        parent: M.to_owned(),
        customer: if customer.is_empty() {
            String::new()
        } else {
            format!("{M}/customers/{customer}")
        },
        count: 20,
        context: Some(rec::RecommendationContext {
            country_code: country.to_owned(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn skus(
    client: &mut RecommendationServiceClient<Channel>,
    request: rec::RecommendRequest,
) -> Result<Vec<String>> {
    let response = client.recommend(request).await?.into_inner();
    for item in &response.items {
        ensure!(
            !item.reasons.is_empty() && !item.reasons[0].text.is_empty(),
            "every item has a reason: {item:?}"
        );
    }
    Ok(response
        .items
        .iter()
        .map(|i| sku_of(&i.product).to_owned())
        .collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn trains_from_ingested_data_serves_under_the_rules_and_swaps_without_failures() -> Result<()>
{
    let Some(mut env) = ingestion_env::start(&[]).await? else {
        return Ok(());
    };
    seed(&mut env).await?;
    let dir = tempfile::tempdir()?;
    let server = start_recommendation(&env, dir.path())?;
    let mut client = RecommendationServiceClient::new(server.channel().await?);

    // Before any training: popularity built from the stored interactions, marked as a
    // fallback without a model name, and still under the cross-border rules.
    let early = client
        .recommend(recommend_request("jane", "DE"))
        .await?
        .into_inner();
    ensure!(
        early.fallback && early.model.is_empty() && !early.items.is_empty(),
        "{early:?}"
    );
    let early_skus: Vec<&str> = early.items.iter().map(|i| sku_of(&i.product)).collect();
    for banned in ["NOSHIP", "OOS", "A1"] {
        ensure!(!early_skus.contains(&banned), "{banned} in {early_skus:?}");
    }
    ensure!(
        early.items.iter().all(|i| !i.reasons.is_empty()),
        "{early:?}"
    );
    // The cold-start model follows exclusions at once: no candles in Germany, then back.
    let exclude_candles = |prefixes: &[&str]| rec::SetCountryExclusionsRequest {
        parent: M.to_owned(),
        country_codes: vec!["DE".into()],
        exclusions: prefixes
            .iter()
            .map(|p| rec::CountryExclusion {
                country_code: "DE".into(),
                category_prefix: (*p).into(),
                ..Default::default()
            })
            .collect(),
    };
    client
        .set_country_exclusions(exclude_candles(&["Home > Candles"]))
        .await?;
    let excluded = skus(&mut client, recommend_request("jane", "DE")).await?;
    ensure!(
        !excluded.is_empty() && excluded.iter().all(|s| !s.starts_with('A')),
        "{excluded:?}"
    );
    client.set_country_exclusions(exclude_candles(&[])).await?;
    let mut unknown = recommend_request("", "DE");
    unknown.parent = "merchants/nobody".into();
    let unknown = client
        .recommend(unknown)
        .await
        .expect_err("unknown merchant");
    ensure!(unknown.code() == Code::NotFound, "{unknown:?}");

    let job = train(&mut client, rec::ModelKind::Ease, false).await?;
    ensure!(job.deployed, "the first model is deployed: {job:?}");
    let serving = client
        .get_model(rec::GetModelRequest {
            name: format!("{M}/models/serving"),
        })
        .await?
        .into_inner();
    ensure!(serving.name == job.model && serving.serving, "{serving:?}");
    ensure!(
        serving.product_count == 9 && serving.size_bytes > 0,
        "{serving:?}"
    );

    // Jane (DE from her customer record): candles first, never NOSHIP (France only), OOS
    // (no stock) or A1 (bought, not replenishable).
    let jane = skus(&mut client, recommend_request("jane", "")).await?;
    ensure!(!jane.is_empty(), "jane gets recommendations");
    for banned in ["NOSHIP", "OOS", "A1"] {
        ensure!(!jane.contains(&banned.to_owned()), "{banned} in {jane:?}");
    }
    ensure!(
        jane[0] == "A2" || jane[0] == "A3" || jane[0] == "WINE",
        "{jane:?}"
    );
    // Shipping to France, NOSHIP is allowed (so it was the rule that removed it above).
    let fr = skus(&mut client, recommend_request("jane", "FR")).await?;
    ensure!(fr.contains(&"NOSHIP".to_owned()), "{fr:?}");
    ensure!(!fr.contains(&"OOS".to_owned()), "{fr:?}");

    // Country exclusion: Saudi Arabia excludes Drinks; Germany does not.
    let set = client
        .set_country_exclusions(rec::SetCountryExclusionsRequest {
            parent: M.to_owned(),
            country_codes: vec!["SA".into()],
            exclusions: vec![rec::CountryExclusion {
                country_code: "SA".into(),
                category_prefix: "Drinks".into(),
                reason: "alcohol import ban".into(),
                ..Default::default()
            }],
        })
        .await?
        .into_inner();
    ensure!(set.exclusions.len() == 1);
    ensure!(set.exclusions[0].reason == "alcohol import ban", "{set:?}");
    client
        .set_country_exclusions(rec::SetCountryExclusionsRequest {
            parent: M.to_owned(),
            country_codes: vec!["CN".into()],
            exclusions: vec![rec::CountryExclusion {
                country_code: "CN".into(),
                category_prefix: "Books".into(),
                ..Default::default()
            }],
        })
        .await?;
    let saudi = client
        .list_country_exclusions(rec::ListCountryExclusionsRequest {
            parent: M.to_owned(),
            filter: "country_code = \"SA\"".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .exclusions;
    ensure!(
        saudi.len() == 1 && saudi[0].reason == "alcohol import ban",
        "the stored reason, only Saudi Arabia's: {saudi:?}"
    );
    let bad_filter = client
        .list_country_exclusions(rec::ListCountryExclusionsRequest {
            parent: M.to_owned(),
            filter: "category_prefix = Drinks".into(),
            ..Default::default()
        })
        .await
        .expect_err("unsupported filter field");
    ensure!(violated_fields(&bad_filter) == ["filter"], "{bad_filter:?}");
    let bad_country = client
        .list_country_exclusions(rec::ListCountryExclusionsRequest {
            parent: M.to_owned(),
            filter: "country_code = sa".into(),
            ..Default::default()
        })
        .await
        .expect_err("not an ISO code in upper case");
    ensure!(
        violated_fields(&bad_country) == ["filter"],
        "{bad_country:?}"
    );
    let omar = skus(&mut client, recommend_request("omar", "")).await?;
    ensure!(
        !omar.is_empty() && !omar.contains(&"WINE".to_owned()),
        "{omar:?}"
    );
    let de = skus(&mut client, recommend_request("omar", "DE")).await?;
    ensure!(de.contains(&"WINE".to_owned()), "{de:?}");

    // An unknown visitor gets popularity, flagged as a fallback, still under the rules.
    let anon = client
        .recommend(recommend_request("", "DE"))
        .await?
        .into_inner();
    ensure!(anon.fallback && !anon.items.is_empty(), "{anon:?}");
    ensure!(
        anon.items
            .iter()
            .all(|i| !i.product.ends_with("/OOS") && !i.product.ends_with("/NOSHIP"))
    );

    // Context: in a garden cart, garden complements come first and the cart item is not shown.
    let mut with_cart = recommend_request("", "DE");
    with_cart.context = Some(rec::RecommendationContext {
        country_code: "DE".into(),
        cart_products: vec![product_name("B1")],
        ..Default::default()
    });
    let cart = client.recommend(with_cart).await?.into_inner();
    ensure!(
        cart.items[0].product == product_name("B2") || cart.items[0].product == product_name("B3"),
        "{cart:?}"
    );
    ensure!(
        cart.items[0].reasons[0].kind == rec::ReasonKind::Complement as i32,
        "{cart:?}"
    );
    ensure!(cart.items.iter().all(|i| i.product != product_name("B1")));

    // SimilarItems under the same rules.
    let similar = client
        .similar_items(rec::SimilarItemsRequest {
            parent: M.to_owned(),
            product: product_name("A1"),
            count: 10,
            country_code: "DE".into(),
            model: String::new(),
        })
        .await?
        .into_inner();
    let sim: Vec<&str> = similar.items.iter().map(|i| sku_of(&i.product)).collect();
    ensure!(
        sim.contains(&"A2") && !sim.contains(&"NOSHIP") && !sim.contains(&"OOS"),
        "{sim:?}"
    );

    // Invalid input: field violations, per field.
    let bad = client
        .recommend(rec::RecommendRequest {
            parent: "merchant/acme".into(),
            count: 500,
            context: Some(rec::RecommendationContext {
                country_code: "Germany".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect_err("invalid");
    ensure!(bad.code() == Code::InvalidArgument);
    let fields = violated_fields(&bad);
    for f in ["parent", "count", "context.country_code"] {
        ensure!(fields.contains(&f.to_owned()), "{f} not in {fields:?}");
    }
    let bad = client
        .start_training(rec::StartTrainingRequest {
            parent: M.to_owned(),
            config: Some(rec::TrainingConfig {
                kind: rec::ModelKind::Als as i32,
                hyperparameters: [("lambda".to_string(), "5".to_string())].into(),
                ..Default::default()
            }),
        })
        .await
        .expect_err("unknown hyper-parameter");
    ensure!(
        violated_fields(&bad) == ["config.hyperparameters[lambda]"],
        "{bad:?}"
    );

    // Stock runs out after training: the catalogue refresh removes B2 within a poll.
    let mut b2 = product(&CATALOGUE[7]);
    b2.stock_quantity = 0;
    env.client
        .batch_upsert_products(ing::BatchUpsertProductsRequest {
            parent: M.to_owned(),
            products: vec![b2],
            validate_only: false,
        })
        .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let g = skus(&mut client, recommend_request("gard05", "DE")).await?;
        if !g.contains(&"B2".to_owned()) {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "B2 still served after its stock ran out: {g:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A second replica loads the serving version on start.
    let replica = start_recommendation(&env, dir.path())?;
    let mut replica_client = RecommendationServiceClient::new(replica.channel().await?);
    let first_version = replica_client
        .recommend(recommend_request("jane", ""))
        .await?
        .into_inner()
        .model;
    ensure!(
        first_version == job.model,
        "{first_version} vs {}",
        job.model
    );

    // Swap under load: a client loops Recommend while a BLEND model trains and deploys. It
    // makes about as many calls per second as a key may by default: its own key has a
    // limit well above that, so every failure is the swap's.
    let looping_key = caravan_integration_tests::create_api_key_with_rate_limit(
        &env.db.url,
        "acme",
        "read",
        Some(1_000_000),
    )?;
    let channel = server.channel_with_key(Some(&looping_key)).await?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let looper = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut c = RecommendationServiceClient::new(channel);
            let (mut ok, mut failed, mut versions) = (0u64, Vec::new(), HashSet::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match c.recommend(recommend_request("jane", "")).await {
                    Ok(r) => {
                        ok += 1;
                        versions.insert(r.into_inner().model);
                    }
                    Err(e) => failed.push(e),
                }
            }
            anyhow::Ok((ok, failed, versions))
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = train(&mut client, rec::ModelKind::Blend, true).await?;
    ensure!(second.model != job.model, "a new version: {second:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (ok, failed, versions) = looper.await?.context("looping client")?;
    ensure!(
        failed.is_empty(),
        "failed calls during the swap: {failed:?}"
    );
    ensure!(ok > 10, "the loop ran ({ok} calls)");
    ensure!(
        versions.contains(&job.model) && versions.contains(&second.model),
        "both versions served: {versions:?}"
    );
    // The other replica follows by polling.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = replica_client
            .recommend(recommend_request("jane", ""))
            .await?
            .into_inner()
            .model;
        if v == second.model {
            break;
        }
        ensure!(Instant::now() < deadline, "replica still on {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let listed = client
        .list_models(rec::ListModelsRequest {
            parent: M.to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    ensure!(
        listed.models.len() == 2 && listed.serving_model == second.model,
        "{listed:?}"
    );
    let blends = client
        .list_models(rec::ListModelsRequest {
            parent: M.to_owned(),
            filter: "kind = BLEND".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .models;
    ensure!(
        blends.len() == 1 && blends[0].name == second.model,
        "{blends:?}"
    );
    let succeeded = client
        .list_training_jobs(rec::ListTrainingJobsRequest {
            parent: M.to_owned(),
            filter: "state = SUCCEEDED".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .training_jobs;
    ensure!(succeeded.len() == 2, "{succeeded:?}");
    let failed_jobs = client
        .list_training_jobs(rec::ListTrainingJobsRequest {
            parent: M.to_owned(),
            filter: "state = TRAINING_JOB_STATE_FAILED".into(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .training_jobs;
    ensure!(failed_jobs.is_empty(), "{failed_jobs:?}");

    // Roll back with DeployModel.
    let back = client
        .deploy_model(rec::DeployModelRequest {
            name: job.model.clone(),
        })
        .await?
        .into_inner();
    ensure!(back.serving);
    let v = client
        .recommend(recommend_request("jane", ""))
        .await?
        .into_inner()
        .model;
    ensure!(v == job.model, "rolled back: {v}");

    // Evaluate on a time split inside the seeded data.
    let evaluation = client
        .evaluate(rec::EvaluateRequest {
            parent: M.to_owned(),
            configs: vec![rec::TrainingConfig {
                kind: rec::ModelKind::ItemCf as i32,
                ..Default::default()
            }],
            cutoff_time: at(25),
            k: 5,
            ..Default::default()
        })
        .await?
        .into_inner();
    let m = evaluation.evaluations[0].metrics.context("metrics")?;
    // 18 candle buyers had A1 before the cut-off and bought A3 after it; A3 co-occurs with
    // A1 (the six early buyers), so item-CF ranks it first for them: hit rate 18/24.
    ensure!(m.evaluated_customer_count >= 24, "{m:?}");
    ensure!(m.hit_rate > 0.5 && m.ndcg > 0.0, "{m:?}");
    Ok(())
}

/// Polls GetProfile until the customer has an RFM segment; returns its segment ids.
async fn scored_segments(
    client: &mut ProfilingServiceClient<Channel>,
    customer: &str,
) -> Result<Vec<String>> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = client
            .get_profile(prof::GetProfileRequest {
                name: format!("{M}/customers/{customer}/profile"),
                view: prof::ProfileView::Basic as i32,
                reveal_pii: false,
            })
            .await;
        if let Ok(p) = &answer
            && p.get_ref()
                .transactions
                .as_ref()
                .and_then(|t| t.rfm.as_ref())
                .is_some_and(|r| r.segment != 0)
            && !p.get_ref().segments.is_empty()
        {
            return Ok(p
                .get_ref()
                .segments
                .iter()
                .map(|s| sku_of(s).to_owned())
                .collect());
        }
        ensure!(
            Instant::now() < deadline,
            "{customer} not scored in 60 s: {answer:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What each seeded customer bought (order lines), by customer id.
fn seeded_purchases() -> Vec<(String, Vec<&'static str>)> {
    let mut out: Vec<(String, Vec<&'static str>)> = Vec::new();
    for u in 0..24 {
        let skus = vec!["A1", "A2", "NOSHIP", "WINE", "A3", "OOS"];
        out.push((format!("cand{u:02}"), skus));
    }
    for u in 0..10 {
        out.push((format!("gard{u:02}"), vec!["B1", "B2", "B3"]));
    }
    out.push(("jane".into(), vec!["A1"]));
    out.push(("omar".into(), vec!["A1"]));
    out
}

/// With profiling running: the model learns popularity per RFM segment from the profiles,
/// and a customer unknown to the model but already scored by profiling (here: whose only
/// order is after the training window) gets what the customers of their segment buy, with
/// that reason.
#[tokio::test(flavor = "multi_thread")]
async fn a_customer_new_to_the_model_gets_their_segments_favourites() -> Result<()> {
    let Some(mut env) = ingestion_env::start(&[]).await? else {
        return Ok(());
    };
    seed(&mut env).await?;
    // The newcomer's one order is today; every seeded event is at least 3 days old.
    env.client
        .batch_ingest_events(ing::BatchIngestEventsRequest {
            parent: M.to_owned(),
            events: vec![order("new-1", "newcomer", 0, &["B1"])],
            validate_only: false,
        })
        .await?;
    let dir = tempfile::tempdir()?;
    let profiling = ServerProcess::start(
        "caravan-profiling",
        &[],
        &[
            ("CARAVAN__DATABASE__URL", env.db.url.as_str()),
            ("CARAVAN__DATABASE__MIGRATE_ON_START", "false"),
            ("CARAVAN__PROFILING__CONSUMER_POLL_MS", "100"),
        ],
        dir.path(),
    )?;
    let profiling_addr = profiling.endpoint();
    let server = ServerProcess::start(
        "caravan-recommendation",
        &[],
        &[
            ("CARAVAN__DATABASE__URL", env.db.url.as_str()),
            ("CARAVAN__DATABASE__MIGRATE_ON_START", "false"),
            ("CARAVAN__CLIENTS__PROFILING_ADDR", profiling_addr.as_str()),
            ("CARAVAN__RECOMMENDATION__PROFILE_TIMEOUT_MS", "5000"),
        ],
        dir.path(),
    )?;
    let mut profiles = ProfilingServiceClient::new(profiling.channel().await?);
    let mut client = RecommendationServiceClient::new(server.channel().await?);

    // Everyone scored (the newcomer's order is the latest event, so once it is scored the
    // merchant-wide RFM refresh has seen every order); then each one's built-in segment.
    let newcomer = scored_segments(&mut profiles, "newcomer").await?;
    let mut peers = Vec::new();
    for (customer, bought) in seeded_purchases() {
        let segments = scored_segments(&mut profiles, &customer).await?;
        if segments[0] == newcomer[0] {
            peers.push((customer, bought));
        }
    }
    ensure!(
        !peers.is_empty(),
        "the seeded data puts somebody in the newcomer's segment {newcomer:?}"
    );

    // Train on everything but today: the model has the segments, not the newcomer.
    let job = client
        .start_training(rec::StartTrainingRequest {
            parent: M.to_owned(),
            config: Some(rec::TrainingConfig {
                kind: rec::ModelKind::Ease as i32,
                training_window_end_time: at(1),
                ..Default::default()
            }),
        })
        .await?
        .into_inner();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let j = client
            .get_training_job(rec::GetTrainingJobRequest {
                name: job.name.clone(),
            })
            .await?
            .into_inner();
        if j.state == rec::TrainingJobState::Succeeded as i32 {
            ensure!(j.deployed, "{j:?}");
            break;
        }
        ensure!(
            j.state != rec::TrainingJobState::Failed as i32 && Instant::now() < deadline,
            "{j:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let answer = client
        .recommend(rec::RecommendRequest {
            parent: M.to_owned(),
            customer: format!("{M}/customers/newcomer"),
            count: 5,
            ..Default::default()
        })
        .await?
        .into_inner();
    let by_segment: Vec<&str> = answer
        .items
        .iter()
        .filter(|i| {
            i.reasons[0].kind == rec::ReasonKind::PopularInSegment as i32
                && i.reasons[0].text.contains(newcomer[0].as_str())
        })
        .map(|i| sku_of(&i.product))
        .collect();
    ensure!(
        !by_segment.is_empty(),
        "items explained by the segment {newcomer:?}: {answer:?}"
    );
    ensure!(
        by_segment
            .iter()
            .all(|sku| peers.iter().any(|(_, bought)| bought.contains(sku))),
        "what the {} customers of {newcomer:?} bought: {by_segment:?} ({peers:?})",
        peers.len()
    );
    Ok(())
}
