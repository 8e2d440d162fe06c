//! `caravan-rec-eval`: offline evaluation of the recommendation models on the UCI Online
//! Retail file with a time split. Hyper-parameters and blend weights are chosen on a
//! validation split inside the training period (train < `--val-cutoff`, validate on
//! purchases in [`--val-cutoff`, `--cutoff`)); the chosen settings are then refit on
//! everything before `--cutoff` and scored once on the test period (≥ `--cutoff`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use caravan_recommendation::engine::als::{Als, AlsConfig};
use caravan_recommendation::engine::blend::{Blend, search_weights};
use caravan_recommendation::engine::ease::Ease;
use caravan_recommendation::engine::evaluate::{Split, evaluate};
use caravan_recommendation::engine::interactions::WeightConfig;
use caravan_recommendation::engine::item_cf::ItemCf;
use caravan_recommendation::engine::metrics::Metrics;
use caravan_recommendation::engine::online_retail;
use caravan_recommendation::engine::popularity::{Popularity, PopularityScope};
use caravan_recommendation::engine::scoring::{Recommender, UserContext};
use clap::Parser;
use serde::Serialize;

#[derive(Parser, Debug)]
#[command(
    name = "caravan-rec-eval",
    about = "Offline evaluation of the recommendation models on Online Retail"
)]
struct Args {
    #[arg(long, default_value = "data/online_retail/online_retail.csv.gz")]
    data: PathBuf,
    /// Train before this date, test from it.
    #[arg(long, default_value = "2011-09-01")]
    cutoff: String,
    /// Validation split inside the training period: train before, validate from it to --cutoff.
    #[arg(long, default_value = "2011-06-01")]
    val_cutoff: String,
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Half-life of the time decay in days (0 = no decay).
    #[arg(long, default_value_t = 180.0)]
    half_life_days: f64,
    /// Write the results as JSON here.
    #[arg(long, default_value = "target/rec-eval.json")]
    json: PathBuf,
    /// Smaller grids (for a smoke run).
    #[arg(long)]
    quick: bool,
}

#[derive(Serialize)]
struct Row {
    model: String,
    config: String,
    metrics: Metrics,
    train_seconds: f64,
}

#[derive(Serialize)]
struct Report {
    k: usize,
    cutoff: String,
    val_cutoff: String,
    half_life_days: f64,
    train_users: usize,
    train_items: usize,
    train_nnz: usize,
    test_users: usize,
    validation: BTreeMap<String, f64>,
    blend_weights: BTreeMap<String, f32>,
    test: Vec<Row>,
    serve_micros_per_user: BTreeMap<String, f64>,
}

fn date(s: &str) -> anyhow::Result<i64> {
    online_retail::parse_time(&format!("{s} 00:00:00")).with_context(|| format!("bad date {s}"))
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed().as_secs_f64())
}

fn best<C: Copy + std::fmt::Debug>(results: &[(C, f64)]) -> C {
    results
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|r| r.0)
        .expect("non-empty grid")
}

/// Mean microseconds to score + rank one user (single thread), over the first 200 test users.
fn serve_micros(model: &dyn Recommender, split: &Split, k: usize) -> f64 {
    let users: Vec<u32> = split.truth.iter().take(200).map(|t| t.0).collect();
    let n = split.train.n_items();
    let t = Instant::now();
    for &u in &users {
        let ctx: UserContext<'_> = split.context(u);
        let mut s = vec![0f32; n];
        model.score(&ctx, &mut s);
        std::hint::black_box(caravan_recommendation::engine::scoring::top_k(&s, k, |i| {
            ctx.items.binary_search(&i).is_err()
        }));
    }
    t.elapsed().as_secs_f64() * 1e6 / users.len().max(1) as f64
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cutoff = date(&args.cutoff)?;
    let val_cutoff = date(&args.val_cutoff)?;
    let cfg = WeightConfig {
        half_life_days: (args.half_life_days > 0.0).then_some(args.half_life_days),
        ..WeightConfig::default()
    };
    let k = args.k;
    let (data, load_s) = timed(|| online_retail::load(&args.data));
    let data = data?;
    eprintln!(
        "loaded {} interactions in {load_s:.1}s",
        data.interactions.len()
    );
    let val = Split::new(
        &data.interactions,
        val_cutoff,
        cutoff,
        &cfg,
        &data.countries,
    );
    let test = Split::new(&data.interactions, cutoff, i64::MAX, &cfg, &data.countries);
    eprintln!(
        "validation: {} users x {} items, {} evaluated; test: {} users x {} items ({} nnz), {} evaluated",
        val.train.n_users(),
        val.train.n_items(),
        val.truth.len(),
        test.train.n_users(),
        test.train.n_items(),
        test.train.by_user.nnz(),
        test.truth.len()
    );
    let mut validation = BTreeMap::new();
    let no_segments = |s: &Split| vec![None; s.train.n_users()];

    // --- Validation: hyper-parameters per model.
    let lambdas: &[f64] = if args.quick {
        &[200.0]
    } else {
        &[50.0, 200.0, 500.0, 1000.0]
    };
    let mut ease_results = Vec::new();
    for &lambda in lambdas {
        for binary in [true, false] {
            let (m, s) = timed(|| Ease::fit(&val.train, lambda, binary));
            let ndcg = evaluate(&m, &val, k).ndcg;
            eprintln!("val ease lambda={lambda} binary={binary}: ndcg={ndcg:.4} ({s:.1}s)");
            validation.insert(format!("ease lambda={lambda} binary={binary}"), ndcg);
            ease_results.push(((lambda, binary), ndcg));
        }
    }
    let (ease_lambda, ease_binary) = best(&ease_results);

    let als_grid: Vec<AlsConfig> = {
        let mut g = Vec::new();
        let factors: &[usize] = if args.quick { &[64] } else { &[32, 64] };
        let alphas: &[f32] = if args.quick {
            &[10.0]
        } else {
            &[1.0, 10.0, 40.0]
        };
        for &factors in factors {
            for &alpha in alphas {
                for &regularization in &[0.01f32, 0.1] {
                    g.push(AlsConfig {
                        factors,
                        alpha,
                        regularization,
                        iterations: 15,
                        ..AlsConfig::default()
                    });
                }
            }
        }
        g
    };
    let mut als_results = Vec::new();
    for c in als_grid {
        let (m, s) = timed(|| Als::fit(&val.train, c));
        let ndcg = evaluate(&m, &val, k).ndcg;
        eprintln!("val als {c:?}: ndcg={ndcg:.4} ({s:.1}s)");
        validation.insert(
            format!(
                "als factors={} alpha={} reg={} it={}",
                c.factors, c.alpha, c.regularization, c.iterations
            ),
            ndcg,
        );
        als_results.push((c, ndcg));
    }
    let als_cfg = best(&als_results);

    let mut cf_results = Vec::new();
    for top_n in [50usize, 200] {
        for binary in [true, false] {
            let m = ItemCf::fit(&val.train, top_n, binary);
            let ndcg = evaluate(&m, &val, k).ndcg;
            eprintln!("val item-cf top_n={top_n} binary={binary}: ndcg={ndcg:.4}");
            validation.insert(format!("item-cf top_n={top_n} binary={binary}"), ndcg);
            cf_results.push(((top_n, binary), ndcg));
        }
    }
    let (cf_n, cf_binary) = best(&cf_results);

    // --- Validation: blend weights.
    let val_models: Vec<Arc<dyn Recommender>> = vec![
        Arc::new(Ease::fit(&val.train, ease_lambda, ease_binary)),
        Arc::new(Als::fit(&val.train, als_cfg)),
        Arc::new(ItemCf::fit(&val.train, cf_n, cf_binary)),
        Arc::new(Popularity::fit(
            &val.train,
            &val.user_country,
            &no_segments(&val),
            PopularityScope::Country,
        )),
        Arc::new(
            Popularity::fit(
                &val.train,
                &val.user_country,
                &no_segments(&val),
                PopularityScope::Recent,
            )
            .with_recent(&data.interactions, &val.train.items, val_cutoff, 30),
        ),
    ];
    let ws = search_weights(&val_models, &val, k, 100);
    eprintln!(
        "blend search: {:?} -> {:?} (val ndcg {:.4}, singles {:?})",
        ws.names, ws.weights, ws.validation_ndcg, ws.single_ndcg
    );
    validation.insert("blend (candidate pool 100)".into(), ws.validation_ndcg);
    drop(val_models);

    // --- Test: refit on everything before the cutoff, evaluate once.
    let mut rows = Vec::new();
    let mut serve = BTreeMap::new();
    let mut fitted: Vec<(Arc<dyn Recommender>, f64, String)> = Vec::new();
    let (m, s) = timed(|| Ease::fit(&test.train, ease_lambda, ease_binary));
    fitted.push((
        Arc::new(m),
        s,
        format!("lambda={ease_lambda} binary={ease_binary}"),
    ));
    let (m, s) = timed(|| Als::fit(&test.train, als_cfg));
    fitted.push((
        Arc::new(m),
        s,
        format!(
            "factors={} alpha={} reg={} it={} cg={}",
            als_cfg.factors,
            als_cfg.alpha,
            als_cfg.regularization,
            als_cfg.iterations,
            als_cfg.cg_steps
        ),
    ));
    let (m, s) = timed(|| ItemCf::fit(&test.train, cf_n, cf_binary));
    fitted.push((Arc::new(m), s, format!("top_n={cf_n} binary={cf_binary}")));
    let (m, s) = timed(|| {
        Popularity::fit(
            &test.train,
            &test.user_country,
            &no_segments(&test),
            PopularityScope::Country,
        )
    });
    fitted.push((
        Arc::new(m),
        s,
        "distinct buyers in the customer's country".into(),
    ));
    let (m, s) = timed(|| {
        Popularity::fit(
            &test.train,
            &test.user_country,
            &no_segments(&test),
            PopularityScope::Recent,
        )
        .with_recent(&data.interactions, &test.train.items, cutoff, 30)
    });
    fitted.push((Arc::new(m), s, "distinct buyers in the last 30 days".into()));
    let blend_train_s: f64 = fitted.iter().map(|f| f.1).sum();
    let blend = Blend::new(
        fitted.iter().map(|f| f.0.clone()).collect(),
        ws.weights.clone(),
        test.train.n_items(),
    );
    let (m, s) = timed(|| {
        Popularity::fit(
            &test.train,
            &test.user_country,
            &no_segments(&test),
            PopularityScope::Global,
        )
    });
    fitted.push((Arc::new(m), s, "distinct buyers, global".into()));
    let blend_desc = ws
        .names
        .iter()
        .zip(&ws.weights)
        .map(|(n, w)| format!("{n}={w}"))
        .collect::<Vec<_>>()
        .join(" ");
    fitted.push((Arc::new(blend), blend_train_s, blend_desc));
    for (model, train_s, desc) in &fitted {
        let metrics = evaluate(model.as_ref(), &test, k);
        serve.insert(
            model.name().to_string(),
            serve_micros(model.as_ref(), &test, k),
        );
        eprintln!("test {}: {metrics:?}", model.name());
        rows.push(Row {
            model: format!("caravan {}", model.name()),
            config: desc.clone(),
            metrics,
            train_seconds: *train_s,
        });
    }

    println!("| model | P@{k} | R@{k} | NDCG@{k} | HR@{k} | coverage@{k} | train s | config |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let m = &r.metrics;
        println!(
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.2} | {} |",
            r.model,
            m.precision,
            m.recall,
            m.ndcg,
            m.hit_rate,
            m.coverage,
            r.train_seconds,
            r.config
        );
    }
    let report = Report {
        k,
        cutoff: args.cutoff.clone(),
        val_cutoff: args.val_cutoff.clone(),
        half_life_days: args.half_life_days,
        train_users: test.train.n_users(),
        train_items: test.train.n_items(),
        train_nnz: test.train.by_user.nnz(),
        test_users: test.truth.len(),
        validation,
        blend_weights: ws
            .names
            .iter()
            .cloned()
            .zip(ws.weights.iter().copied())
            .collect(),
        test: rows,
        serve_micros_per_user: serve,
    };
    if let Some(dir) = args.json.parent() {
        std::fs::create_dir_all(dir).ok();
    }
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("write {}", args.json.display()))?;
    eprintln!("wrote {}", args.json.display());
    Ok(())
}
