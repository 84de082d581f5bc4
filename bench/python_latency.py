#!/usr/bin/env python3
"""Single-row latency from Python: keel's ``Bundle.transform_one`` against ONNX Runtime's
``InferenceSession.run``, same pipeline, same rows, same run, one thread each.

    pip install ./exporters -r bench/requirements.txt   # keel built in release mode
    python bench/python_latency.py [--calls 20000]

The pipeline is bench/compare.py's "linear" one: an AirBnB-like frame (fixtures/data.py: 8
numeric and 5 categorical columns) through ColumnTransformer(StandardScaler on the numerics,
OneHotEncoder(handle_unknown='ignore') on the categoricals) into LinearRegression. If this
checkout's exporter does not have OneHotEncoder yet, the numerics alone are used, and the
script says so.

Each side gets its natural single-row input, prepared before the clock starts: a dict of
Python values for keel (what a request handler holds), a dict of 1x1 numpy arrays for ONNX
Runtime (float32 for numbers, object for strings: what skl2onnx's converted model takes). The
figure is the mean over ``--calls`` calls cycling through 256 distinct rows, best of 5 rounds.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "fixtures"))

import numpy as np  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.linear_model import LinearRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: E402

from data import AIRBNB_CATEGORICAL, AIRBNB_NUMERIC, airbnb_frame  # noqa: E402

import keel  # noqa: E402
import keel.sklearn  # noqa: E402


def pipeline(categorical: list[str]) -> Pipeline:
    parts = [("num", StandardScaler(), AIRBNB_NUMERIC)]
    if categorical:
        parts.append(("cat", OneHotEncoder(handle_unknown="ignore"), categorical))
    return Pipeline([("pre", ColumnTransformer(parts)), ("model", LinearRegression())])


def to_onnx(est, columns: list[str], strings: set[str]):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = [(c, StringTensorType([None, 1]) if c in strings else FloatTensorType([None, 1])) for c in columns]
    return convert_sklearn(est, initial_types=types, target_opset=17)


def mean_per_call(fn, args: list, calls: int, rounds: int = 5) -> float:
    n = len(args)
    for i in range(min(calls, 1000)):  # warm up
        fn(args[i % n])
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for i in range(calls):
            fn(args[i % n])
        best = min(best, (time.perf_counter() - t) / calls)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=20_000, help="calls per round (default 20000)")
    args = ap.parse_args()

    import onnxruntime as ort

    X, price, _ = airbnb_frame(20_000, seed=1)
    categorical = list(AIRBNB_CATEGORICAL)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "airbnb_linear.keel")
        try:
            est = pipeline(categorical).fit(X, price)
            keel.sklearn.export(est, path, sample=X.head(100), name="airbnb_linear")
        except keel.UnsupportedError as e:
            print(f"note: {e}\nnote: measuring the numeric columns only (StandardScaler + LinearRegression)\n")
            categorical = []
            est = pipeline(categorical).fit(X, price)
            keel.sklearn.export(est, path, sample=X.head(100), name="airbnb_linear")
        bundle = keel.load(path)
    columns = [f.name for f in bundle.schema.inputs]
    strings = {f.name for f in bundle.schema.inputs if f.dtype == "utf8"}
    onx = to_onnx(est, columns, strings)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(onx.SerializeToString(), so, providers=["CPUExecutionProvider"])

    test, _, _ = airbnb_frame(256, seed=2)
    records = test[columns].to_dict("records")
    rows = [{k: (v if isinstance(v, str) else float(v)) for k, v in r.items()} for r in records]
    feeds = [
        {c: np.array([[r[c]]], dtype=object if c in strings else np.float32) for c in columns} for r in rows
    ]

    # Same answers first (ONNX Runtime computes in float32, hence the loose comparison).
    want = est.predict(test[columns])
    got = np.array([bundle.transform_one(r)["prediction"] for r in rows])
    onnx = np.array([sess.run(None, f)[0].ravel()[0] for f in feeds])
    assert np.allclose(got, want, rtol=1e-9, atol=1e-9), "keel disagrees with scikit-learn"
    assert np.allclose(onnx, want, rtol=1e-3, atol=1e-2), "ONNX Runtime disagrees with scikit-learn"

    keel_s = mean_per_call(bundle.transform_one, rows, args.calls)
    ort_s = mean_per_call(lambda f: sess.run(None, f), feeds, args.calls)
    import pyarrow as pa

    tables = [pa.table({k: [v] for k, v in r.items()}) for r in rows[:64]]
    table_s = mean_per_call(bundle.transform, tables, max(args.calls // 10, 100))

    kind = "StandardScaler + OneHotEncoder" if categorical else "StandardScaler (numerics only)"
    print(f"pipeline: {len(columns)} inputs, {kind} -> LinearRegression; {args.calls} calls x 5 rounds, best round")
    print(f"keel Bundle.transform_one(dict)        {keel_s * 1e6:8.2f} µs/row")
    print(f"keel Bundle.transform(1-row pa.Table)   {table_s * 1e6:8.2f} µs/row")
    print(f"ONNX Runtime InferenceSession.run       {ort_s * 1e6:8.2f} µs/row")
    print(f"keel transform_one / ORT run            {keel_s / ort_s:8.3f}  (target <= 0.333)")


if __name__ == "__main__":
    main()
