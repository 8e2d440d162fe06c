#!/usr/bin/env python3
"""The Python side of scripts/bench-value-models.sh.

`prepare` turns a data set into the purchase list both sides fit on (`customer,date`, one row
per customer and purchase day):
  - Online Retail (data/online_retail/online_retail.csv.gz): invoices with a CustomerID,
    except cancellations (InvoiceNo starting with C) and lines with a quantity <= 0;
  - CDNOW (CDNOW_sample.txt from scripts/fetch-cdnow.sh): every transaction.

`lifetimes` fits lifetimes' BG/NBD, MBG/NBD and Pareto/NBD on the calibration period of that
list (calibration_and_holdout_data with freq='D' and freq_multiplier 7 for weeks, the
convention of Caravan's summariser) and prints, per model, one JSON line with its holdout
figures computed exactly as Caravan computes them: per-customer expected purchases over the
holdout length against the purchase days seen.
"""
import csv
import gzip
import json
import sys
import time


def prepare(kind, source, out):
    days = set()
    if kind == "online-retail":
        with gzip.open(source, "rt", encoding="utf-8", errors="replace", newline="") as f:
            for row in csv.DictReader(f):
                customer = row["CustomerID"].strip()
                if not customer or row["InvoiceNo"].startswith("C"):
                    continue
                if float(row["Quantity"]) <= 0:
                    continue
                # InvoiceDate is "YYYY-MM-DD HH:MM:SS" (UK local time: the day it says).
                days.add((customer.split(".")[0], row["InvoiceDate"][:10]))
    elif kind == "cdnow":
        with open(source) as f:
            for line in f:
                fields = line.split()
                if len(fields) == 5:
                    d = fields[2]
                    days.add((fields[1], f"{d[:4]}-{d[4:6]}-{d[6:]}"))
    else:
        sys.exit(f"unknown data set {kind}")
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer", "date"])
        for customer, day in sorted(days):
            w.writerow([customer, day])
    print(f"{len(days)} purchase days of {len({c for c, _ in days})} customers", file=sys.stderr)


def fit_lifetimes(purchases, calibration_end, holdout_end, unit):
    import numpy as np
    import pandas as pd
    from lifetimes import BetaGeoFitter, ModifiedBetaGeoFitter, ParetoNBDFitter
    from lifetimes.utils import calibration_and_holdout_data

    tx = pd.read_csv(purchases, dtype={"customer": str}, parse_dates=["date"])
    multiplier = {"day": 1, "week": 7}[unit]
    data = calibration_and_holdout_data(
        tx, "customer", "date",
        calibration_period_end=calibration_end,
        observation_period_end=holdout_end,
        freq="D", freq_multiplier=multiplier,
    )
    x, t_x, age = data["frequency_cal"], data["recency_cal"], data["T_cal"]
    actual = data["frequency_holdout"].to_numpy()
    duration = data["duration_holdout"].to_numpy()
    for name, fitter in [("BG_NBD", BetaGeoFitter()), ("MBG_NBD", ModifiedBetaGeoFitter()),
                         ("PARETO_NBD", ParetoNBDFitter())]:
        started = time.perf_counter()
        try:
            fitter.fit(x, t_x, age)
        except Exception as e:  # lifetimes raises ConvergenceError on boundary optima
            print(json.dumps({"side": "lifetimes 0.11.3", "model": name,
                              "error": str(e).strip().splitlines()[-1][:300],
                              "seconds": time.perf_counter() - started}))
            continue
        seconds = time.perf_counter() - started
        predicted = np.asarray(
            fitter.conditional_expected_number_of_purchases_up_to_time(duration, x, t_x, age),
            dtype=float)
        err = predicted - actual
        print(json.dumps({
            "side": "lifetimes 0.11.3",
            "model": name,
            "params": {k: float(v) for k, v in fitter.params_.items()},
            "customers": int(len(x)),
            "predicted": float(predicted.sum()),
            "actual": int(actual.sum()),
            "rmse": float(np.sqrt(np.mean(err ** 2))),
            "mae": float(np.mean(np.abs(err))),
            "seconds": seconds,
        }))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "prepare":
        prepare(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) == 6 and sys.argv[1] == "lifetimes":
        fit_lifetimes(*sys.argv[2:])
    else:
        sys.exit(__doc__)
