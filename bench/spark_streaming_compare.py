#!/usr/bin/env python3
"""Spark Structured Streaming benchmark: a file-source stream of the AirBnB-like rows scored
by Spark ML's own PipelineModel and by keel's KeelModel (both engines), in one SparkSession,
and model swaps in a running stream.

    python bench/spark_streaming_compare.py                    # linear + forest, 10k and 100k batches
    python bench/spark_streaming_compare.py --streams 10000x21,100000x8   # shorter
    python bench/spark_streaming_compare.py --models linear --streams 10000x21 --no-swaps

What is streamed. The test rows (fixtures/data.py `airbnb_frame`, seed 2) are written up front
as parquet files, each micro-batch of B rows as two files of B/2 rows, read with
`spark.readStream.schema(...).option("maxFilesPerTrigger", 2)`: every micro-batch is exactly
B rows in two partitions, one per core (`spark.sql.files.openCostInBytes` is raised so Spark
never packs the two files into one partition). `--streams 10000x41,100000x12` (the default)
means 41 micro-batches of 10,000 rows and 12 of 100,000. The sink is `format("noop")` (every
output column computed, nothing written) with `trigger(availableNow=True)`, so the micro-batches
run back to back, each with its own checkpoint folder (offset and commit logs on local disk, as
a real query writes them).

The models. The pipelines and the export are bench/spark_compare.py's (imported from it, not
copied): StringIndexer -> OneHotEncoder, VectorAssembler -> StandardScaler, into
LinearRegression or RandomForestRegressor (100 trees, depth 10), fitted by Spark ML on 20,000
rows, exported with `keel.spark.export`; before timing, each engine's predictions are checked
against Spark ML's on 1,000 rows (batch). The very same fitted PipelineModel is streamed three
ways: `PipelineModel.transform`, `KeelModel(engine="python")` (mapInArrow) and
`KeelModel(engine="jvm")` (keel-spark.jar, `--jar`), the three taking turns per batch size.

What is reported, from the query's own progress reports (`query.recentProgress`), one per
micro-batch, skipping the first micro-batch of every query (the warm-up: query start, Python
workers, bundle load, JIT):

- latency: each micro-batch's `durationMs.triggerExecution` (offsets planned, logs written,
  the batch scored into the sink): p50 and p99 (nearest rank: with fewer than 100
  micro-batches, p99 is the slowest one);
- sustained rows/s: the rows of micro-batches 2..N over the wall time from the end of
  micro-batch 1 to the end of micro-batch N (progress timestamp + triggerExecution), so the
  gaps between micro-batches count.

stderr also shows, per query, the median of each phase Spark times (`addBatch`: the scoring
job itself; `queryPlanning`; `walCommit` / `commitOffsets`: the offset and commit logs;
`latestOffset` / `getBatch`: listing the source folder): a micro-batch has a fixed cost that
no scorer removes.

Model swaps (`--no-swaps` skips them). For each model, engine and the smallest batch size
(`--swap-streams all`: every size; small batches are where a swap's cost shows most), two more
queries with `KeelModel(refreshInterval=0.2, versionCol="model_uid")` on a copy of the bundle
file: one where nothing changes (the baseline), one where a thread replaces the bundle file
(write + rename) every `--swap-every` seconds (default 1), alternating between two versions of
the model (the second fitted by Spark ML on other training rows, seed 3, and exported
separately: a different bundle, a different uid). How many versions scored the stream is read
from the version store's per-micro-batch records (`<versionDir>/<plan>/batches/<queryId>/*`,
`keel.spark_runtime._versions`), which every task of a micro-batch scores by.

Use release builds of keel's native module and keel-spark.jar. Not a test: numbers depend on
the machine and its load; the script prints the load average before and after.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402

from spark_compare import check_same, spark_pipeline  # noqa: E402  (also puts fixtures/ on the path)
from data import airbnb_frame  # noqa: E402

MODELS = ("linear", "forest")
LABEL = {"linear": "LinearRegression", "logistic": "LogisticRegression",
         "forest": "RandomForest (100 trees, depth 10)", "gbt": "GBT (100, depth 3)"}


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(np.ceil(q / 100 * len(s))) - 1))]


def write_files(frame, folder: str, batch_rows: int, batches: int) -> None:
    """`batches` micro-batches of `batch_rows` rows, each as two parquet files of half the rows;
    names sort in stream order."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    os.makedirs(folder)
    half = batch_rows // 2
    for i in range(2 * batches):
        part = frame.iloc[i * half:(i + 1) * half]
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), os.path.join(folder, f"part-{i:05d}.parquet"))
        # Same mtime order as name order: the file source orders new files by modification time.
        t = 1_700_000_000 + i
        os.utime(os.path.join(folder, f"part-{i:05d}.parquet"), (t, t))


def run_stream(spark, source: str, schema, score, tmp: str, tag: str, during=None) -> dict:
    """Streams `source` through `score` (a DataFrame -> DataFrame function) into a noop sink,
    all available micro-batches; returns per-batch latencies and sustained rows/s. `during`,
    if given, is called with a stop Event while the query runs (in a thread)."""
    stream = spark.readStream.schema(schema).option("maxFilesPerTrigger", 2).parquet(source)
    ckpt = os.path.join(tmp, f"ckpt-{tag}")
    stop = threading.Event()
    thread = None
    query = (score(stream).writeStream.format("noop").option("checkpointLocation", ckpt)
             .trigger(availableNow=True).queryName(tag.replace("-", "_")).start())
    if during is not None:
        thread = threading.Thread(target=during, args=(stop,), daemon=True)
        thread.start()
    query.awaitTermination()
    stop.set()
    if thread is not None:
        thread.join()
    if query.exception() is not None:
        raise SystemExit(f"{tag}: the query failed: {query.exception()}")
    progress = [p for p in query.recentProgress if p["numInputRows"] > 0]
    progress.sort(key=lambda p: p["batchId"])
    shutil.rmtree(ckpt, ignore_errors=True)

    def end(p) -> float:
        from datetime import datetime

        start = datetime.strptime(p["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()
        return start + p["durationMs"]["triggerExecution"] / 1000

    lat = [p["durationMs"]["triggerExecution"] / 1000 for p in progress[1:]]
    rows = sum(p["numInputRows"] for p in progress[1:])
    wall = end(progress[-1]) - end(progress[0])
    parts = {k: float(np.median([p["durationMs"].get(k, 0) for p in progress[1:]])) for k in progress[-1]["durationMs"]}
    return {"parts": parts, "id": query.id, "batches": len(progress), "rows": rows, "rows_s": rows / wall,
            "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat), "first": progress[0]["durationMs"]["triggerExecution"] / 1000}


def versions_seen(store: str, query_id: str) -> list[str]:
    """The uid that scored each micro-batch of query `query_id`, in batch order (the version
    store's records)."""
    records = glob.glob(os.path.join(store, "*", "batches", query_id, "*"))
    out = []
    for r in sorted(records, key=lambda r: int(os.path.basename(r))):
        with open(r, encoding="utf-8") as f:
            out.append(f.read().split()[1])
    return out


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--streams", default="10000x41,100000x12",
                    help="micro-batch rows x micro-batches per query (the first is warm-up), comma-separated")
    ap.add_argument("--no-swaps", action="store_true", help="skip the model-swap queries")
    ap.add_argument("--swap-streams", default="smallest",
                    help="batch sizes of the swap queries: 'smallest' (default) or 'all'")
    ap.add_argument("--swap-every", type=float, default=1.0, help="seconds between bundle replacements")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--jar", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "keel-spark.jar"),
                    help="keel-spark.jar (jvm/build.sh) for the JVM engine; missing: Python engine only")
    args = ap.parse_args()
    jar = os.path.abspath(args.jar) if os.path.exists(args.jar) else None
    if jar is None:
        print(f"{args.jar} not found (jvm/build.sh builds it): the Python engine only", file=sys.stderr)
    names = [m for m in args.models.split(",") if m]
    streams = [tuple(int(x) for x in s.split("x")) for s in args.streams.split(",") if s]
    print(f"load average before: {loadavg()}", file=sys.stderr)
    t_all = time.perf_counter()

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if jar and "PYSPARK_SUBMIT_ARGS" not in os.environ:
        # On the driver's class path too (the JVM engine's driver-side planning needs it).
        os.environ["PYSPARK_SUBMIT_ARGS"] = f"--jars {jar} pyspark-shell"
    from pyspark.sql import SparkSession

    import keel
    import keel.spark
    from keel.spark_runtime import KeelModel

    spark = (
        SparkSession.builder.master(args.master)
        .appName("keel-spark-streaming-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.memory", "6g")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.sql.files.openCostInBytes", str(256 << 20))  # one file, one partition
        .config("spark.sql.streaming.numRecentProgressUpdates", "1000")
        .config("spark.jars", jar or "")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    cores = spark.sparkContext.defaultParallelism

    tmp = tempfile.mkdtemp(prefix="keel-spark-stream-bench-")
    max_rows = max(b * n for b, n in streams)
    X_test, _, _ = airbnb_frame(max_rows, seed=2)
    sources = {}
    for b, n in streams:
        sources[b] = os.path.join(tmp, f"source-{b}")
        write_files(X_test, sources[b], b, n)
    schema = spark.read.parquet(sources[streams[0][0]]).schema
    parts = spark.read.parquet(*sorted(glob.glob(os.path.join(sources[streams[0][0]], "*")))[:2]).rdd.getNumPartitions()
    print(f"sources written: {', '.join(f'{n} x {b:,} rows' for b, n in streams)} "
          f"(one micro-batch reads {parts} partitions); Spark {spark.version}, {cores} cores, "
          f"keel runtime {keel._api._native_module().RUNTIME_VERSION}", file=sys.stderr)
    check = spark.createDataFrame(X_test.head(1000))

    def training(seed: int):
        X, price, booked = airbnb_frame(20_000, seed=seed)
        return spark.createDataFrame(X.assign(price=price, booked=booked.astype(np.float64)))

    train = {1: training(1)}
    results = []  # (model, batch rows, scorer, result)
    swaps = []  # (model, batch rows, engine, baseline result, swap result, versions, changes)
    for name in names:
        t = time.perf_counter()
        spark_model = spark_pipeline(name).fit(train[1])
        path = os.path.join(tmp, f"airbnb_{name}.keel")
        keel.spark.export(spark_model, path, sample_df=check.limit(100), name=f"airbnb_{name}")
        print(f"{name}: fitted and exported in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        engines = ["python"] + (["jvm"] if jar else [])
        scorers = {"spark": lambda df, m=spark_model: m.transform(df)}
        for engine in engines:
            km = KeelModel(path, outputPrefix="keel_", engine=engine)
            check_same(km.transform(spark_model.transform(check)), f"{name} ({engine} engine)")
            scorers[engine] = km.transform
        for b, _ in streams:
            for scorer, fn in scorers.items():
                r = run_stream(spark, sources[b], schema, fn, tmp, f"{name}-{b}-{scorer}")
                results.append((name, b, scorer, r))
                print(f"{name} {b:,}-row batches, {scorer}: {r['rows_s']:,.0f} rows/s, p50 {r['p50']:.3f} s, "
                      f"p99 {r['p99']:.3f} s (first {r['first']:.2f} s) [load {loadavg()}]", file=sys.stderr)
                print(f"  median ms per part: {r['parts']}", file=sys.stderr)
        if args.no_swaps:
            continue

        # A second version: the same pipeline fitted on other rows, exported on its own.
        if 3 not in train:
            train[3] = training(3)
        t = time.perf_counter()
        v2_path = os.path.join(tmp, f"airbnb_{name}_v2.keel")
        keel.spark.export(spark_pipeline(name).fit(train[3]), v2_path, sample_df=check.limit(100),
                          name=f"airbnb_{name}")
        print(f"{name}: second version fitted and exported in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        with open(path, "rb") as f:
            v1 = f.read()
        with open(v2_path, "rb") as f:
            v2 = f.read()

        swap_sizes = [b for b, _ in streams] if args.swap_streams == "all" else [min(b for b, _ in streams)]
        for b in swap_sizes:
            for engine in engines:
                out = {}
                for swapping in (False, True):
                    run_dir = os.path.join(tmp, f"swap-{name}-{b}-{engine}-{int(swapping)}")
                    os.makedirs(run_dir)
                    live = os.path.join(run_dir, "model.keel")
                    with open(live, "wb") as f:
                        f.write(v1)
                    store = os.path.join(run_dir, "versions")
                    km = KeelModel(live, outputPrefix="keel_", engine=engine, refreshInterval=0.2,
                                   versionDir=store, versionCol="model_uid")

                    def swapper(stop: threading.Event, live=live) -> None:
                        k = 0
                        while not stop.wait(args.swap_every):
                            k += 1
                            tmp_file = live + ".new"
                            with open(tmp_file, "wb") as f:
                                f.write(v2 if k % 2 else v1)
                            os.replace(tmp_file, live)

                    r = run_stream(spark, sources[b], schema, km.transform, tmp, f"{name}-{b}-{engine}-swap{int(swapping)}",
                                   during=swapper if swapping else None)
                    seen = versions_seen(store, r["id"])
                    changes = sum(1 for a, c in zip(seen, seen[1:]) if a != c)
                    out[swapping] = (r, seen, changes)
                    print(f"{name} {b:,}-row batches, {engine}, refresh on, {'swapping' if swapping else 'no swaps'}: "
                          f"{r['rows_s']:,.0f} rows/s, p50 {r['p50']:.3f} s, p99 {r['p99']:.3f} s; "
                          f"{len(set(seen))} versions over {len(seen)} batches, {changes} changes [load {loadavg()}]",
                          file=sys.stderr)
                swaps.append((name, b, engine, out[False][0], out[True][0], len(set(out[True][1])), out[True][2],
                              len(out[True][1])))

    print(f"load average after: {loadavg()}; total {time.perf_counter() - t_all:.0f} s", file=sys.stderr)
    print(f"\nStructured Streaming, file source (parquet, one micro-batch = two files), noop sink, "
          f"Trigger.AvailableNow, {cores} cores; first micro-batch of each query excluded\n")
    print("| model | batch rows | scorer | rows/s sustained | p50 latency | p99 latency | / Spark ML (rows/s) |")
    print("|---|---:|---|---:|---:|---:|---:|")
    label = {"spark": "Spark ML PipelineModel", "python": "keel, mapInArrow engine", "jvm": "keel, JVM engine"}
    base = {(m, b): r["rows_s"] for m, b, s, r in results if s == "spark"}
    for m, b, s, r in results:
        ratio = "" if s == "spark" else f"{r['rows_s'] / base[(m, b)]:.2f}x"
        print(f"| {LABEL.get(m, m)} | {b:,} | {label[s]} | {r['rows_s']:,.0f} | {r['p50'] * 1000:.0f} ms | "
              f"{r['p99'] * 1000:.0f} ms | {ratio} |")
    if swaps:
        print(f"\nModel swaps: refreshInterval=0.2 s, versionCol on, bundle file replaced every "
              f"{args.swap_every:g} s (two versions alternating) vs the same query with no replacement\n")
        print("| model | batch rows | engine | p50 no swaps | p99 no swaps | p50 swapping | p99 swapping | p99 change | "
              "rows/s no swaps | rows/s swapping | versions / changes over batches |")
        print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for m, b, e, r0, r1, nv, ch, nb in swaps:
            print(f"| {LABEL.get(m, m)} | {b:,} | {e} | {r0['p50'] * 1000:.0f} ms | {r0['p99'] * 1000:.0f} ms | "
                  f"{r1['p50'] * 1000:.0f} ms | {r1['p99'] * 1000:.0f} ms | {(r1['p99'] / r0['p99'] - 1) * 100:+.0f}% | "
                  f"{r0['rows_s']:,.0f} | {r1['rows_s']:,.0f} | {nv} / {ch} over {nb} |")
    spark.stop()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
