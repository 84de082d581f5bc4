"""The driver program of test_spark_train.py's standalone-cluster test, run in its own process
(a Python process holds one SparkContext): connects to the cluster given, waits for both
executors, and fits a KeelNetEstimator with two workers (one barrier task per executor). Once
rank 0 has sent two checkpoints, it kills (SIGKILL) the executor JVM running rank 1's task;
the fit must still end in a model, resumed from the last checkpoint. Then it scores the
frame with the model (KeelModel) and with keel in Python, and writes both.

    python spark_cluster_train_job.py spark://127.0.0.1:PORT listings.parquet OUT_DIR TASK_LOG

The last line printed is a JSON report.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time


def executor_of(pid: int) -> int | None:
    """The executor JVM (CoarseGrainedExecutorBackend) above Python worker `pid`."""
    while pid > 1:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"CoarseGrainedExecutorBackend" in f.read():
                    return pid
            with open(f"/proc/{pid}/stat") as f:
                pid = int(f.read().split(")")[-1].split()[1])
        except OSError:
            return None
    return None


def kill_rank_one(task_log: str, report: dict, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if not os.path.exists(task_log):
            continue
        with open(task_log) as f:
            lines = [line.split() for line in f]
        ranks = {int(x[1]): int(x[2]) for x in lines if x[0] == "started"}
        if sum(1 for x in lines if x[0] == "checkpoint") >= 2 and 1 in ranks:
            jvm = executor_of(ranks[1])
            report["killed_executor"] = jvm
            if jvm is not None:
                os.kill(jvm, signal.SIGKILL)
            return


def main() -> None:
    url, listings, out_dir, task_log = sys.argv[1:5]
    t0 = time.monotonic()
    import pandas as pd
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import SparkSession

    import keel
    from keel.spark import KeelNetEstimator
    from keel.spark._training_job import TASK_LOG_ENV

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures"))
    from data import AIRBNB_CATEGORICAL, AIRBNB_NUMERIC

    spark = (
        SparkSession.builder.master(url)
        .appName("keel-cluster-train-test")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.memory", "512m")
        .config("spark.executor.memory", "512m")
        .config("spark.executor.cores", "1")
        .config("spark.cores.max", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.pyspark.python", sys.executable)
        .config(f"spark.executorEnv.{TASK_LOG_ENV}", task_log)
        .getOrCreate()
    )
    report: dict = {}
    try:
        spark.sparkContext.setLogLevel("ERROR")
        jsc = spark.sparkContext._jsc.sc()
        deadline = time.monotonic() + 120
        # getExecutorMemoryStatus lists the driver too.
        while jsc.getExecutorMemoryStatus().size() - 1 < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        report["executors"] = jsc.getExecutorMemoryStatus().size() - 1
        df = spark.read.parquet(listings)
        est = KeelNetEstimator(numericCols=AIRBNB_NUMERIC, categoricalCols=AIRBNB_CATEGORICAL, labelCol="booked",
                               hiddenLayers=[64, 64], embeddingDim=4, epochs=40, batchSize=32, learningRate=0.003,
                               numWorkers=2, maxRestarts=3, timeout=60.0, progress="false", bundleDir=out_dir)
        killer = threading.Thread(target=kill_rank_one, args=(task_log, report), daemon=True)
        killer.start()
        model = est.fit(df)
        killer.join(1)
        report.update({k: est.lastFitInfo[k] for k in ("restarts", "resumes", "checkpoints", "workers")})
        report["last_epoch"] = est.lastFitInfo["history"][-1]["epoch"]
        report["bundle"] = model.getBundlePath()
        inputs = AIRBNB_NUMERIC + AIRBNB_CATEGORICAL
        scored = model.transform(df).select(*inputs, "booked", "prediction", vector_to_array("probability").alias("p"))
        rows = scored.toPandas()
        py = keel.load(model.getBundlePath()).transform(rows[inputs])
        pd.DataFrame({"spark_prediction": rows["prediction"], "python_prediction": py["prediction"],
                      "spark_p1": rows["p"].map(lambda p: p[1]), "python_p1": py["probability"].map(lambda p: p[1]),
                      "booked": rows["booked"]}).to_parquet(os.path.join(out_dir, "scored.parquet"), index=False)
    finally:
        spark.stop()
    report["seconds"] = time.monotonic() - t0
    print(json.dumps(report))


if __name__ == "__main__":
    main()
