"""The driver program of test_spark_runtime.py's standalone-cluster test, run in its own
process (a Python process holds one SparkContext, and the test session already has a local
one): connects to the cluster given, waits for both executors, scores the listings with
KeelModel and writes the outputs with the row ids to a Parquet file on the driver, once per
engine: mapInArrow (Python workers) and, when keel-spark.jar is on the class path (conftest
passes it in PYSPARK_SUBMIT_ARGS), the JVM engine (out.ENGINE.parquet).

    python spark_cluster_job.py spark://127.0.0.1:PORT bundle.keel listings.parquet out.parquet

The last line printed is a JSON report: {"seconds": ..., "executors": ...}.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    url, bundle, listings, out = sys.argv[1:5]
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
    finally:
        spark.stop()
    print(json.dumps({"seconds": time.monotonic() - t0, "executors": executors, "engines": engines}))


if __name__ == "__main__":
    main()
