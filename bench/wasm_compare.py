#!/usr/bin/env python3
"""Browser benchmark: keel's npm package vs onnxruntime-web in one headless Chromium run, and
keel's native runtime on the same bundles and rows in the same run.

    python bench/wasm_compare.py --keel-pkg DIR [--keel-bench PATH] [--chromium PATH]

Prepares bench/out/ as bench/compare.py does (the AirBnB-like scikit-learn pipelines exported
to keel and converted with skl2onnx; 100,000 test rows), installs onnxruntime-web (npm, into
bench/out/web), then runs bench/wasm_bench.mjs in Chromium: transferred size (gzip -9), cold
start (fresh browser context: import the library, fetch and compile its wasm, load the model,
score one row), single-row latency through each library's public API, and batch rows/s
(keel: Arrow IPC in and out; onnxruntime-web: one tensor per column; one thread each). The
native figures come from the keel-bench probe (release build) on the same files.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out")
sys.path.insert(0, HERE)

import compare  # noqa: E402
from data import AIRBNB_CATEGORICAL, AIRBNB_NUMERIC  # noqa: E402

ORT_WEB = "onnxruntime-web@1.31.1"


def write_json_columns(X, path):
    columns = {c: [None if v != v else float(v) for v in X[c]] for c in AIRBNB_NUMERIC}
    columns.update({c: [str(v) for v in X[c]] for c in AIRBNB_CATEGORICAL})
    with open(path, "w") as f:
        json.dump(columns, f)


def ort_dist():
    web = os.path.join(OUT, "web")
    dist = os.path.join(web, "node_modules", "onnxruntime-web", "dist")
    if not os.path.isdir(dist):
        os.makedirs(web, exist_ok=True)
        with open(os.path.join(web, "package.json"), "w") as f:
            f.write('{"private": true}\n')
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", ORT_WEB], cwd=web, check=True)
    return dist


def native(keel_bench, name):
    out = subprocess.run(
        [keel_bench, os.path.join(OUT, f"airbnb_{name}.keel"), os.path.join(OUT, "airbnb_input.arrow"), "20000", "3"],
        check=True, capture_output=True, text=True,
    )
    k = json.loads(out.stdout)
    return {"native_single_ms": k["single_row_mean_ns"] * 1e-6, "native_batch_ms": k["batch_seconds"] * 1e3}


def table(results):
    s = results["sizes"]
    lines = [
        f"Transferred (gzip -9): keel {s['keel_gzip'] / 1e6:.2f} MB (wasm {s['keel_wasm_raw'] / 1e6:.2f} MB raw), "
        f"onnxruntime-web {s['ort_gzip'] / 1e6:.2f} MB (wasm {s['ort_wasm_raw'] / 1e6:.2f} MB raw).",
        "",
        "| pipeline | bundle | keel cold start | ORT-web cold start | keel-wasm 1 row | ORT-web 1 row | keel native 1 row "
        "| keel-wasm rows/s | ORT-web rows/s | keel native rows/s | wasm/native (batch) | keel-wasm vs ORT-web (batch) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["pipelines"].items():
        rows = r["rows"]
        lines.append(
            f"| {name} | {r['bundle_bytes'] / 1e3:,.0f} KB | {r['keel_cold_ms']:.0f} ms | {r['ort_cold_ms']:.0f} ms "
            f"| {r['keel_single_ms'] * 1e3:,.1f} µs | {r['ort_single_ms'] * 1e3:,.1f} µs | {r['native_single_ms'] * 1e3:,.2f} µs "
            f"| {rows / r['keel_batch_ms'] * 1e3:,.0f} | {rows / r['ort_batch_ms'] * 1e3:,.0f} | {rows / r['native_batch_ms'] * 1e3:,.0f} "
            f"| {r['native_batch_ms'] / r['keel_batch_ms']:.2f}x | {r['ort_batch_ms'] / r['keel_batch_ms']:.1f}x |"
        )
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keel-pkg", required=True, help="keel's npm package (wasm/build.sh DIR)")
    ap.add_argument("--keel-bench", default=None, help="the keel-bench binary (default: build it, release)")
    ap.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    ap.add_argument("--pipelines", default="linear,logistic,forest,gbt")
    args = ap.parse_args()

    _, X_test = compare.prepare()
    write_json_columns(X_test, os.path.join(OUT, "airbnb_input.json"))
    keel_bench = args.keel_bench
    if keel_bench is None:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "keel-bench"], cwd=ROOT, check=True)
        target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        keel_bench = os.path.join(target, "release", "keel-bench")
    pipelines = args.pipelines.split(",")
    config = {
        "keel_pkg": os.path.abspath(args.keel_pkg),
        "ort_dist": ort_dist(),
        "chromium": args.chromium,
        "out_dir": OUT,
        "pipelines": pipelines,
        "numeric": AIRBNB_NUMERIC,
        "categorical": AIRBNB_CATEGORICAL,
        "single_calls": 3000,
        "batch_runs": 3,
        "cold_runs": 5,
    }
    config_path = os.path.join(OUT, "wasm_bench_config.json")
    out_path = os.path.join(OUT, "wasm_results.json")
    with open(config_path, "w") as f:
        json.dump(config, f)
    subprocess.run(["node", os.path.join(HERE, "wasm_bench.mjs"), config_path, out_path], check=True)
    with open(out_path) as f:
        results = json.load(f)
    for name in pipelines:
        results["pipelines"][name].update(native(keel_bench, name))
        results["pipelines"][name]["bundle_bytes"] = os.path.getsize(os.path.join(OUT, f"airbnb_{name}.keel"))
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1)
    print(table(results))


if __name__ == "__main__":
    main()
