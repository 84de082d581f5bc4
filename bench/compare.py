#!/usr/bin/env python3
"""Side-by-side benchmark: keel vs scikit-learn vs ONNX Runtime, same pipelines, same data,
same run, one thread each.

    python bench/compare.py            # prepare bundles/ONNX models, measure, print the table
    python bench/compare.py --prepare  # only write bench/out/ (for `cargo bench -p keel-bench`)

Pipelines (AirBnB-like frame from fixtures/data.py: 8 numeric + 5 categorical columns):
ColumnTransformer(StandardScaler on numerics, OneHotEncoder(handle_unknown='ignore') on
categoricals) into LinearRegression, LogisticRegression, RandomForestRegressor(100 trees,
max_depth=10) and GradientBoostingClassifier(100 stages, max_depth=3).

Measured:
- single-row end-to-end latency: one row in (a 1-row DataFrame for scikit-learn, 1-row arrays
  for ONNX Runtime, a 1-row Arrow batch for keel), the outputs out;
- batch throughput: 100,000 rows scored at once.

keel is timed by the `keel-bench` probe (bench/src/main.rs) on the exported bundle; ONNX Runtime
runs the skl2onnx conversion with intra_op_num_threads=1. Ratios are computed within this run
because these machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
sys.path.insert(0, os.path.join(ROOT, "fixtures"))
sys.path.insert(0, os.path.join(ROOT, "exporters"))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor  # noqa: E402
from sklearn.linear_model import LinearRegression, LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

from data import AIRBNB_CATEGORICAL, AIRBNB_NUMERIC, airbnb_frame  # noqa: E402

import keel.sklearn  # noqa: E402

BATCH_ROWS = 100_000


def pipelines():
    def pre():
        return ColumnTransformer(
            [
                ("num", StandardScaler(), AIRBNB_NUMERIC),
                ("cat", OneHotEncoder(handle_unknown="ignore"), AIRBNB_CATEGORICAL),
            ]
        )

    return {
        "linear": (Pipeline([("pre", pre()), ("model", LinearRegression())]), "price"),
        "logistic": (Pipeline([("pre", pre()), ("model", LogisticRegression(max_iter=1000))]), "booked"),
        "forest": (
            Pipeline([("pre", pre()), ("model", RandomForestRegressor(n_estimators=100, max_depth=10, random_state=0))]),
            "price",
        ),
        "gbt": (
            Pipeline([("pre", pre()), ("model", GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=0))]),
            "booked",
        ),
    }


def to_onnx(est, X):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = [(c, FloatTensorType([None, 1])) for c in AIRBNB_NUMERIC] + [
        (c, StringTensorType([None, 1])) for c in AIRBNB_CATEGORICAL
    ]
    options = {id(est.steps[-1][1]): {"zipmap": False}} if hasattr(est, "predict_proba") else None
    return convert_sklearn(est, initial_types=types, options=options, target_opset=17)


def ort_feed(X):
    feed = {c: X[c].to_numpy(dtype=np.float32).reshape(-1, 1) for c in AIRBNB_NUMERIC}
    feed.update({c: X[c].to_numpy(dtype=object).reshape(-1, 1) for c in AIRBNB_CATEGORICAL})
    return feed


def write_arrow(X, path):
    import pyarrow as pa
    import pyarrow.ipc as ipc

    table = pa.Table.from_pandas(X, preserve_index=False)
    with ipc.new_file(path, table.schema) as w:
        w.write_table(table)


def prepare():
    os.makedirs(OUT, exist_ok=True)
    X_train, price, booked = airbnb_frame(20_000, seed=1)
    X_test, _, _ = airbnb_frame(BATCH_ROWS, seed=2)
    targets = {"price": price, "booked": booked}
    fitted = {}
    for name, (est, target) in pipelines().items():
        t = time.time()
        est.fit(X_train, targets[target])
        keel.sklearn.export(est, os.path.join(OUT, f"airbnb_{name}.keel"), sample=X_train.head(100), name=f"airbnb_{name}")
        onx = to_onnx(est, X_train)
        with open(os.path.join(OUT, f"airbnb_{name}.onnx"), "wb") as f:
            f.write(onx.SerializeToString())
        fitted[name] = est
        print(f"prepared {name} in {time.time() - t:.1f}s", file=sys.stderr)
    write_arrow(X_test, os.path.join(OUT, "airbnb_input.arrow"))
    return fitted, X_test


def best_of(fn, runs=3):
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def per_call(fn, rows, calls):
    for i in range(min(calls, 200)):
        fn(rows[i % len(rows)])
    t = time.perf_counter()
    for i in range(calls):
        fn(rows[i % len(rows)])
    return (time.perf_counter() - t) / calls


def measure(fitted, X_test, keel_bench):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    results = {}
    single_rows = [X_test.iloc[i : i + 1] for i in range(256)]
    for name, est in fitted.items():
        method = est.predict_proba if hasattr(est, "predict_proba") else est.predict
        sess = ort.InferenceSession(os.path.join(OUT, f"airbnb_{name}.onnx"), so, providers=["CPUExecutionProvider"])
        feeds = [ort_feed(r) for r in single_rows]
        big_feed = ort_feed(X_test)
        r = {
            "sklearn_single_s": per_call(method, single_rows, 300),
            "sklearn_batch_s": best_of(lambda: method(X_test), 2),
            "ort_single_s": per_call(lambda f: sess.run(None, f), feeds, 5000),
            "ort_batch_s": best_of(lambda: sess.run(None, big_feed)),
        }
        out = subprocess.run(
            [keel_bench, os.path.join(OUT, f"airbnb_{name}.keel"), os.path.join(OUT, "airbnb_input.arrow")],
            check=True, capture_output=True, text=True,
        )
        k = json.loads(out.stdout)
        r["keel_single_s"] = k["single_row_mean_ns"] * 1e-9
        r["keel_single_median_s"] = k["single_row_median_ns"] * 1e-9
        r["keel_batch_s"] = k["batch_seconds"]
        results[name] = r
        print(f"measured {name}", file=sys.stderr)
    return results


def table(results, rows):
    def us(s):
        return f"{s * 1e6:,.2f} µs"

    def rps(s):
        return f"{rows / s:,.0f}"

    lines = [
        "| pipeline | keel 1 row | ONNX Runtime 1 row | scikit-learn 1 row | keel rows/s | ONNX Runtime rows/s | scikit-learn rows/s | keel vs ORT (batch) | keel vs ORT (1 row) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {us(r['keel_single_s'])} | {us(r['ort_single_s'])} | {us(r['sklearn_single_s'])} | "
            f"{rps(r['keel_batch_s'])} | {rps(r['ort_batch_s'])} | {rps(r['sklearn_batch_s'])} | "
            f"{r['ort_batch_s'] / r['keel_batch_s']:.1f}x | {r['ort_single_s'] / r['keel_single_s']:.1f}x |"
        )
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prepare", action="store_true", help="only write bench/out/")
    ap.add_argument("--keel-bench", default=None, help="path to the keel-bench binary (default: build it)")
    args = ap.parse_args()
    fitted, X_test = prepare()
    if args.prepare:
        return
    keel_bench = args.keel_bench
    if keel_bench is None:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "keel-bench"], cwd=ROOT, check=True)
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        keel_bench = os.path.join(target, "release", "keel-bench")
    results = measure(fitted, X_test, keel_bench)
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(table(results, len(X_test)))


if __name__ == "__main__":
    main()
