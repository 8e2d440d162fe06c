//! Marketing on the full UCI Online Retail data: `caravan import online-retail` into a real
//! `caravan serve` on MariaDB, profiling builds the profiles, then ScoreSegment over all
//! customers completes (every profiled customer scored once) and AllocateBudget over all of
//! them stays within the budget, with `budget_used` exactly the sum of the assignments.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use caravan_integration_tests::ServerProcess;
use caravan_integration_tests::mysql::TestDatabase;
use caravan_integration_tests::online_retail;
use caravan_proto::caravan::common::v1 as common;
use caravan_proto::caravan::marketing::v1 as pb;
use caravan_proto::caravan::marketing::v1::strategy_scoring_service_client::StrategyScoringServiceClient;
use caravan_proto::caravan::profiling::v1 as prof;
use caravan_proto::caravan::profiling::v1::profiling_service_client::ProfilingServiceClient;
use tokio_stream::StreamExt;

const MERCHANT: &str = "uci-retail";
const PARENT: &str = "merchants/uci-retail";

fn gbp(amount: i64) -> Option<common::Money> {
    Some(common::Money {
        currency_code: "GBP".to_owned(),
        amount_minor: amount,
    })
}

/// All customers with a profile, once the count has stopped growing.
/// Free shipping on data without shipping costs: marked cost-unknown, and ranked after
/// every strategy whose cost is known.
fn check_unknown_cost_ranks_last(c: &pb::CustomerStrategyScores) -> Result<()> {
    let mut known_seen_after_unknown = false;
    let mut unknown_seen = false;
    for s in &c.scores {
        let free_shipping = s.strategy.ends_with("/free-shipping");
        ensure!(
            s.cost_unknown == free_shipping,
            "{}: {} cost_unknown = {}",
            c.customer,
            s.strategy,
            s.cost_unknown
        );
        known_seen_after_unknown |= unknown_seen && !s.cost_unknown;
        unknown_seen |= s.cost_unknown;
    }
    ensure!(
        !known_seen_after_unknown,
        "{}: an unknown cost ranked before a known one: {:?}",
        c.customer,
        c.scores
    );
    Ok(())
}

async fn settled_profiles(
    client: &mut ProfilingServiceClient<caravan_integration_tests::Channel>,
) -> Result<Vec<String>> {
    let start = Instant::now();
    let (mut last, mut stable) = (-1i64, 0);
    loop {
        let total = client
            .list_profiles(prof::ListProfilesRequest {
                parent: PARENT.to_owned(),
                page_size: 1,
                ..Default::default()
            })
            .await?
            .into_inner()
            .total_size;
        stable = if total == last && total > 4_000 {
            stable + 1
        } else {
            0
        };
        last = total;
        if stable >= 5 {
            break;
        }
        if start.elapsed() > Duration::from_secs(1_200) {
            bail!("profiles did not settle in 20 min (last count {total})");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_profiles(prof::ListProfilesRequest {
                parent: PARENT.to_owned(),
                page_size: 500,
                page_token: token,
                ..Default::default()
            })
            .await?
            .into_inner();
        names.extend(page.profiles.into_iter().map(|p| p.customer));
        if page.next_page_token.is_empty() {
            return Ok(names);
        }
        token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn score_segment_and_budget_plan_over_all_online_retail_customers() -> Result<()> {
    let Some(db) = TestDatabase::create().await? else {
        return Ok(());
    };
    ensure!(
        online_retail::data_file().is_file(),
        "{} is missing",
        online_retail::data_file().display()
    );
    let workdir = tempfile::tempdir()?;
    // AllocateBudget scores all 4,372 customers in one call: a debug build on a busy 2-core
    // machine needs more than the default 30 s request timeout for it.
    let server = ServerProcess::start(
        "caravan",
        &["serve"],
        &[
            ("CARAVAN__DATABASE__URL", db.url.as_str()),
            ("CARAVAN__SERVER__REQUEST_TIMEOUT_MS", "180000"),
        ],
        workdir.path(),
    )?;
    let output = online_retail::run_import(MERCHANT, &server, workdir.path(), &[])?;
    ensure!(
        output.status.success(),
        "import failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );

    let mut profiling = ProfilingServiceClient::new(server.channel().await?);
    let customers = settled_profiles(&mut profiling).await?;
    let mut client = StrategyScoringServiceClient::new(server.channel().await?);
    let strategies = [
        (
            "tracking",
            pb::StrategyKind::TrackingUpgrade,
            pb::strategy::Parameters::TrackingUpgrade(pb::TrackingUpgradeParameters {
                real_time_tracking: true,
                proactive_delay_notifications: true,
            }),
        ),
        (
            "coupon-10",
            pb::StrategyKind::Coupon,
            pb::strategy::Parameters::Coupon(pb::CouponParameters {
                discount: Some(pb::coupon_parameters::Discount::PercentOff(10.0)),
                min_spend: None,
                validity: None,
            }),
        ),
        // The data has no shipping costs: free shipping's cost is unknown, never free.
        (
            "free-shipping",
            pb::StrategyKind::FreeShipping,
            pb::strategy::Parameters::FreeShipping(pb::FreeShippingParameters::default()),
        ),
        (
            "loyalty-points",
            pb::StrategyKind::LoyaltyPoints,
            pb::strategy::Parameters::LoyaltyPoints(pb::LoyaltyPointsParameters {
                points: 200,
                points_value: gbp(200),
            }),
        ),
    ];
    for (id, kind, parameters) in strategies {
        client
            .create_strategy(pb::CreateStrategyRequest {
                parent: PARENT.to_owned(),
                strategy_id: id.to_owned(),
                strategy: Some(pb::Strategy {
                    display_name: id.to_owned(),
                    kind: kind as i32,
                    parameters: Some(parameters),
                    cost_model: Some(pb::CostModel {
                        fixed_cost_per_contact: gbp(3),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            })
            .await?;
    }

    // Every score of a few customers, free shipping included: cost unknown, ranked last.
    for customer in customers.iter().take(20) {
        let scored = client
            .score_strategies(pb::ScoreStrategiesRequest {
                parent: PARENT.to_owned(),
                customer: customer.clone(),
                ..Default::default()
            })
            .await?
            .into_inner()
            .customer_scores
            .context("customer scores")?;
        check_unknown_cost_ranks_last(&scored)?;
        ensure!(
            scored
                .scores
                .last()
                .is_some_and(|s| s.strategy.ends_with("/free-shipping")),
            "{customer}: {:?}",
            scored.scores
        );
    }

    // ScoreSegment over everyone: each profiled customer exactly once.
    let mut stream = client
        .score_segment(pb::ScoreSegmentRequest {
            parent: PARENT.to_owned(),
            target: Some(pb::score_segment_request::Target::Filter(String::new())),
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut seen = HashSet::new();
    let mut last = (0, 0);
    while let Some(message) = stream.next().await {
        let message = message?;
        ensure!(message.customer_scores.len() <= 500);
        for c in &message.customer_scores {
            ensure!(seen.insert(c.customer.clone()), "{} twice", c.customer);
            ensure!(c.scores.len() <= 3);
            check_unknown_cost_ranks_last(c)?;
        }
        last = (message.scored_count, message.total_count);
    }
    ensure!(
        seen.len() == customers.len(),
        "{} of {}",
        seen.len(),
        customers.len()
    );
    ensure!(
        last == (customers.len() as i64, customers.len() as i64),
        "{last:?}"
    );

    // The budget plan over all customers.
    // £50: less than everyone's best option costs, so the budget binds.
    let budget = 5_000;
    let planning = Instant::now();
    let plan = client
        .allocate_budget(pb::AllocateBudgetRequest {
            parent: PARENT.to_owned(),
            budget: gbp(budget),
            customers: customers.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    eprintln!(
        "AllocateBudget over {} customers: {:?}",
        customers.len(),
        planning.elapsed()
    );
    let used = plan.budget_used.as_ref().map_or(-1, |m| m.amount_minor);
    let sum: i64 = plan
        .allocations
        .iter()
        .map(|a| a.expected_cost.as_ref().map_or(0, |m| m.amount_minor))
        .sum();
    ensure!(
        used == sum && used <= budget,
        "used {used}, sum {sum}, budget {budget}"
    );
    ensure!(plan.considered_customer_count == customers.len() as i64);
    ensure!(
        plan.allocated_customer_count > 0 && plan.allocated_customer_count < customers.len() as i64,
        "the budget binds: {} of {} allocated",
        plan.allocated_customer_count,
        customers.len()
    );
    ensure!(
        plan.allocations
            .iter()
            .all(|a| !a.strategy.ends_with("/free-shipping")),
        "a cost that is not known is not planned"
    );
    let unique: HashSet<_> = plan.allocations.iter().map(|a| &a.customer).collect();
    ensure!(
        unique.len() == plan.allocations.len(),
        "one strategy per customer"
    );
    println!(
        "online retail: {} customers scored; plan: {} customers, {used} of {budget} pence, margin {:?}",
        seen.len(),
        plan.allocated_customer_count,
        plan.expected_margin
    );
    drop(server);
    Ok(())
}
