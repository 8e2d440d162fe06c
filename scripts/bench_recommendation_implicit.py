#!/usr/bin/env python3
"""Baselines for the recommendation benchmark: the `implicit` library's ALS (grid-searched on a
validation split inside the training period) and a popularity baseline, on exactly the data,
split, ground truth and metric definitions of `caravan-rec-eval`
(services/recommendation/src/engine/{online_retail,interactions,matrix,evaluate,metrics}.rs):

- rows: CustomerID present, StockCode starting with a digit; invoices starting with C are
  returns (kind weight -1), other rows with Quantity > 0 purchases (kind weight 1), one per line;
- cell value = sum over the customer's rows of kind_weight * 0.5 ** (age_days / half_life),
  age measured from the split's cutoff; cells <= 1e-9 dropped (returns cancel purchases);
- test purchases in [cutoff, end); evaluated users: positive train row and >= 1 test purchase of
  an item not in that row; ground truth = those items (unseen items included);
- recommendations exclude the user's train-row items (filter_already_liked_items=True);
- P@k = hits/k, R@k = hits/|T|, NDCG@k binary with IDCG over min(|T|, k), HR@k = [hits > 0],
  coverage@k = |union of lists| / |train items|.

ALS grid (chosen by validation NDCG@10; train < --val-cutoff, validate on [--val-cutoff, --cutoff)):
factors {32, 64, 128} x regularization {0.01, 0.1} x alpha {1, 10, 40} x input {decayed weights,
binary} at 15 iterations, then the best of those also at 30 iterations. implicit's confidence is
alpha * value (its own convention). random_state=42, 2 threads.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import pandas as pd
import scipy.sparse as sp

DAY = 86400.0


def load(path):
    df = pd.read_csv(path, dtype=str, na_filter=False)
    df["CustomerID"] = df["CustomerID"].str.strip().str.replace(r"\.0$", "", regex=True)
    df["StockCode"] = df["StockCode"].str.strip()
    df = df[(df["CustomerID"] != "") & df["StockCode"].str.match(r"^[0-9]")].copy()
    qty = df["Quantity"].astype(float)
    cancelled = df["InvoiceNo"].str.startswith("C")
    df = df[cancelled | (qty > 0)].copy()
    df["is_return"] = df["InvoiceNo"].str.startswith("C")
    dt = pd.to_datetime(df["InvoiceDate"].str.strip(), format="%Y-%m-%d %H:%M:%S")
    df["t"] = (dt - pd.Timestamp("1970-01-01")) // pd.Timedelta(seconds=1)
    df["Country"] = df["Country"].str.strip()
    return df[["CustomerID", "StockCode", "is_return", "t", "Country"]].reset_index(drop=True)


class Split:
    def __init__(self, df, cutoff, end, half_life):
        tr = df[df["t"] < cutoff]
        age = np.maximum(cutoff - tr["t"].to_numpy(), 0) / DAY
        w = np.where(tr["is_return"].to_numpy(), -1.0, 1.0)
        if half_life > 0:
            w = w * 0.5 ** (age / half_life)
        cells = pd.DataFrame({"u": tr["CustomerID"].to_numpy(), "i": tr["StockCode"].to_numpy(), "w": w})
        cells = cells.groupby(["u", "i"], sort=True)["w"].sum().reset_index()
        cells = cells[cells["w"] > 1e-9]
        self.users = {u: k for k, u in enumerate(pd.unique(cells["u"]))}
        self.items = {i: k for k, i in enumerate(pd.unique(cells["i"]))}
        rows = cells["u"].map(self.users).to_numpy()
        cols = cells["i"].map(self.items).to_numpy()
        self.matrix = sp.csr_matrix(
            (cells["w"].astype(np.float32).to_numpy(), (rows, cols)), shape=(len(self.users), len(self.items))
        )
        self.matrix.sort_indices()
        te = df[(~df["is_return"]) & (df["t"] >= cutoff) & (df["t"] < end)]
        extra = {}
        truth = {}
        for u, i in zip(te["CustomerID"].to_numpy(), te["StockCode"].to_numpy()):
            ui = self.users.get(u)
            if ui is None:
                continue
            ii = self.items.get(i)
            if ii is None:
                ii = extra.setdefault(i, len(self.items) + len(extra))
            else:
                row = self.matrix.indices[self.matrix.indptr[ui] : self.matrix.indptr[ui + 1]]
                if ii in row:
                    continue
            truth.setdefault(ui, set()).add(ii)
        self.truth = sorted(truth.items())
        self.eval_users = np.array([u for u, _ in self.truth], dtype=np.int64)

    def binary(self):
        m = self.matrix.copy()
        m.data[:] = 1.0
        return m


def user_metrics(recs, rel, k):
    hits = 0
    dcg = 0.0
    for r, item in enumerate(recs[:k]):
        if item in rel:
            hits += 1
            dcg += 1.0 / np.log2(r + 2)
    idcg = sum(1.0 / np.log2(r + 2) for r in range(min(len(rel), k)))
    return hits / k, hits / len(rel), dcg / idcg, 1.0 if hits else 0.0


def evaluate(split, recs_per_user, k):
    acc = np.zeros(4)
    covered = set()
    for (u, rel), recs in zip(split.truth, recs_per_user):
        recs = [int(r) for r in recs if r >= 0][:k]
        acc += user_metrics(recs, rel, k)
        covered.update(recs)
    n = max(len(split.truth), 1)
    p, r, ndcg, hr = acc / n
    return {"k": k, "users": len(split.truth), "precision": p, "recall": r, "ndcg": ndcg, "hit_rate": hr,
            "coverage": len(covered) / split.matrix.shape[1]}


def als_recs(split, params, binary, k):
    from implicit.cpu.als import AlternatingLeastSquares

    m = split.binary() if binary else split.matrix
    model = AlternatingLeastSquares(random_state=42, num_threads=2, calculate_training_loss=False, **params)
    t = time.perf_counter()
    model.fit(m, show_progress=False)
    secs = time.perf_counter() - t
    ids, _ = model.recommend(split.eval_users, m[split.eval_users], N=k, filter_already_liked_items=True)
    return ids, secs


def popularity_recs(split, k):
    t = time.perf_counter()
    counts = np.diff(split.matrix.tocsc().indptr).astype(np.float64)
    secs = time.perf_counter() - t
    order = np.lexsort((np.arange(len(counts)), -counts))
    out = []
    for u, _ in split.truth:
        seen = set(split.matrix.indices[split.matrix.indptr[u] : split.matrix.indptr[u + 1]].tolist())
        recs = []
        for i in order:
            if i not in seen:
                recs.append(int(i))
                if len(recs) == k:
                    break
        out.append(recs)
    return out, secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/online_retail/online_retail.csv.gz")
    ap.add_argument("--cutoff", default="2011-09-01")
    ap.add_argument("--val-cutoff", default="2011-06-01")
    ap.add_argument("--half-life-days", type=float, default=180.0)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", default="target/rec-bench/implicit.json")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    ts = lambda d: int(pd.Timestamp(d).timestamp())  # noqa: E731
    cutoff, val_cutoff, k = ts(a.cutoff), ts(a.val_cutoff), a.k
    df = load(a.data)
    val = Split(df, val_cutoff, cutoff, a.half_life_days)
    test = Split(df, cutoff, np.iinfo(np.int64).max, a.half_life_days)
    print(f"validation {val.matrix.shape} {len(val.truth)} evaluated; test {test.matrix.shape} nnz={test.matrix.nnz} "
          f"{len(test.truth)} evaluated", file=sys.stderr)

    grid = []
    for factors in ([64] if a.quick else [32, 64, 128]):
        for reg in [0.01, 0.1]:
            for alpha in ([10.0] if a.quick else [1.0, 10.0, 40.0]):
                for binary in [False, True]:
                    grid.append(({"factors": factors, "regularization": reg, "alpha": alpha, "iterations": 15}, binary))
    validation = []
    for params, binary in grid:
        ids, secs = als_recs(val, params, binary, k)
        m = evaluate(val, ids, k)
        validation.append({"params": params, "binary": binary, "ndcg": m["ndcg"], "seconds": secs})
        print(f"val implicit {params} binary={binary}: ndcg={m['ndcg']:.4f} ({secs:.1f}s)", file=sys.stderr)
    best = max(validation, key=lambda v: v["ndcg"])
    params30 = dict(best["params"], iterations=30)
    ids, secs = als_recs(val, params30, best["binary"], k)
    m = evaluate(val, ids, k)
    validation.append({"params": params30, "binary": best["binary"], "ndcg": m["ndcg"], "seconds": secs})
    print(f"val implicit {params30} binary={best['binary']}: ndcg={m['ndcg']:.4f}", file=sys.stderr)
    best = max(validation, key=lambda v: v["ndcg"])

    rows = []
    ids, secs = als_recs(test, best["params"], best["binary"], k)
    p = best["params"]
    rows.append({"model": "implicit ALS (best of grid)", "metrics": evaluate(test, ids, k), "train_seconds": secs,
                 "config": f"factors={p['factors']} alpha={p['alpha']} reg={p['regularization']} "
                           f"it={p['iterations']} input={'binary' if best['binary'] else 'decayed weights'}"})
    recs, secs = popularity_recs(test, k)
    rows.append({"model": "python popularity", "metrics": evaluate(test, recs, k), "train_seconds": secs,
                 "config": "distinct buyers, global"})
    for r in rows:
        print(f"test {r['model']}: {r['metrics']}", file=sys.stderr)
    import implicit

    out = {"implicit_version": implicit.__version__, "validation": validation, "best": best, "test": rows,
           "train_items": test.matrix.shape[1], "train_users": test.matrix.shape[0], "test_users": len(test.truth)}
    os.makedirs(os.path.dirname(a.json) or ".", exist_ok=True)
    with open(a.json, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
