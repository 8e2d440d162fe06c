//! Fits the value models on a purchase list and reports how each predicts a holdout period:
//! Caravan's side of `scripts/bench-value-models.sh`, which runs lifetimes on the same list.
//!
//! ```text
//! cargo run --release -p caravan-profiling --bin caravan-value-model-holdout -- \
//!     --purchases target/bench-value-models/cdnow.csv \
//!     --calibration-end 1997-09-30 --holdout-end 1998-06-30 --time-unit week
//! ```
//!
//! The list is `customer,date` with a header, one row per customer and purchase day. Prints
//! one JSON line per named model (BG/NBD, MBG/NBD, Pareto/NBD) with its parameters and
//! holdout figures, then one line for the model the service would choose with the holdout
//! given, and one for its choice without it (the last third of the calibration held out).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use caravan_profiling::fitted_value_model::{
    FitResult, FitSettings, FrequencyModelKind, FrequencyParameters, ModelTimeUnit, OrderHistory,
    fit,
};
use chrono::NaiveDate;
use clap::Parser;
use serde_json::json;

#[derive(Parser)]
#[command(
    name = "caravan-value-model-holdout",
    about = "Fit the value models on a purchase list and measure them on a holdout period"
)]
struct Args {
    /// `customer,date` CSV with a header.
    #[arg(long)]
    purchases: PathBuf,
    /// Last day of the calibration period (YYYY-MM-DD).
    #[arg(long)]
    calibration_end: NaiveDate,
    /// Last day of the holdout period (YYYY-MM-DD).
    #[arg(long)]
    holdout_end: NaiveDate,
    /// day or week.
    #[arg(long, default_value = "week")]
    time_unit: String,
    /// Time budget of each fit, as `profiling.value_model_fit_budget_ms` gives the service.
    #[arg(long, default_value_t = 120)]
    budget_seconds: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let time_unit = match args.time_unit.as_str() {
        "day" => ModelTimeUnit::Day,
        "week" => ModelTimeUnit::Week,
        other => bail!("--time-unit {other}: day or week"),
    };
    let histories = read_purchases(&args.purchases)?;
    let settings = |kind: Option<FrequencyModelKind>, holdout_end: Option<NaiveDate>| FitSettings {
        frequency_model: kind,
        skip_monetary_model: true,
        calibration_end: args.calibration_end,
        holdout_end,
        time_unit,
        annual_discount_rate: 0.1,
        clv_horizon_months: 12,
        make_current: false,
        budget: Duration::from_secs(args.budget_seconds),
        // The purchase list holds local days already.
        time_zone: caravan_core::time_zone::MerchantTimeZone::UTC,
    };
    for kind in FrequencyModelKind::CANDIDATES {
        let started = Instant::now();
        match fit(
            &settings(Some(kind), Some(args.holdout_end)),
            &histories,
            100.0,
        ) {
            Ok(result) => println!("{}", report(kind.code(), &result, started.elapsed())),
            Err(e) => println!(
                "{}",
                json!({"side": "caravan", "model": kind.code(), "error": e.to_string(),
                       "seconds": started.elapsed().as_secs_f64()})
            ),
        }
    }
    for (label, holdout_end) in [
        ("CHOSEN_ON_HOLDOUT", Some(args.holdout_end)),
        ("CHOSEN_WITHOUT_HOLDOUT", None),
    ] {
        let started = Instant::now();
        let result = fit(&settings(None, holdout_end), &histories, 100.0)
            .with_context(|| format!("choosing ({label})"))?;
        let selection = result.selection.as_ref().context("a choice")?;
        let mut line = report(label, &result, started.elapsed());
        line["chosen"] = json!(result.frequency.kind().code());
        line["selection_calibration_end"] = json!(selection.calibration_end.to_string());
        line["candidate_errors"] = selection
            .candidates
            .iter()
            .filter_map(|c| Some((c.kind.code().to_owned(), json!(c.error.clone()?))))
            .collect::<serde_json::Map<_, _>>()
            .into();
        line["candidate_rmse"] = selection
            .candidates
            .iter()
            .map(|c| {
                (
                    c.kind.code().to_owned(),
                    json!(c.holdout.map(|h| h.root_mean_squared_error)),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into();
        println!("{line}");
    }
    Ok(())
}

/// One customer's purchase days as order histories at noon UTC (amounts unused).
fn read_purchases(path: &PathBuf) -> anyhow::Result<Vec<OrderHistory>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut by_customer: BTreeMap<&str, OrderHistory> = BTreeMap::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let Some((customer, date)) = line.split_once(',') else {
            bail!("line {}: expected customer,date: {line:?}", n + 1);
        };
        let day = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
            .with_context(|| format!("line {}: {date:?}", n + 1))?;
        let at = day.and_hms_opt(12, 0, 0).context("noon")?.and_utc();
        by_customer.entry(customer).or_default().push((at, 100));
    }
    Ok(by_customer.into_values().collect())
}

fn report(label: &str, result: &FitResult, elapsed: Duration) -> serde_json::Value {
    let params = match result.frequency {
        FrequencyParameters::BgNbd { r, alpha, a, b }
        | FrequencyParameters::MbgNbd { r, alpha, a, b } => {
            json!({"r": r, "alpha": alpha, "a": a, "b": b})
        }
        FrequencyParameters::ParetoNbd { r, alpha, s, beta } => {
            json!({"r": r, "alpha": alpha, "s": s, "beta": beta})
        }
    };
    let holdout = result.holdout;
    json!({
        "side": "caravan",
        "model": label,
        "params": params,
        "log_likelihood": result.log_likelihood,
        "customers": result.customer_count,
        "predicted": holdout.map(|h| h.predicted_purchases),
        "actual": holdout.map(|h| h.actual_purchases),
        "rmse": holdout.map(|h| h.root_mean_squared_error),
        "mae": holdout.map(|h| h.mean_absolute_error),
        "seconds": elapsed.as_secs_f64(),
    })
}
