//! Reproduces the published CDNOW fits (Fader, Hardie & Lee 2005) with the value models.
//!
//! Data: the CDNOW sample shipped in PyPI `Lifetimes==0.11.3` (`lifetimes/datasets/`),
//! fetched and extracted by `scripts/fetch-cdnow.sh` into `.tools/datasets/cdnow/` (or the
//! directory in `CARAVAN_CDNOW_DIR`):
//!
//! - `cdnow_customers_summary.csv` — the 2,357-customer cohort, (x, t_x, T) in weeks, the
//!   data of "Counting Your Customers the Easy Way" (BG/NBD, Pareto/NBD);
//! - `cdnow_customers_summary_with_transactions.csv` — the same customers with `zbar`, the
//!   mean spend over the repeat purchases (946 customers with x > 0), the data of "RFM and
//!   CLV" (Gamma-Gamma);
//! - `CDNOW_sample.txt` — the raw transactions, used to check the RFM summariser.
//!
//! Missing data is a failure, not a skip, unless `CARAVAN_SKIP_CDNOW=1`.

use std::path::PathBuf;
use std::time::Instant;

use caravan_profiling::value_model::{
    FitOptions, RfmSummary, TimeUnit, Transaction, fit_bg_nbd, fit_gamma_gamma, fit_mbg_nbd,
    fit_pareto_nbd, summarize_calibration_holdout,
};
use chrono::NaiveDate;

const SUMMARY: &str = "cdnow_customers_summary.csv";
const WITH_SPEND: &str = "cdnow_customers_summary_with_transactions.csv";
const TRANSACTIONS: &str = "CDNOW_sample.txt";

/// The data directory, or `None` when missing and `CARAVAN_SKIP_CDNOW=1`; panics otherwise.
fn cdnow_dir(file: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("CARAVAN_CDNOW_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/datasets/cdnow")
        });
    if dir.join(file).is_file() {
        return Some(dir);
    }
    if std::env::var("CARAVAN_SKIP_CDNOW").as_deref() == Ok("1") {
        eprintln!(
            "CDNOW data missing in {}: skipped (CARAVAN_SKIP_CDNOW=1)",
            dir.display()
        );
        return None;
    }
    panic!(
        "CDNOW data file {} is missing. Run `scripts/fetch-cdnow.sh` (downloads Lifetimes==0.11.3 \
         from PyPI and extracts lifetimes/datasets/ into .tools/datasets/cdnow), or point \
         CARAVAN_CDNOW_DIR at a directory holding it, or set CARAVAN_SKIP_CDNOW=1 to skip.",
        dir.join(file).display()
    );
}

/// Rows of a CSV file with a header, split on commas.
fn csv_rows(dir: &std::path::Path, file: &str) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join(file)).expect("readable CDNOW file");
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').map(|f| f.trim().to_string()).collect())
        .collect()
}

fn num(field: &str) -> f64 {
    field.parse().expect("numeric CDNOW field")
}

/// (x, t_x, T) of the 2,357 customers.
fn load_summary(dir: &std::path::Path) -> Vec<RfmSummary> {
    let rows = csv_rows(dir, SUMMARY);
    rows.iter()
        .map(|r| RfmSummary::new(num(&r[1]) as u32, num(&r[2]), num(&r[3])))
        .collect()
}

/// (x, t_x, T, zbar) of the 2,357 customers.
fn load_with_spend(dir: &std::path::Path) -> Vec<RfmSummary> {
    csv_rows(dir, WITH_SPEND)
        .iter()
        .map(|r| RfmSummary {
            frequency: num(&r[1]) as u32,
            recency: num(&r[2]),
            age: num(&r[3]),
            monetary_value: num(&r[4]),
        })
        .collect()
}

fn assert_within(name: &str, actual: f64, expected: f64, rel: f64) {
    let err = (actual - expected).abs() / expected.abs();
    assert!(
        err <= rel,
        "{name}: fitted {actual:.5}, published {expected}, relative error {err:.2e} > {rel}"
    );
}

fn assert_log_likelihood(actual: f64, expected: f64) {
    let abs = (actual - expected).abs();
    assert!(
        abs <= 0.1 || abs / expected.abs() <= 1e-4,
        "log-likelihood {actual:.3} vs published {expected}"
    );
}

#[test]
fn bg_nbd_reproduces_fader_hardie_lee_2005() {
    let Some(dir) = cdnow_dir(SUMMARY) else {
        return;
    };
    let customers = load_summary(&dir);
    assert_eq!(customers.len(), 2357);
    let start = Instant::now();
    let fit = fit_bg_nbd(&customers, &FitOptions::default()).expect("BG/NBD fits");
    let elapsed = start.elapsed();
    let p = fit.params;
    eprintln!(
        "BG/NBD: r={:.4} alpha={:.4} a={:.4} b={:.4} LL={:.3} ({} evaluations, converged {}, {elapsed:?})",
        p.r,
        p.alpha,
        p.a,
        p.b,
        fit.report.log_likelihood,
        fit.report.evaluations,
        fit.report.converged
    );
    assert_within("r", p.r, 0.243, 0.01);
    assert_within("alpha", p.alpha, 4.414, 0.01);
    assert_within("a", p.a, 0.793, 0.01);
    assert_within("b", p.b, 2.426, 0.01);
    assert_log_likelihood(fit.report.log_likelihood, -9582.4);
    let e = p.conditional_expected_purchases_at(39.0, 2, 30.43, 38.86);
    eprintln!("BG/NBD E[Y(39) | x=2, t_x=30.43, T=38.86] = {e:.4}");
    assert_within("E[Y(39) | 2, 30.43, 38.86]", e, 1.226, 0.01);
}

/// MBG/NBD has no published CDNOW fit; lifetimes 0.11.3's `ModifiedBetaGeoFitter` is the
/// reference: r = 0.524838, alpha = 6.182988, a = 0.891356, b = 1.614000.
#[test]
fn mbg_nbd_matches_lifetimes_on_cdnow() {
    let Some(dir) = cdnow_dir(SUMMARY) else {
        return;
    };
    let customers = load_summary(&dir);
    let fit = fit_mbg_nbd(&customers, &FitOptions::default()).expect("MBG/NBD fits");
    let p = fit.params;
    eprintln!(
        "MBG/NBD: r={:.4} alpha={:.4} a={:.4} b={:.4} LL={:.3}",
        p.r, p.alpha, p.a, p.b, fit.report.log_likelihood
    );
    assert_within("r", p.r, 0.524_838, 0.01);
    assert_within("alpha", p.alpha, 6.182_988, 0.01);
    assert_within("a", p.a, 0.891_356, 0.01);
    assert_within("b", p.b, 1.614_000, 0.01);
    let reference = caravan_profiling::value_model::MbgNbdParams {
        r: 0.524_838,
        alpha: 6.182_988,
        a: 0.891_356,
        b: 1.614_000,
    };
    assert!(fit.report.log_likelihood >= reference.log_likelihood(&customers) - 1e-3);
}

/// Standard errors from the observed information, against lifetimes 0.11.3's `summary`
/// (autograd Hessian) for BG/NBD and MBG/NBD on the CDNOW cohort.
#[test]
fn standard_errors_match_lifetimes_on_cdnow() {
    use caravan_profiling::fitted_value_model::FrequencyParameters;
    use caravan_profiling::fitted_value_model::diagnostics::parameter_estimates;
    let Some(dir) = cdnow_dir(SUMMARY) else {
        return;
    };
    let customers = load_summary(&dir);
    let bg = fit_bg_nbd(&customers, &FitOptions::default())
        .expect("fits")
        .params;
    let mbg = fit_mbg_nbd(&customers, &FitOptions::default())
        .expect("fits")
        .params;
    let cases = [
        (
            FrequencyParameters::BgNbd {
                r: bg.r,
                alpha: bg.alpha,
                a: bg.a,
                b: bg.b,
            },
            [0.012_557, 0.378_221, 0.185_719, 0.705_345],
        ),
        (
            FrequencyParameters::MbgNbd {
                r: mbg.r,
                alpha: mbg.alpha,
                a: mbg.a,
                b: mbg.b,
            },
            [0.083_264, 0.695_597, 0.154_785, 0.537_472],
        ),
    ];
    for (params, lifetimes) in cases {
        let estimates = parameter_estimates(&params, &customers);
        for (estimate, want) in estimates.iter().zip(lifetimes) {
            let se = estimate.standard_error.expect("an interior optimum");
            eprintln!(
                "{:?} {}: se {se:.6} (lifetimes {want})",
                params.kind(),
                estimate.name
            );
            assert_within(&format!("se({})", estimate.name), se, want, 0.002);
        }
    }
}

#[test]
fn pareto_nbd_reproduces_fader_hardie_lee_2005() {
    let Some(dir) = cdnow_dir(SUMMARY) else {
        return;
    };
    let customers = load_summary(&dir);
    let start = Instant::now();
    let fit = fit_pareto_nbd(&customers, &FitOptions::default()).expect("Pareto/NBD fits");
    let elapsed = start.elapsed();
    let p = fit.params;
    eprintln!(
        "Pareto/NBD: r={:.4} alpha={:.4} s={:.4} beta={:.4} LL={:.3} ({} evaluations, converged {}, {elapsed:?})",
        p.r,
        p.alpha,
        p.s,
        p.beta,
        fit.report.log_likelihood,
        fit.report.evaluations,
        fit.report.converged
    );
    assert_within("r", p.r, 0.553, 0.01);
    assert_within("alpha", p.alpha, 10.578, 0.01);
    assert_within("s", p.s, 0.606, 0.01);
    assert_within("beta", p.beta, 11.669, 0.01);
    assert_log_likelihood(fit.report.log_likelihood, -9595.0);
    let e = p.conditional_expected_purchases_at(39.0, 2, 30.43, 38.86);
    let alive = p.probability_alive_at(2, 30.43, 38.86);
    eprintln!("Pareto/NBD E[Y(39) | x=2, t_x=30.43, T=38.86] = {e:.4}, P(alive) = {alive:.4}");
    assert!(e > 0.0 && (0.0..=1.0).contains(&alive));
}

#[test]
fn gamma_gamma_reproduces_fader_hardie_lee_2005() {
    let Some(dir) = cdnow_dir(WITH_SPEND) else {
        return;
    };
    let customers = load_with_spend(&dir);
    assert_eq!(customers.len(), 2357);
    assert_eq!(customers.iter().filter(|c| c.frequency > 0).count(), 946);
    let start = Instant::now();
    let fit = fit_gamma_gamma(&customers, &FitOptions::default()).expect("Gamma-Gamma fits");
    let elapsed = start.elapsed();
    let p = fit.params;
    eprintln!(
        "Gamma-Gamma: p={:.4} q={:.4} v={:.4} LL={:.3} on {} customers ({} evaluations, {elapsed:?})",
        p.p, p.q, p.v, fit.report.log_likelihood, fit.report.customers, fit.report.evaluations
    );
    assert_eq!(fit.report.customers, 946);
    assert_within("p", p.p, 6.25, 0.01);
    assert_within("q", p.q, 3.74, 0.01);
    assert_within("v", p.v, 15.44, 0.01);
}

/// The RFM summariser applied to the raw CDNOW transactions reproduces the published summary
/// (calibration end 1997-09-30, weeks; t_x and T rounded to 2 decimals in the file), and the
/// BG/NBD fitted on it predicts the 39-week holdout (to 1998-06-30) in aggregate.
#[test]
fn rfm_summary_reproduces_the_cdnow_summary_and_holdout() {
    let Some(dir) = cdnow_dir(TRANSACTIONS) else {
        return;
    };
    let Some(_) = cdnow_dir(WITH_SPEND) else {
        return;
    };
    let text = std::fs::read_to_string(dir.join(TRANSACTIONS)).expect("readable transactions");
    let mut by_customer: Vec<Vec<Transaction>> = vec![Vec::new(); 2358];
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let id: usize = f[1].parse().expect("customer index");
        let date = NaiveDate::parse_from_str(f[2], "%Y%m%d").expect("date");
        by_customer[id].push(Transaction {
            date,
            amount: num(f[4]),
        });
    }
    let calibration_end = NaiveDate::from_ymd_opt(1997, 9, 30).expect("valid date");
    let holdout_end = NaiveDate::from_ymd_opt(1998, 6, 30).expect("valid date");
    let published = load_with_spend(&dir);
    let mut calibration = Vec::with_capacity(published.len());
    let mut holdout_actual = 0u32;
    for (i, expected) in published.iter().enumerate() {
        let split = summarize_calibration_holdout(
            &by_customer[i + 1],
            calibration_end,
            holdout_end,
            TimeUnit::Weeks,
        )
        .expect("valid period ends")
        .expect("every cohort customer bought in the calibration period");
        let ours = split.calibration;
        let context = format!("customer {}: {ours:?} vs published {expected:?}", i + 1);
        assert_eq!(ours.frequency, expected.frequency, "{context}");
        assert!((ours.recency - expected.recency).abs() < 0.006, "{context}");
        assert!((ours.age - expected.age).abs() < 0.006, "{context}");
        assert!(
            (ours.monetary_value - expected.monetary_value).abs() < 0.006,
            "{context}"
        );
        assert!((split.holdout_duration - 39.0).abs() < 1e-9);
        holdout_actual += split.holdout_frequency;
        calibration.push(ours);
    }
    let fit = fit_bg_nbd(&calibration, &FitOptions::default()).expect("BG/NBD fits");
    let predicted: f64 = calibration
        .iter()
        .map(|c| {
            fit.params
                .conditional_expected_purchases_at(39.0, c.frequency, c.recency, c.age)
        })
        .sum();
    eprintln!(
        "CDNOW 39-week holdout: {holdout_actual} actual repeat purchase days, BG/NBD predicts {predicted:.1}"
    );
    let ratio = predicted / f64::from(holdout_actual);
    assert!(
        (0.85..1.15).contains(&ratio),
        "holdout prediction {predicted:.1} vs actual {holdout_actual}"
    );
}
