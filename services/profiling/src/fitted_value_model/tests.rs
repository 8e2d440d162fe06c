use chrono::{Duration, NaiveDate, TimeZone};

use super::*;

fn day(d: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 1, 12, 0, 0)
        .single()
        .expect("valid date")
        + Duration::days(d)
}

fn date(d: i64) -> NaiveDate {
    day(d).date_naive()
}

const PAPER_BG: FrequencyParameters = FrequencyParameters::BgNbd {
    r: 0.243,
    alpha: 4.414,
    a: 0.793,
    b: 2.426,
};

const BG: BgNbdParams = BgNbdParams {
    r: 0.243,
    alpha: 4.414,
    a: 0.793,
    b: 2.426,
};

fn model(annual_discount_rate: f64) -> FittedValueModel {
    FittedValueModel {
        name: "merchants/acme/valueModels/vm-1".to_owned(),
        frequency: PAPER_BG,
        gamma_gamma: Some(SpendParameters {
            p: 6.25,
            q: 3.74,
            v: 15.44,
            log_likelihood: 0.0,
            // The paper's parameters, taken as cents: the arithmetic below is in cents.
            amount_scale: 1.0,
        }),
        time_unit: ModelTimeUnit::Week,
        annual_discount_rate,
        clv_horizon_months: 12,
        currency: "EUR".to_owned(),
        time_zone: MerchantTimeZone::UTC,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + b.abs())
}

#[test]
fn holdout_metrics_by_hand() {
    // Means 2 and 2; deviations (-1, 1) and (-2, 2): covariance 4, variances 2 and 8.
    let m = HoldoutMetrics::of(&[(1.0, 0), (3.0, 4)]);
    assert_eq!(m.customer_count, 2);
    assert!(close(m.predicted_purchases, 4.0));
    assert_eq!(m.actual_purchases, 4);
    assert!(close(m.mean_absolute_error, 1.0));
    assert!(close(m.correlation, 1.0));
    // Errors 1 and 1: RMSE 1. Errors 0 and 2: MAE 1, RMSE √2.
    assert!(close(m.root_mean_squared_error, 1.0));
    let uneven = HoldoutMetrics::of(&[(2.0, 2), (1.0, 3)]);
    assert!(close(uneven.mean_absolute_error, 1.0));
    assert!(close(uneven.root_mean_squared_error, 2.0_f64.sqrt()));
    // A constant series has no correlation (reported as 0, not NaN).
    let flat = HoldoutMetrics::of(&[(1.0, 2), (3.0, 2)]);
    assert_eq!(flat.correlation, 0.0);
    assert_eq!(HoldoutMetrics::of(&[]).customer_count, 0);
}

#[test]
fn monthly_discount_compounds_to_the_annual_rate() {
    let m = model(0.1);
    let monthly = m.monthly_discount_rate();
    assert!((monthly - 0.007_974_140_428).abs() < 1e-9, "{monthly}");
    assert!(close((1.0 + monthly).powi(12), 1.1));
}

#[test]
fn a_customer_without_orders_gets_the_new_customer_prediction() {
    let m = model(0.1);
    let v = m.predict(&[], day(100), 364);
    // BG/NBD: a customer with x = 0 is alive; E[X(52 weeks)] of a new customer.
    assert_eq!(v.p_alive, 1.0);
    assert!(close(v.expected_purchases, BG.expected_purchases_at(52.0)));
    // Gamma-Gamma population mean p·v/(q−1) = 6.25·15.44/2.74 = 35.218...
    assert_eq!(v.expected_aov_minor, Some(35));
    assert_eq!(v.currency, "EUR");
    assert_eq!(v.value_model, "merchants/acme/valueModels/vm-1");
    assert_eq!(v.horizon_days, 364);
}

#[test]
fn same_day_orders_are_one_purchase_and_later_orders_are_ignored() {
    let m = model(0.1);
    // Day 0: two orders (one purchase of 150); day 7: 300; day 30 is after as_of.
    let orders = [
        (day(0), 100),
        (day(0) + Duration::hours(3), 50),
        (day(7), 300),
        (day(30), 99_999),
    ];
    let v = m.predict(&orders, day(14), 70);
    // x = 1, t_x = 1 week, T = 2 weeks, m̄ = 300 (the repeat purchase only).
    assert!(close(v.p_alive, BG.probability_alive_at(1, 1.0, 2.0)));
    assert!(close(
        v.expected_purchases,
        BG.conditional_expected_purchases_at(10.0, 1, 1.0, 2.0)
    ));
    let aov = GammaGammaParams {
        p: 6.25,
        q: 3.74,
        v: 15.44,
    }
    .conditional_expected_average_value(1, 300.0);
    assert_eq!(v.expected_aov_minor, Some(aov.round() as i64));
    assert_eq!(
        v.expected_spend_minor,
        Some((aov * v.expected_purchases).round() as i64)
    );
}

#[test]
fn without_discount_the_clv_is_value_times_expected_purchases_over_the_horizon() {
    let m = model(0.0);
    let orders = [(day(0), 2_000), (day(20), 3_000), (day(40), 2_500)];
    let v = m.predict(&orders, day(60), 365);
    // x = 2, t_x = 40 days, T = 60 days in weeks; 12 months of 30.4375 days.
    let c = RfmSummary {
        frequency: 2,
        recency: 40.0 / 7.0,
        age: 60.0 / 7.0,
        monetary_value: 2_750.0,
    };
    let horizon = 12.0 * DAYS_PER_MONTH / 7.0;
    let aov = GammaGammaParams {
        p: 6.25,
        q: 3.74,
        v: 15.44,
    }
    .conditional_expected_average_value(2, 2_750.0);
    let expected = aov * BG.conditional_expected_purchases_at(horizon, 2, c.recency, c.age);
    let clv = v.clv_minor.expect("clv") as f64;
    assert!((clv - expected).abs() <= 1.0, "{clv} vs {expected}");
    // Discounting can only lower it.
    let discounted = model(0.1).predict(&orders, day(60), 365);
    assert!(discounted.clv_minor.expect("clv") < v.clv_minor.expect("clv"));
}

#[test]
fn a_recent_frequent_buyer_is_more_alive_than_a_lapsed_one() {
    let m = model(0.1);
    let recent: Vec<_> = (0..6).map(|i| (day(i * 10), 1_000)).collect();
    let lapsed: Vec<_> = (0..6).map(|i| (day(i * 3), 1_000)).collect();
    let a = m.predict(&recent, day(55), 365);
    let b = m.predict(&lapsed, day(400), 365);
    assert!(a.p_alive > 0.8 && b.p_alive < 0.01, "{a:?} {b:?}");
    assert!(a.expected_purchases > b.expected_purchases);
    assert!(a.clv_minor > b.clv_minor);
}

#[test]
fn without_monetary_model_there_is_no_spend() {
    let mut m = model(0.1);
    m.gamma_gamma = None;
    let v = m.predict(&[(day(0), 100), (day(9), 100)], day(20), 365);
    assert!(v.p_alive > 0.0 && v.expected_purchases > 0.0);
    assert_eq!(
        (v.expected_aov_minor, v.expected_spend_minor, v.clv_minor),
        (None, None, None)
    );
    let proto = v.to_proto();
    assert!(proto.expected_spend.is_none() && proto.customer_lifetime_value.is_none());
}

/// 80 customers with heterogeneous, irregular, deterministic histories drawn the way the
/// models assume: per customer a purchase rate (exponential gaps between purchases) and a
/// dropout chance after each purchase, both varying between customers.
fn histories() -> Vec<OrderHistory> {
    let mut state: u64 = 42;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..80)
        .map(|_| {
            let mean_gap = 5.0 + 60.0 * uniform() * uniform();
            let dropout = 0.6 * uniform() * uniform();
            let mut d = (uniform() * 60.0) as i64;
            let mut orders = vec![(day(d), 1_000 + (uniform() * 2_000.0) as i64)];
            loop {
                d += 1 + (-mean_gap * uniform().ln()) as i64;
                if d > 200 || uniform() < dropout {
                    break;
                }
                orders.push((day(d), 1_000 + (uniform() * 2_000.0) as i64));
            }
            orders
        })
        .collect()
}

fn settings(kind: FrequencyModelKind) -> FitSettings {
    FitSettings {
        frequency_model: Some(kind),
        skip_monetary_model: false,
        calibration_end: date(120),
        holdout_end: Some(date(200)),
        time_unit: ModelTimeUnit::Week,
        annual_discount_rate: 0.1,
        clv_horizon_months: 12,
        make_current: false,
        budget: std::time::Duration::from_secs(600),
        time_zone: MerchantTimeZone::UTC,
    }
}

#[test]
fn fits_every_frequency_model_with_spend_and_holdout() {
    for kind in FrequencyModelKind::CANDIDATES {
        let result = fit(&settings(kind), &histories(), 100.0).expect("fits");
        assert!(
            result
                .frequency
                .values()
                .iter()
                .all(|v| v.is_finite() && *v > 0.0)
        );
        assert!(result.log_likelihood.is_finite() && result.log_likelihood < 0.0);
        let gg = result.gamma_gamma.expect("spend fitted");
        assert!(gg.q > 1.0 && gg.p.is_finite() && gg.v.is_finite());
        // Every customer's first order (day ≤ 59) is in the calibration period.
        assert_eq!(result.customer_count, 80);
        let holdout = result.holdout.expect("holdout");
        assert_eq!(holdout.customer_count, 80);
        // Hand count of orders in days 121..=200 (one per day per customer).
        let actual: i64 = histories()
            .iter()
            .map(|h| {
                h.iter()
                    .filter(|(at, _)| *at > day(120) && *at <= day(200))
                    .count() as i64
            })
            .sum();
        assert_eq!(holdout.actual_purchases, actual);
        assert!(holdout.predicted_purchases > 0.0, "{result:?}");
        assert_eq!(result.frequency.kind(), kind);
        assert!(result.selection.is_none(), "a named kind is not chosen");
    }
}

/// Without a named kind every candidate is fitted and measured on the holdout period, and
/// the one with the lowest error is served, exactly as fitted.
#[test]
fn an_unnamed_kind_is_chosen_by_holdout_error() {
    let mut choosing = settings(FrequencyModelKind::BgNbd);
    choosing.frequency_model = None;
    let result = fit(&choosing, &histories(), 100.0).expect("fits");
    let selection = result.selection.as_ref().expect("a choice was made");
    assert_eq!(selection.criterion, SelectionCriterion::HoldoutError);
    assert_eq!(
        (selection.calibration_end, selection.holdout_end),
        (date(120), Some(date(200)))
    );
    assert!(!selection.refitted);
    let kinds: Vec<FrequencyModelKind> = selection.candidates.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, FrequencyModelKind::CANDIDATES);
    let errors: Vec<f64> = selection
        .candidates
        .iter()
        .map(|c| c.holdout.expect("measured").root_mean_squared_error)
        .collect();
    let chosen = selection.chosen().expect("one chosen");
    assert_eq!(selection.candidates.iter().filter(|c| c.chosen).count(), 1);
    let best = errors.iter().copied().fold(f64::INFINITY, f64::min);
    assert_eq!(
        chosen.holdout.expect("measured").root_mean_squared_error,
        best
    );
    assert_eq!(Some(result.frequency), chosen.frequency);
    assert_eq!(result.holdout, chosen.holdout);
    // Each candidate equals the same kind fitted by name.
    for c in &selection.candidates {
        let named = fit(&settings(c.kind), &histories(), 100.0).expect("fits");
        assert_eq!(c.frequency, Some(named.frequency), "{:?}", c.kind);
        assert_eq!(c.holdout, named.holdout, "{:?}", c.kind);
    }
}

/// Without a holdout period the last third of the calibration period is held out for the
/// comparison, and the chosen kind is fitted again on all of it.
#[test]
fn without_a_holdout_the_choice_holds_out_the_last_third_and_refits() {
    let mut choosing = settings(FrequencyModelKind::BgNbd);
    choosing.frequency_model = None;
    choosing.holdout_end = None;
    choosing.calibration_end = date(200);
    let result = fit(&choosing, &histories(), 100.0).expect("fits");
    let selection = result.selection.as_ref().expect("a choice was made");
    assert!(selection.refitted);
    assert_eq!(selection.criterion, SelectionCriterion::HoldoutError);
    // First order on day 0, so the cut is day 133 and the comparison runs to day 200.
    assert_eq!(selection.calibration_end, date(133));
    assert_eq!(selection.holdout_end, Some(date(200)));
    let chosen = selection.chosen().expect("one chosen");
    let mut named = choosing.clone();
    named.frequency_model = Some(chosen.kind);
    let refit = fit(&named, &histories(), 100.0).expect("fits");
    assert_eq!(result.frequency, refit.frequency);
    assert_ne!(
        Some(result.frequency),
        chosen.frequency,
        "fitted on more data"
    );
    assert!(result.holdout.is_none());
}

/// The spend model is fitted in major units (v as the literature reports it) and predicts
/// in minor units: the same data fitted in cents gives a v 100 times larger, and the same
/// expected order values. Models stored before the unit was recorded read as cents.
#[test]
fn the_spend_model_is_fitted_in_major_units_and_predicts_the_same() {
    // Customers who spend at different levels, so that the spend model has heterogeneity
    // to fit (q finite).
    let spenders: Vec<OrderHistory> = histories()
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            let level = 1 + (i as i64 * 7) % 13;
            h.into_iter().map(|(at, a)| (at, a * level)).collect()
        })
        .collect();
    let s = settings(FrequencyModelKind::BgNbd);
    let in_euros = fit(&s, &spenders, 100.0).expect("fits");
    let in_cents = fit(&s, &spenders, 1.0).expect("fits");
    let (euros, cents) = (
        in_euros.gamma_gamma.expect("spend"),
        in_cents.gamma_gamma.expect("spend"),
    );
    assert_eq!(euros.amount_scale, 100.0);
    assert!(
        (cents.v / euros.v - 100.0).abs() < 0.5,
        "{euros:?} {cents:?}"
    );
    assert!((cents.q - euros.q).abs() / euros.q < 1e-3);
    for (x, mean) in [(1, 300.0), (3, 2_750.0), (10, 99.0)] {
        let (a, b) = (
            euros.expected_average_minor(x, mean),
            cents.expected_average_minor(x, mean),
        );
        assert!((a - b).abs() < 0.5, "x = {x}: {a} vs {b}");
    }
    let legacy: SpendParameters =
        serde_json::from_str(r#"{"p":6.25,"q":3.74,"v":15.44,"log_likelihood":-1.0}"#)
            .expect("legacy JSON");
    assert_eq!(legacy.amount_scale, 1.0);
}

#[test]
fn a_fit_out_of_time_gives_up_saying_so() {
    let mut s = settings(FrequencyModelKind::ParetoNbd);
    s.budget = std::time::Duration::ZERO;
    match fit(&s, &histories(), 100.0) {
        Err(ValueModelError::Interrupted(why)) => {
            assert!(why.contains("value_model_fit_budget_ms"), "{why}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn fit_failures_are_reported() {
    let mut s = settings(FrequencyModelKind::BgNbd);
    s.calibration_end = date(-1);
    assert!(matches!(
        fit(&s, &histories(), 100.0),
        Err(ValueModelError::NotEnoughData(_))
    ));
    // Nobody came back: no repeat purchase, nothing to fit.
    let once: Vec<OrderHistory> = (0..5).map(|i| vec![(day(i), 100)]).collect();
    assert!(matches!(
        fit(&settings(FrequencyModelKind::BgNbd), &once, 100.0),
        Err(ValueModelError::NotEnoughData(_))
    ));
    // Skipping the spend model leaves it out.
    let mut s = settings(FrequencyModelKind::BgNbd);
    s.skip_monetary_model = true;
    assert!(
        fit(&s, &histories(), 100.0)
            .expect("fits")
            .gamma_gamma
            .is_none()
    );
}

#[test]
fn stored_params_round_trip_through_json_and_proto() {
    let result = fit(
        &settings(FrequencyModelKind::ParetoNbd),
        &histories(),
        100.0,
    )
    .expect("fits");
    let params = StoredParams {
        time_unit: ModelTimeUnit::Week,
        annual_discount_rate: 0.1,
        clv_horizon_months: 12,
        skip_monetary_model: false,
        make_current: true,
        currency: "EUR".to_owned(),
        fit: Some(result.clone()),
        time_zone: Some("Europe/London".to_owned()),
    };
    let json = serde_json::to_value(&params).expect("serialises");
    let back: StoredParams = serde_json::from_value(json).expect("parses");
    assert_eq!(back, params);
    let record = ValueModelRecord {
        merchant_id: "acme".to_owned(),
        id: "vm-1".to_owned(),
        kind: Some(FrequencyModelKind::ParetoNbd),
        state: ModelState::Ready,
        is_current: true,
        calibration_end: date(120),
        holdout_end: Some(date(200)),
        params,
        error_message: None,
        created_at: day(0),
        fit_time: Some(day(1)),
    };
    let proto = record.to_proto();
    assert_eq!(proto.name, "merchants/acme/valueModels/vm-1");
    assert_eq!(proto.state, pb::ValueModelState::Ready as i32);
    assert_eq!(proto.customer_count, 80);
    assert!(matches!(
        proto.frequency_parameters,
        Some(pb::value_model::FrequencyParameters::ParetoNbd(_))
    ));
    assert_eq!(
        proto.calibration_end_date,
        Some(common::Date {
            year: 2025,
            month: 5,
            day: 1
        })
    );
    let fitted = record.fitted().expect("ready");
    assert_eq!(fitted.frequency, result.frequency);
    let failed = ValueModelRecord {
        state: ModelState::Failed,
        ..record
    };
    assert!(failed.fitted().is_none());
}

#[test]
fn value_model_ids() {
    assert_eq!(check_value_model_id("clv-2026"), Ok(()));
    assert_eq!(
        check_value_model_id(&format!("a{}", "b".repeat(62))),
        Ok(())
    );
    for bad in [
        "ab",
        "1abc",
        "Abc",
        "ab_c",
        "abc/",
        &format!("a{}", "b".repeat(63)),
    ] {
        assert!(check_value_model_id(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_degenerate_fit_fails_instead_of_predicting_nan() {
    // Clockwork buyers: the BG/NBD likelihood runs off to a, b → ∞ (seen: a ≈ 2e7), where
    // the conditional expectation is not computable.
    let clockwork: Vec<OrderHistory> = (0..40_i64)
        .map(|i| {
            let (first, gap, count) = ((i * 7) % 60, 4 + (i * 5) % 23, 1 + (i * 3) % 7);
            (0..count)
                .map(|k| (day(first + k * gap), 1_000 + 150 * ((i + k) % 9)))
                .collect()
        })
        .collect();
    match fit(&settings(FrequencyModelKind::BgNbd), &clockwork, 100.0) {
        Err(ValueModelError::FitFailed(m)) => assert!(m.contains("degenerate"), "{m}"),
        other => panic!("expected a degenerate fit, got {other:?}"),
    }
    // Choosing, the degenerate candidate is reported with its reason and not served.
    let mut choosing = settings(FrequencyModelKind::BgNbd);
    choosing.frequency_model = None;
    let result = fit(&choosing, &clockwork, 100.0);
    let selection = result
        .expect("another kind fits")
        .selection
        .expect("chosen");
    let bg = &selection.candidates[0];
    assert!(!bg.chosen && bg.frequency.is_none());
    assert!(
        bg.error
            .as_deref()
            .is_some_and(|e| e.contains("degenerate")),
        "{bg:?}"
    );
}

/// 21:30 in Los Angeles on 1 March is 05:30 UTC on 2 March: for a Los Angeles merchant that
/// order and one on the morning of 2 March are two purchase days (one repeat purchase), for
/// a UTC merchant they are one.
#[test]
fn a_late_evening_order_is_a_purchase_of_the_merchants_day() {
    let la = MerchantTimeZone::parse("America/Los_Angeles").expect("zone");
    let utc = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .expect("instant")
            .with_timezone(&Utc)
    };
    let orders = [
        (utc("2024-03-02T05:30:00Z"), 1_000),
        (utc("2024-03-02T18:00:00Z"), 1_000),
    ];
    let as_of = utc("2024-06-01T00:00:00Z");
    let in_utc = model(0.1).predict(&orders, as_of, 365);
    let in_la = FittedValueModel {
        time_zone: la,
        ..model(0.1)
    }
    .predict(&orders, as_of, 365);
    // BG/NBD: nobody drops out before a repeat purchase.
    assert_eq!(in_utc.p_alive, 1.0, "one purchase day in UTC");
    assert!(
        in_la.p_alive < 1.0,
        "two purchase days in Los Angeles: {in_la:?}"
    );
    // The same orders fitted: a calibration end on 1 March (local) takes the evening order
    // in Los Angeles, not in UTC.
    let histories = vec![
        orders.to_vec(),
        vec![
            (utc("2024-02-01T12:00:00Z"), 500),
            (utc("2024-02-20T12:00:00Z"), 500),
        ],
    ];
    let day = NaiveDate::from_ymd_opt(2024, 3, 1).expect("date");
    let cohort = |zone| {
        Split::of(&histories, day, None, ModelTimeUnit::Week, zone)
            .expect("split")
            .calibration
            .len()
    };
    assert_eq!(cohort(MerchantTimeZone::UTC), 1);
    assert_eq!(cohort(la), 2);
}
