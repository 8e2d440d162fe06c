//! ScoreStrategies, ScoreSegment (server streaming), SampleStrategy and AllocateBudget.
//! Profiles come from profiling over gRPC; without a profile there is no score
//! (UNAVAILABLE with retry information when profiling is unreachable).

use std::collections::HashMap;
use std::sync::Arc;

use caravan_core::names::parse_child_name;
use caravan_platform::proto_time::to_timestamp;
use caravan_proto::caravan::marketing::v1 as pb;
use caravan_proto::caravan::profiling::v1 as profiling;
use caravan_store::UtcDateTime;
use futures::StreamExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio_stream::wrappers::ReceiverStream;
use tracing::Instrument;

use super::campaigns::posterior_out;
use super::convert::{kind_from_code, money, money_f, money_in, segment_id};
use super::strategies::strategy_ids;
use super::{ScoreStream, ScoringApi, merchant_id_from_name};
use crate::allocation::{self, Choice};
use crate::bandit::{Arm, thompson};
use crate::customer::CustomerFacts;
use crate::error::MarketingError;
use crate::learning_store::{self, PosteriorIndex};
use crate::priors::Priors;
use crate::profile_adapter::facts_from_profile;
use crate::scoring::{Candidate, CustomerScores, Factor, ResponseRate, Score, score_customer};
use crate::strategy_store::{self, StoredStrategy};

/// Customers per ScoreSegment message.
const STREAM_BATCH: usize = 500;
/// Most customers ScoreSegment and AllocateBudget consider.
const MAX_CUSTOMERS: usize = 100_000;
/// Concurrent GetProfile calls when allocating over an explicit customer list.
const PROFILE_CONCURRENCY: usize = 16;

/// Everything scoring needs besides the customer: loaded once per request.
pub(crate) struct ScoringContext {
    merchant_id: String,
    currency: String,
    priors: Priors,
    strategies: Vec<StoredStrategy>,
    posteriors: PosteriorIndex,
    /// (customer id, strategy id) -> contact times within the longest cap period.
    contacts: HashMap<(String, String), Vec<UtcDateTime>>,
}

fn strategy_id_list(
    merchant_id: &str,
    names: &[String],
    field: &str,
) -> Result<Vec<String>, MarketingError> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| match strategy_ids(n, &format!("{field}[{i}]"))? {
            (m, id) if m == merchant_id => Ok(id),
            _ => Err(MarketingError::invalid(
                &format!("{field}[{i}]"),
                "strategy of another merchant",
            )),
        })
        .collect()
}

fn customer_id(name: &str) -> String {
    name.rsplit('/').next().unwrap_or_default().to_owned()
}

impl ScoringContext {
    async fn load(
        api: &ScoringApi,
        merchant_id: &str,
        strategy_ids: &[String],
    ) -> Result<Self, MarketingError> {
        let currency = strategy_store::base_currency(&api.db, merchant_id).await?;
        let (priors, _) = learning_store::priors(&api.db, merchant_id).await?;
        let strategies =
            strategy_store::active_for_scoring(&api.db, merchant_id, strategy_ids).await?;
        let posteriors =
            learning_store::index(learning_store::posteriors(&api.db, merchant_id, &priors).await?);
        Ok(Self {
            merchant_id: merchant_id.to_owned(),
            currency,
            priors,
            strategies,
            posteriors,
            contacts: HashMap::new(),
        })
    }

    /// Loads the contact log of these customers for the frequency caps.
    async fn load_contacts(
        &mut self,
        api: &ScoringApi,
        customers: &[String],
    ) -> Result<(), MarketingError> {
        let longest = self
            .strategies
            .iter()
            .filter_map(|s| s.spec.frequency_cap)
            .map(|c| c.period_seconds)
            .max();
        if let Some(period) = longest {
            let since = UtcDateTime::new(chrono::Utc::now() - chrono::Duration::seconds(period));
            let ids: Vec<String> = customers.iter().map(|c| customer_id(c)).collect();
            self.contacts =
                learning_store::recent_contacts(&api.db, &self.merchant_id, &ids, since).await?;
        }
        Ok(())
    }

    fn candidates(&self, facts: &CustomerFacts) -> Vec<Candidate<'_>> {
        let now = chrono::Utc::now();
        let customer = customer_id(&facts.customer);
        let segments: Vec<&str> = facts.segments.iter().map(String::as_str).collect();
        self.strategies
            .iter()
            .map(|s| {
                let posterior = learning_store::posterior_for(
                    &self.posteriors,
                    &self.priors,
                    &s.spec.id,
                    &segments,
                );
                let contacts_in_period = s.spec.frequency_cap.map_or(0, |cap| {
                    let since = now - chrono::Duration::seconds(cap.period_seconds);
                    self.contacts
                        .get(&(customer.clone(), s.spec.id.clone()))
                        .map_or(0, |times| {
                            times.iter().filter(|t| t.get() >= since).count() as u32
                        })
                });
                Candidate {
                    spec: &s.spec,
                    response: ResponseRate {
                        rate: posterior.posterior.mean(),
                        observed: posterior.impressions > 0,
                    },
                    contacts_in_period,
                }
            })
            .collect()
    }

    fn score(&self, facts: &CustomerFacts) -> CustomerScores {
        score_customer(facts, &self.priors, &self.candidates(facts))
    }

    fn factor_out(f: &Factor) -> pb::ExplanationFactor {
        pb::ExplanationFactor {
            name: f.name.to_owned(),
            value: f.value,
            effect: f.effect,
            source: if f.prior {
                pb::FactorSource::Prior
            } else {
                pb::FactorSource::Observed
            } as i32,
            description: f.description.clone(),
        }
    }

    fn score_out(&self, index: usize, rank: usize, s: &Score) -> pb::StrategyScore {
        let strategy = &self.strategies[index];
        let cur = &self.currency;
        pb::StrategyScore {
            strategy: strategy.spec.name.clone(),
            kind: kind_from_code(strategy.spec.params.kind_code()) as i32,
            rank: rank as i32 + 1,
            baseline_purchase_probability: s.baseline,
            uplift: s.uplift,
            expected_incremental_revenue: Some(money_f(s.revenue, cur)),
            expected_margin: Some(money_f(s.margin, cur)),
            expected_cost: Some(money_f(s.cost, cur)),
            roi: s.roi,
            factors: s.factors.iter().map(Self::factor_out).collect(),
            cost_unknown: s.cost_unknown,
        }
    }

    fn customer_out(
        &self,
        facts: &CustomerFacts,
        scores: &CustomerScores,
        max: usize,
    ) -> pb::CustomerStrategyScores {
        pb::CustomerStrategyScores {
            customer: facts.customer.clone(),
            scores: scores
                .scores
                .iter()
                .take(max)
                .enumerate()
                .map(|(rank, (i, s))| self.score_out(*i, rank, s))
                .collect(),
            skipped: scores
                .skipped
                .iter()
                .map(|(i, reason)| pb::SkippedStrategy {
                    strategy: self.strategies[*i].spec.name.clone(),
                    reason: reason.clone(),
                })
                .collect(),
        }
    }
}

fn customer_of_merchant(
    name: &str,
    merchant_id: &str,
    field: &str,
) -> Result<String, MarketingError> {
    match parse_child_name(name, "customers") {
        Ok((m, _)) if m.as_str() == merchant_id => Ok(name.to_owned()),
        Ok(_) => Err(MarketingError::invalid(
            field,
            "customer of another merchant",
        )),
        Err(e) => Err(MarketingError::invalid(field, e.to_string())),
    }
}

pub async fn score_strategies(
    api: &ScoringApi,
    r: pb::ScoreStrategiesRequest,
) -> Result<pb::ScoreStrategiesResponse, MarketingError> {
    let merchant_id = merchant_id_from_name(&r.parent, "parent")?;
    let customer = customer_of_merchant(&r.customer, &merchant_id, "customer")?;
    if r.max_results < 0 {
        return Err(MarketingError::invalid(
            "max_results",
            "must not be negative",
        ));
    }
    let ids = strategy_id_list(&merchant_id, &r.strategies, "strategies")?;
    let mut ctx = ScoringContext::load(api, &merchant_id, &ids).await?;
    // Scores are recomputed on every call (scoring one customer takes microseconds; the
    // profile call dominates), so `skip_cache` changes nothing and nothing is served stale.
    let profile = api.profiles.profile(&customer).await?;
    ctx.load_contacts(api, std::slice::from_ref(&customer))
        .await?;
    let facts = facts_from_profile(&profile, None);
    let scores = ctx.score(&facts);
    let max = if r.max_results == 0 {
        usize::MAX
    } else {
        r.max_results as usize
    };
    let mut out = ctx.customer_out(&facts, &scores, max);
    out.customer = customer;
    Ok(pb::ScoreStrategiesResponse {
        customer_scores: Some(out),
        served_from_cache: false,
        compute_time: Some(to_timestamp(chrono::Utc::now())),
    })
}

/// Which customers a segment-level request covers.
#[derive(Clone)]
enum Target {
    Segment { name: String, id: String },
    Filter(String),
}

/// Pages through the target's profiles, calling `each_page` with every page; stops after
/// `max` profiles. Returns the total reported by profiling.
async fn page_profiles<F>(
    api: &ScoringApi,
    parent: &str,
    target: &Target,
    max: usize,
    mut each_page: F,
) -> Result<i64, MarketingError>
where
    F: FnMut(Vec<profiling::Profile>, i64) -> std::ops::ControlFlow<()>,
{
    let mut token = String::new();
    let mut seen = 0usize;
    loop {
        let page = match target {
            Target::Segment { name, .. } => api.profiles.segment_members(name, &token).await?,
            Target::Filter(filter) => api.profiles.list_profiles(parent, filter, &token).await?,
        };
        let total = page.total_size.min(max as i64);
        let mut profiles = page.profiles;
        profiles.truncate(max - seen);
        seen += profiles.len();
        if each_page(profiles, total).is_break() || page.next_page_token.is_empty() || seen >= max {
            return Ok(total);
        }
        token = page.next_page_token;
    }
}

fn target_of(
    merchant_id: &str,
    segment: Option<&str>,
    filter: Option<&str>,
) -> Result<Target, MarketingError> {
    match (segment, filter) {
        (Some(name), _) => {
            let mut v = caravan_platform::FieldViolations::new();
            let id = segment_id(name, merchant_id, "segment", &mut v);
            v.into_result()?;
            Ok(Target::Segment {
                name: name.to_owned(),
                id,
            })
        }
        (None, Some(filter)) => {
            // Syntax and size are checked here, before any call; profiling checks the fields.
            caravan_core::filter::parse(filter)
                .map_err(|why| MarketingError::invalid("filter", why))?;
            Ok(Target::Filter(filter.to_owned()))
        }
        (None, None) => Err(MarketingError::invalid(
            "target",
            "segment or filter is required",
        )),
    }
}

pub async fn score_segment(
    api: &ScoringApi,
    r: pb::ScoreSegmentRequest,
) -> Result<ScoreStream, MarketingError> {
    use pb::score_segment_request::Target as T;
    let merchant_id = merchant_id_from_name(&r.parent, "parent")?;
    let target = match &r.target {
        Some(T::Segment(s)) => target_of(&merchant_id, Some(s), None)?,
        Some(T::Filter(f)) => target_of(&merchant_id, None, Some(f))?,
        None => target_of(&merchant_id, None, None)?,
    };
    let per_customer = match r.max_results_per_customer {
        0 => 3,
        n if n > 0 => n as usize,
        _ => {
            return Err(MarketingError::invalid(
                "max_results_per_customer",
                "must not be negative",
            ));
        }
    };
    let max_customers = match r.max_customers {
        0 => MAX_CUSTOMERS,
        n if n > 0 && n as usize <= MAX_CUSTOMERS => n as usize,
        _ => {
            return Err(MarketingError::invalid(
                "max_customers",
                format!("must be 1 to {MAX_CUSTOMERS}"),
            ));
        }
    };
    let ids = strategy_id_list(&merchant_id, &r.strategies, "strategies")?;
    let ctx = ScoringContext::load(api, &merchant_id, &ids).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let api = api.clone();
    let parent = r.parent.clone();
    let task = async move {
        let mut ctx = ctx;
        let mut scored = 0i64;
        let extra = match &target {
            Target::Segment { id, .. } => Some(id.clone()),
            Target::Filter(_) => None,
        };
        // One page of profiles at a time: fetch, score, send; memory stays bounded.
        let mut pager = page_profiles_streaming(&api, &parent, &target, max_customers);
        let result: Result<(), MarketingError> = loop {
            let (profiles, total) = match pager.next_page().await {
                Ok(Some(page)) => page,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            };
            let names: Vec<String> = profiles.iter().map(|p| p.customer.clone()).collect();
            if let Err(e) = ctx.load_contacts(&api, &names).await {
                break Err(e);
            }
            for chunk in profiles.chunks(STREAM_BATCH) {
                let customer_scores: Vec<pb::CustomerStrategyScores> = chunk
                    .iter()
                    .map(|p| {
                        let facts = facts_from_profile(p, extra.as_deref());
                        ctx.customer_out(&facts, &ctx.score(&facts), per_customer)
                    })
                    .collect();
                scored += customer_scores.len() as i64;
                let message = pb::ScoreSegmentResponse {
                    customer_scores,
                    scored_count: scored,
                    total_count: total,
                };
                if tx.send(Ok(message)).await.is_err() {
                    return; // the caller went away
                }
            }
        };
        if let Err(e) = result {
            let _ = tx.send(Err(tonic::Status::from(e))).await;
        }
    };
    tokio::spawn(task.instrument(tracing::Span::current()));
    Ok(Box::pin(ReceiverStream::new(rx)))
}

/// Pull-style paging over profiling, for the streaming RPC.
struct ProfilePager<'a> {
    api: &'a ScoringApi,
    parent: &'a str,
    target: &'a Target,
    max: usize,
    seen: usize,
    token: Option<String>,
}

fn page_profiles_streaming<'a>(
    api: &'a ScoringApi,
    parent: &'a str,
    target: &'a Target,
    max: usize,
) -> ProfilePager<'a> {
    ProfilePager {
        api,
        parent,
        target,
        max,
        seen: 0,
        token: Some(String::new()),
    }
}

impl ProfilePager<'_> {
    async fn next_page(
        &mut self,
    ) -> Result<Option<(Vec<profiling::Profile>, i64)>, MarketingError> {
        let Some(token) = self.token.take() else {
            return Ok(None);
        };
        if self.seen >= self.max {
            return Ok(None);
        }
        let page = match self.target {
            Target::Segment { name, .. } => self.api.profiles.segment_members(name, &token).await?,
            Target::Filter(filter) => {
                self.api
                    .profiles
                    .list_profiles(self.parent, filter, &token)
                    .await?
            }
        };
        let mut profiles = page.profiles;
        profiles.truncate(self.max - self.seen);
        self.seen += profiles.len();
        if !page.next_page_token.is_empty() {
            self.token = Some(page.next_page_token);
        }
        Ok(Some((profiles, page.total_size.min(self.max as i64))))
    }
}

pub async fn sample_strategy(
    api: &ScoringApi,
    r: pb::SampleStrategyRequest,
) -> Result<pb::SampleStrategyResponse, MarketingError> {
    use pb::sample_strategy_request::Target as T;
    let merchant_id = merchant_id_from_name(&r.parent, "parent")?;
    let ids = strategy_id_list(&merchant_id, &r.strategies, "strategies")?;
    let mut rng = if r.seed == 0 {
        StdRng::from_os_rng()
    } else {
        StdRng::seed_from_u64(r.seed as u64)
    };
    let mut ctx = ScoringContext::load(api, &merchant_id, &ids).await?;
    // (strategy index, posterior, value per conversion)
    let arms: Vec<(usize, learning_store::Posterior, f64)> = match &r.target {
        Some(T::Customer(name)) => {
            let customer = customer_of_merchant(name, &merchant_id, "customer")?;
            let profile = api.profiles.profile(&customer).await?;
            ctx.load_contacts(api, std::slice::from_ref(&customer))
                .await?;
            let facts = facts_from_profile(&profile, None);
            let scores = ctx.score(&facts);
            let v = facts.order_value();
            let segments: Vec<&str> = facts.segments.iter().map(String::as_str).collect();
            scores
                .scores
                .iter()
                .map(|(i, _)| {
                    let spec = &ctx.strategies[*i].spec;
                    let posterior = learning_store::posterior_for(
                        &ctx.posteriors,
                        &ctx.priors,
                        &spec.id,
                        &segments,
                    );
                    // Margin of one conversion: order value x margin rate minus the cost
                    // model's per-conversion costs.
                    let per_conversion = v * ctx.priors.gross_margin_rate
                        - spec.cost.variable_cost_rate * v
                        - spec.cost.cost_per_conversion as f64;
                    (*i, posterior, per_conversion)
                })
                .collect()
        }
        Some(T::Segment(name)) => {
            let mut v = caravan_platform::FieldViolations::new();
            let seg = segment_id(name, &merchant_id, "segment", &mut v);
            v.into_result()?;
            // Without a customer there is no order value: the sampled rate alone decides.
            (0..ctx.strategies.len())
                .map(|i| {
                    (
                        i,
                        learning_store::posterior_for(
                            &ctx.posteriors,
                            &ctx.priors,
                            &ctx.strategies[i].spec.id,
                            &[seg.as_str()],
                        ),
                        1.0,
                    )
                })
                .collect()
        }
        None => {
            return Err(MarketingError::invalid(
                "target",
                "customer or segment is required",
            ));
        }
    };
    let bandit: Vec<Arm> = arms
        .iter()
        .map(|(_, p, v)| Arm {
            posterior: p.posterior,
            value_per_conversion: *v,
        })
        .collect();
    let draws = thompson(&bandit, &mut rng);
    let samples: Vec<pb::ArmSample> = draws
        .iter()
        .map(|d| {
            let (i, posterior, _) = &arms[d.arm];
            pb::ArmSample {
                strategy: ctx.strategies[*i].spec.name.clone(),
                posterior: Some(posterior_out(&merchant_id, posterior)),
                sampled_conversion_rate: d.sampled_rate,
                sampled_value: d.sampled_value,
            }
        })
        .collect();
    Ok(pb::SampleStrategyResponse {
        strategy: samples
            .first()
            .map(|s| s.strategy.clone())
            .unwrap_or_default(),
        samples,
    })
}

pub async fn allocate_budget(
    api: &ScoringApi,
    r: pb::AllocateBudgetRequest,
) -> Result<pb::AllocateBudgetResponse, MarketingError> {
    let merchant_id = merchant_id_from_name(&r.parent, "parent")?;
    let mut v = caravan_platform::FieldViolations::new();
    let base = strategy_store::base_currency(&api.db, &merchant_id).await?;
    if r.budget.is_none() {
        v.add("budget", "is required");
    }
    let budget = money_in(r.budget.as_ref(), &base, "budget", &mut v);
    if r.segment.is_empty() == r.customers.is_empty() {
        v.add("segment", "set exactly one of segment or customers");
    }
    if r.customers.len() > MAX_CUSTOMERS {
        v.add("customers", format!("at most {MAX_CUSTOMERS}"));
    }
    if !r.min_roi.is_finite() {
        v.add("min_roi", "must be a number");
    }
    for (i, c) in r.customers.iter().enumerate() {
        if let Err(MarketingError::Invalid(inner)) =
            customer_of_merchant(c, &merchant_id, &format!("customers[{i}]"))
        {
            v.extend_prefixed("", inner);
        }
    }
    let objective = pb::AllocationObjective::try_from(r.objective)
        .map_err(|_| MarketingError::invalid("objective", "unknown objective"))?;
    v.into_result()?;
    let ids = strategy_id_list(&merchant_id, &r.strategies, "strategies")?;
    let mut ctx = ScoringContext::load(api, &merchant_id, &ids).await?;

    // Gather the facts of every customer considered.
    let mut facts: Vec<CustomerFacts> = Vec::new();
    if r.segment.is_empty() {
        let unique: Vec<String> = {
            let mut seen = std::collections::HashSet::new();
            r.customers
                .iter()
                .filter(|c| seen.insert((*c).clone()))
                .cloned()
                .collect()
        };
        let source = Arc::new(api.profiles.clone());
        let fetched: Vec<Result<profiling::Profile, MarketingError>> =
            futures::stream::iter(unique.into_iter().map(|c| {
                let source = Arc::clone(&source);
                async move { source.profile(&c).await }
            }))
            .buffered(PROFILE_CONCURRENCY)
            .collect()
            .await;
        for p in fetched {
            facts.push(facts_from_profile(&p?, None));
        }
    } else {
        let target = target_of(&merchant_id, Some(&r.segment), None)?;
        let extra = match &target {
            Target::Segment { id, .. } => Some(id.clone()),
            Target::Filter(_) => None,
        };
        page_profiles(api, &r.parent, &target, MAX_CUSTOMERS, |page, _| {
            facts.extend(page.iter().map(|p| facts_from_profile(p, extra.as_deref())));
            std::ops::ControlFlow::Continue(())
        })
        .await?;
    }
    let names: Vec<String> = facts.iter().map(|f| f.customer.clone()).collect();
    ctx.load_contacts(api, &names).await?;

    let value_of = |s: &Score| match objective {
        pb::AllocationObjective::IncrementalRevenue => s.revenue,
        pb::AllocationObjective::Conversions => s.uplift,
        _ => s.margin,
    };
    // Per customer: the strategies that may be applied and are not loss-making beyond
    // min_roi, as knapsack choices with the cost rounded up to whole minor units. A budget
    // cannot hold a cost that is not known: those scores are left out.
    let mut options: Vec<Vec<(usize, Score)>> = Vec::with_capacity(facts.len());
    let mut choices: Vec<Vec<Choice>> = Vec::with_capacity(facts.len());
    for f in &facts {
        let scored: Vec<(usize, Score)> = ctx
            .score(f)
            .scores
            .into_iter()
            .filter(|(_, s)| !s.cost_unknown && (s.cost <= 0.0 || s.roi >= r.min_roi))
            .collect();
        choices.push(
            scored
                .iter()
                .map(|(_, s)| Choice {
                    cost: s.cost.max(0.0).ceil() as u64,
                    value: value_of(s),
                })
                .collect(),
        );
        options.push(scored);
    }
    let plan = allocation::allocate(&choices, budget.max(0) as u64);
    tracing::info!(
        exact = plan.exact,
        value = plan.total_value,
        upper_bound = plan.upper_bound,
        "budget allocation solved"
    );

    let cur = &ctx.currency;
    let mut rows: Vec<(f64, pb::BudgetAllocation)> = Vec::new();
    let (mut revenue, mut margin, mut conversions) = (0.0, 0.0, 0.0);
    for (ci, pick) in plan.picks.iter().enumerate() {
        let Some(k) = pick else { continue };
        let (si, s) = &options[ci][*k];
        let cost = choices[ci][*k].cost as i64;
        revenue += s.revenue;
        margin += s.revenue * ctx.priors.gross_margin_rate - cost as f64;
        conversions += s.uplift;
        rows.push((
            choices[ci][*k].value,
            pb::BudgetAllocation {
                customer: facts[ci].customer.clone(),
                strategy: ctx.strategies[*si].spec.name.clone(),
                expected_cost: Some(money(cost, cur)),
                expected_incremental_revenue: Some(money_f(s.revenue, cur)),
                expected_margin: Some(money_f(
                    s.revenue * ctx.priors.gross_margin_rate - cost as f64,
                    cur,
                )),
                uplift: s.uplift,
            },
        ));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let used = plan.total_cost as i64;
    Ok(pb::AllocateBudgetResponse {
        allocated_customer_count: rows.len() as i64,
        allocations: rows.into_iter().map(|(_, a)| a).collect(),
        budget: Some(money(budget, cur)),
        budget_used: Some(money(used, cur)),
        expected_incremental_revenue: Some(money_f(revenue, cur)),
        expected_margin: Some(money_f(margin, cur)),
        expected_roi: if used > 0 { margin / used as f64 } else { 0.0 },
        expected_conversions: conversions,
        considered_customer_count: facts.len() as i64,
    })
}
