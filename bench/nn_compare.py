#!/usr/bin/env python3
"""Side-by-side benchmark of networks: keel vs ONNX Runtime vs tract, same ONNX models, same
inputs, same run.

    python bench/nn_compare.py                 # build models, convert, measure, print the table
    python bench/nn_compare.py --models mlp,cnn --batch 512

Models (seeded weights, built with onnx.helper so no model hub or download is involved):
- `mlp`: tabular MLP, 64 -> 256 -> 256 -> 10 with ReLU and a softmax (Gemm ops);
- `embed`: a DLRM-shaped net: 8 categorical ids per row into a 1000 x 16 embedding table
  (Gather), 4 dense features beside them, 132 -> 64 -> 1 with a sigmoid;
- `cnn`: a small ResNet-shaped CNN on 3 x 32 x 32 images: conv 3x3 (16) + BatchNorm + ReLU,
  max pool, conv 3x3 (32) + ReLU, global average pool, dense 32 -> 10;
- `mobile`: a MobileNetV2-shaped block: conv 3x3 stride 2 (32), depthwise 3x3 (group 32),
  pointwise 1x1 (64), ReLU6 (Clip), global average pool, dense 64 -> 10.

Measured, each engine on one thread unless noted:
- single-sample latency: one row (a batch of one) in, the outputs out, mean over many calls;
- batch throughput: `--batch` rows at once, best of three;
- ONNX Runtime also with all cores (`intra_op_num_threads=0`).

keel is timed by the `keel-bench` probe (bench/src/main.rs) on the bundle `keel convert --from
onnx` writes, reading an Arrow IPC file of the same inputs: end to end from an Arrow batch.
Ratios are computed within this run because these machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(HERE, "out", "nn")

import numpy as np  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(0)


def _w(name, *shape, scale=None):
    scale = scale if scale is not None else 1.0 / np.sqrt(max(1, int(np.prod(shape[1:])) or shape[0]))
    return numpy_helper.from_array((RNG.standard_normal(shape) * scale).astype(np.float32), name)


def _model(nodes, inits, inputs, outputs):
    graph = helper.make_graph(nodes, "bench", inputs, outputs, initializer=inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def mlp():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    inits = [_w("w1", 256, 64), _w("b1", 256), _w("w2", 256, 256), _w("b2", 256), _w("w3", 10, 256), _w("b3", 10)]
    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h1"], transB=1),
        helper.make_node("Relu", ["h1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "w2", "b2"], ["h2"], transB=1),
        helper.make_node("Relu", ["h2"], ["a2"]),
        helper.make_node("Gemm", ["a2", "w3", "b3"], ["h3"], transB=1),
        helper.make_node("Softmax", ["h3"], ["y"], axis=-1),
    ]
    feed = lambda n: {"x": RNG.standard_normal((n, 64)).astype(np.float32)}  # noqa: E731
    return _model(nodes, inits, [x], [y]), feed


def embed():
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 8])
    dense = helper.make_tensor_value_info("dense", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])
    inits = [
        _w("table", 1000, 16, scale=0.1),
        numpy_helper.from_array(np.array([-1, 128], dtype=np.int64), "flat"),
        _w("w1", 132, 64), _w("b1", 64), _w("w2", 64, 1), _w("b2", 1),
    ]
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["e"], axis=0),
        helper.make_node("Reshape", ["e", "flat"], ["ef"]),
        helper.make_node("Concat", ["ef", "dense"], ["h"], axis=1),
        helper.make_node("MatMul", ["h", "w1"], ["m1"]),
        helper.make_node("Add", ["m1", "b1"], ["z1"]),
        helper.make_node("Relu", ["z1"], ["a1"]),
        helper.make_node("MatMul", ["a1", "w2"], ["m2"]),
        helper.make_node("Add", ["m2", "b2"], ["z2"]),
        helper.make_node("Sigmoid", ["z2"], ["y"]),
    ]

    def feed(n):
        return {"ids": RNG.integers(0, 1000, (n, 8)).astype(np.int64),
                "dense": RNG.standard_normal((n, 4)).astype(np.float32)}

    return _model(nodes, inits, [ids, dense], [y]), feed


def cnn():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    inits = [
        _w("c1", 16, 3, 3, 3), _w("c1b", 16),
        numpy_helper.from_array(np.abs(RNG.standard_normal(16)).astype(np.float32) + 0.5, "bn_s"),
        _w("bn_b", 16), _w("bn_m", 16),
        numpy_helper.from_array(np.abs(RNG.standard_normal(16)).astype(np.float32) + 0.5, "bn_v"),
        _w("c2", 32, 16, 3, 3), _w("c2b", 32), _w("fc", 10, 32), _w("fcb", 10),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "c1", "c1b"], ["h1"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["h1", "bn_s", "bn_b", "bn_m", "bn_v"], ["n1"]),
        helper.make_node("Relu", ["n1"], ["a1"]),
        helper.make_node("MaxPool", ["a1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2", "c2b"], ["h2"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
        helper.make_node("Relu", ["h2"], ["a2"]),
        helper.make_node("GlobalAveragePool", ["a2"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], transB=1),
    ]
    feed = lambda n: {"x": RNG.standard_normal((n, 3, 32, 32)).astype(np.float32)}  # noqa: E731
    return _model(nodes, inits, [x], [y]), feed


def mobile():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 32, 32])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
    inits = [
        _w("c1", 32, 3, 3, 3), _w("c1b", 32), _w("dw", 32, 1, 3, 3), _w("dwb", 32),
        _w("pw", 64, 32, 1, 1), _w("pwb", 64), _w("fc", 10, 64), _w("fcb", 10),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "lo"),
        numpy_helper.from_array(np.array(6.0, dtype=np.float32), "hi"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "c1", "c1b"], ["h1"], pads=[1, 1, 1, 1], strides=[2, 2], kernel_shape=[3, 3]),
        helper.make_node("Clip", ["h1", "lo", "hi"], ["a1"]),
        helper.make_node("Conv", ["a1", "dw", "dwb"], ["h2"], pads=[1, 1, 1, 1], group=32, kernel_shape=[3, 3]),
        helper.make_node("Clip", ["h2", "lo", "hi"], ["a2"]),
        helper.make_node("Conv", ["a2", "pw", "pwb"], ["h3"], kernel_shape=[1, 1]),
        helper.make_node("Clip", ["h3", "lo", "hi"], ["a3"]),
        helper.make_node("GlobalAveragePool", ["a3"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], transB=1),
    ]
    feed = lambda n: {"x": RNG.standard_normal((n, 3, 32, 32)).astype(np.float32)}  # noqa: E731
    return _model(nodes, inits, [x], [y]), feed


MODELS = {"mlp": mlp, "embed": embed, "cnn": cnn, "mobile": mobile}


def write_arrow(feed, path):
    """The inputs as an Arrow IPC file of tensor columns (flat fixed-size lists), as keel
    declares them."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    cols, names = [], []
    for k, v in feed.items():
        per_row = int(np.prod(v.shape[1:]))
        cols.append(pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(v).ravel()), per_row))
        names.append(k)
    table = pa.Table.from_arrays(cols, names=names)
    with ipc.new_file(path, table.schema) as w:
        w.write_table(table)


def best_of(fn, runs=3):
    best = float("inf")
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def per_call(fn, feeds, calls):
    for i in range(min(calls, 50)):
        fn(feeds[i % len(feeds)])
    t = time.perf_counter()
    for i in range(calls):
        fn(feeds[i % len(feeds)])
    return (time.perf_counter() - t) / calls


def cargo_target():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def build_tools():
    subprocess.run(["cargo", "build", "--release", "-p", "keel-bench", "-p", "keel-cli"], cwd=ROOT, check=True)
    t = os.path.join(cargo_target(), "release")
    return os.path.join(t, "keel-bench"), os.path.join(t, "keel")


def measure(name, model, feed, batch, keel_bench, keel_bin, calls):
    import onnxruntime as ort

    os.makedirs(OUT, exist_ok=True)
    onnx_path = os.path.join(OUT, f"{name}.onnx")
    keel_path = os.path.join(OUT, f"{name}.keel")
    onnx.save(model, onnx_path)
    subprocess.run([keel_bin, "convert", "--from", "onnx", onnx_path, keel_path], check=True)
    big = feed(batch)
    singles = [{k: v[i : i + 1] for k, v in big.items()} for i in range(64)]
    arrow_path = os.path.join(OUT, f"{name}_input.arrow")
    write_arrow(big, arrow_path)

    r = {}
    for threads, key in ((1, "ort1"), (0, "ort_all")):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        r[f"{key}_single_s"] = per_call(lambda f: sess.run(None, f), singles, calls)
        r[f"{key}_batch_s"] = best_of(lambda: sess.run(None, big))
    try:
        import tract

        onnx_loader = tract.onnx()
        if hasattr(onnx_loader, "model_for_path"):  # tract 0.x
            runnable = onnx_loader.model_for_path(onnx_path).into_optimized().into_runnable()
        else:  # tract 1.x: `into_model` declutters and optimises
            runnable = onnx_loader.load(onnx_path).into_model().into_runnable()
        order = [i.name for i in model.graph.input]
        r["tract_single_s"] = per_call(lambda f: runnable.run([f[k] for k in order]), singles, calls)
        r["tract_batch_s"] = best_of(lambda: runnable.run([big[k] for k in order]))
    except Exception as e:  # tract may refuse an op; the table says so
        print(f"tract: {name}: {e}", file=sys.stderr)
    out = subprocess.run([keel_bench, keel_path, arrow_path, str(calls), "3"], check=True, capture_output=True, text=True)
    k = json.loads(out.stdout)
    r["keel_single_s"] = k["single_row_mean_ns"] * 1e-9
    r["keel_batch_s"] = k["batch_seconds"]
    # The same batch across every core (Model::score_parallel), as ORT's all-cores column.
    out = subprocess.run([keel_bench, keel_path, arrow_path, "1000", "3", "0"], check=True,
                         capture_output=True, text=True)
    r["keel_all_batch_s"] = json.loads(out.stdout)["batch_seconds"]
    return r


def table(results, batch):
    def us(s):
        return f"{s * 1e6:,.1f} µs" if s else "n/a"

    def rps(s):
        return f"{batch / s:,.0f}" if s else "n/a"

    lines = [
        "| model | keel 1 row | ORT 1 row (1 thr) | tract 1 row | keel rows/s | ORT rows/s (1 thr) | keel rows/s (all cores) | ORT rows/s (all cores) | tract rows/s | keel vs ORT 1 thr (batch / 1 row) | keel vs ORT all cores (batch) | keel vs tract (batch / 1 row) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        tb, ts = r.get("tract_batch_s"), r.get("tract_single_s")
        lines.append(
            f"| {name} | {us(r['keel_single_s'])} | {us(r['ort1_single_s'])} | {us(ts)} | "
            f"{rps(r['keel_batch_s'])} | {rps(r['ort1_batch_s'])} | {rps(r['keel_all_batch_s'])} | "
            f"{rps(r['ort_all_batch_s'])} | {rps(tb)} | "
            f"{r['ort1_batch_s'] / r['keel_batch_s']:.2f}x / {r['ort1_single_s'] / r['keel_single_s']:.2f}x | "
            f"{r['ort_all_batch_s'] / r['keel_all_batch_s']:.2f}x | "
            + (f"{tb / r['keel_batch_s']:.2f}x / {ts / r['keel_single_s']:.2f}x |" if tb else "n/a |")
        )
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--batch", type=int, default=1024, help="rows per batch (default 1024)")
    ap.add_argument("--calls", type=int, default=2000, help="single-sample calls per engine")
    ap.add_argument("--keel-bench", default=None, help="keel-bench binary (default: build it)")
    ap.add_argument("--keel", default=None, help="keel binary (default: build it)")
    args = ap.parse_args()
    if args.keel_bench and args.keel:
        keel_bench, keel_bin = args.keel_bench, args.keel
    else:
        keel_bench, keel_bin = build_tools()
    results = {}
    for name in args.models.split(","):
        model, feed = MODELS[name]()
        results[name] = measure(name, model, feed, args.batch, keel_bench, keel_bin, args.calls)
        print(f"measured {name}", file=sys.stderr)
    print(table(results, args.batch))
    print(json.dumps(results, indent=1), file=sys.stderr)


if __name__ == "__main__":
    main()
