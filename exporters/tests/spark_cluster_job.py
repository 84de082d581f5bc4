"""The driver program of test_spark_runtime.py's standalone-cluster test, run in its own
process (a Python process holds one SparkContext, and the test session already has a local
one): connects to the cluster given, waits for both executors, scores the listings with
KeelModel and writes the outputs with the row ids to a Parquet file on the driver, once per
engine: mapInArrow (Python workers) and, when keel-spark.jar is on the class path (conftest
passes it in PYSPARK_SUBMIT_ARGS), the JVM engine (out.ENGINE.parquet).

    python spark_cluster_job.py spark://127.0.0.1:PORT bundle.keel listings.parquet out.parquet \
        [first.keel second.keel]

With the two last bundles (the same outputs, different manifest uids), the job then streams
the listings as four files (one micro-batch each, four tasks each over both executors) through
KeelModel with ``refreshInterval``, replaces ``first`` by ``second`` after two micro-batches,
and writes the scored rows with their file and ``model_uid`` (out.stream.ENGINE.parquet).

Last, per engine, the listings repeated 100 times (ids ``rep * 1_000_000 + id``) are shuffled
into 96 partitions and scored with KeelModel into a Parquet folder (out.killed.ENGINE) while a
thread kills (SIGKILL) one executor JVM once a few of the scoring stage's tasks have finished:
Spark must rerun what was lost, and the folder must still hold every row exactly once.

The last line printed is a JSON report: {"seconds": ..., "executors": ..., "engines": ...,
"killed": {ENGINE: {...}}}.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

# The killed-executor phase: how often the listings are repeated, and the scoring stage's tasks.
REPEATS = 100
PARTITIONS = 96


def main() -> None:
    url, bundle, listings, out = sys.argv[1:5]
    versions = sys.argv[5:7]
    t0 = time.monotonic()
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import SparkSession

    from keel.spark_runtime import LOAD_LOG_ENV, KeelModel

    builder = (
        SparkSession.builder.master(url)
        .appName("keel-cluster-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", "512m")
        .config("spark.executor.memory", "512m")
        .config("spark.executor.cores", "1")
        .config("spark.cores.max", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.pyspark.python", sys.executable)
    )
    if os.environ.get(LOAD_LOG_ENV):
        builder = builder.config(f"spark.executorEnv.{LOAD_LOG_ENV}", os.environ[LOAD_LOG_ENV])
    spark = builder.getOrCreate()
    try:
        spark.sparkContext.setLogLevel("ERROR")
        jsc = spark.sparkContext._jsc.sc()
        deadline = time.monotonic() + 120
        # getExecutorMemoryStatus lists the driver too.
        while jsc.getExecutorMemoryStatus().size() - 1 < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        executors = jsc.getExecutorMemoryStatus().size() - 1
        df = spark.read.parquet(listings).repartition(8)
        engines = ["python"]
        from keel.spark_runtime import jvm_engine_available

        if jvm_engine_available(spark):
            engines.append("jvm")
        killed = {}
        for engine in engines:
            scored = KeelModel(bundle, engine=engine).transform(df).select(
                "id", "label", vector_to_array("probability").alias("p"))
            scored.toPandas().to_parquet(out.replace(".parquet", f".{engine}.parquet"), index=False)
            if versions:
                stream_with_a_swap(spark, engine, versions, listings, out)
            killed[engine] = score_through_a_killed_executor(spark, engine, bundle, listings, out)
    finally:
        spark.stop()
    print(json.dumps({"seconds": time.monotonic() - t0, "executors": executors, "engines": engines,
                      "killed": killed}))


def executor_jvms(app_id: str) -> list[int]:
    """The PIDs of this application's executor JVMs (CoarseGrainedExecutorBackend)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if b"CoarseGrainedExecutorBackend" in cmd and app_id.encode() in cmd:
            pids.append(int(entry))
    return sorted(pids)


def score_through_a_killed_executor(spark, engine: str, bundle: str, listings: str, out: str) -> dict:
    """Scores the repeated listings into a Parquet folder while one executor JVM is killed
    mid-stage; returns what happened (the folder is for the test to check)."""
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    from keel.spark_runtime import KeelModel

    sc = spark.sparkContext
    app_id = sc.applicationId
    folder = out.replace(".parquet", f".killed.{engine}")
    frame = (spark.read.parquet(listings)
             .crossJoin(spark.range(REPEATS).withColumnRenamed("id", "rep"))
             .withColumn("id", F.col("rep") * 1_000_000 + F.col("id")).drop("rep")
             .repartition(PARTITIONS))
    scored = KeelModel(bundle, engine=engine).transform(frame).select(
        "id", "label", vector_to_array("probability").alias("p"))
    report = {"executors_before": executor_jvms(app_id), "killed_pid": None}
    done = threading.Event()

    def kill_mid_stage() -> None:
        tracker = sc.statusTracker()
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            for stage in tracker.getActiveStageIds():
                info = tracker.getStageInfo(stage)
                # The scoring stage is the one with PARTITIONS tasks (after the shuffle).
                if info is None or info.numTasks != PARTITIONS or info.numCompletedTasks < 4:
                    continue
                jvms = executor_jvms(app_id)
                if not jvms:
                    continue
                os.kill(jvms[0], signal.SIGKILL)
                report.update(killed_pid=jvms[0], stage_tasks=info.numTasks,
                              tasks_done_at_kill=info.numCompletedTasks)
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_mid_stage, daemon=True)
    t = time.monotonic()
    killer.start()
    try:
        scored.write.mode("overwrite").parquet(folder)
    finally:
        done.set()
        killer.join()
    report["seconds"] = time.monotonic() - t
    report["rows_expected"] = REPEATS * spark.read.parquet(listings).count()
    # The standalone worker starts a new executor in the killed one's place.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report["executors_after"] = executor_jvms(app_id)
        if len(report["executors_after"]) >= 2:
            break
        time.sleep(0.5)
    return report


def stream_with_a_swap(spark, engine: str, versions: list[str], listings: str, out: str) -> None:
    import shutil

    import numpy as np
    import pandas as pd

    from keel.spark_runtime import KeelModel

    work = os.path.join(os.path.dirname(out), f"stream-{engine}")
    folder, served = os.path.join(work, "in"), os.path.join(work, "served.keel")
    os.makedirs(folder)
    shutil.copy(versions[0], served)
    parts = np.array_split(pd.read_parquet(listings), 4)

    def drop(k: int) -> None:
        tmp = os.path.join(work, f".{k}.parquet")
        parts[k].assign(file=k).to_parquet(tmp, index=False)
        os.replace(tmp, os.path.join(folder, f"{k}.parquet"))

    drop(0)
    schema = spark.read.parquet(folder).schema
    stream = spark.readStream.schema(schema).option("maxFilesPerTrigger", 1).parquet(folder).repartition(4)
    model = KeelModel(served, engine=engine, refreshInterval=0.2, versionCol="model_uid",
                      versionDir=os.path.join(work, "versions"))
    name = f"cluster_stream_{engine}"
    q = (model.transform(stream).select("id", "file", "prediction", "model_uid")
         .writeStream.format("memory").queryName(name).start())
    try:
        drop(1)
        q.processAllAvailable()
        shutil.copy(versions[1], served + ".new")
        os.replace(served + ".new", served)
        deadline = time.monotonic() + 60
        while not any(kind == "accepted" for kind, _ in model._refresher.events):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the new version was not taken: {model._refresher.events}")
            time.sleep(0.1)
        drop(2)
        drop(3)
        q.processAllAvailable()
    finally:
        q.stop()
    spark.table(name).toPandas().to_parquet(out.replace(".parquet", f".stream.{engine}.parquet"), index=False)


if __name__ == "__main__":
    main()
