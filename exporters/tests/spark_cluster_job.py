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

The last line printed is a JSON report: {"seconds": ..., "executors": ...}.
"""

from __future__ import annotations

import json
import os
import sys
import time


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
        for engine in engines:
            scored = KeelModel(bundle, engine=engine).transform(df).select(
                "id", "label", vector_to_array("probability").alias("p"))
            scored.toPandas().to_parquet(out.replace(".parquet", f".{engine}.parquet"), index=False)
            if versions:
                stream_with_a_swap(spark, engine, versions, listings, out)
    finally:
        spark.stop()
    print(json.dumps({"seconds": time.monotonic() - t0, "executors": executors, "engines": engines}))


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
