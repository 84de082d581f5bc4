"""KeelNetEstimator on local Spark: a barrier job of two workers training over keel's ring
allreduce; the model's answers through KeelModel equal keel's in Python; deterministic mode
writes the same bytes with one worker or two; CrossValidator; a task killed mid-training
resumes from the last checkpoint; bad input named before any job runs."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest

import keel

pyspark = pytest.importorskip("pyspark") if os.environ.get("CI") != "true" else __import__("pyspark")

from pyspark.ml.evaluation import BinaryClassificationEvaluator  # noqa: E402
from pyspark.ml.functions import vector_to_array  # noqa: E402
from pyspark.ml.tuning import CrossValidator, ParamGridBuilder  # noqa: E402

from data import AIRBNB_CATEGORICAL, AIRBNB_NUMERIC, airbnb_frame  # noqa: E402
from keel.spark import KeelNetEstimator  # noqa: E402
from keel.spark._training_job import TASK_LOG_ENV  # noqa: E402
from spark_testing import started_spark  # noqa: E402


def unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Spark is required in CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def task_log(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("keel-train") / "tasks.log")


@pytest.fixture(scope="module")
def spark(task_log):
    from pyspark.sql import SparkSession

    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ[TASK_LOG_ENV] = task_log
    session = started_spark(lambda: (
        SparkSession.builder.master("local[2]")
        .appName("keel-train-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g")
        .config(f"spark.executorEnv.{TASK_LOG_ENV}", task_log)
        .getOrCreate()
    ))
    session.sparkContext.setLogLevel("ERROR")
    return session


@pytest.fixture(scope="module")
def listings(spark):
    X, _, booked = airbnb_frame(n=4000, seed=11)
    X = X.drop(columns=["id"], errors="ignore")
    X["booked"] = booked.astype(np.int64)
    return spark.createDataFrame(X).repartition(3)


def estimator(**kw) -> KeelNetEstimator:
    base = dict(numericCols=AIRBNB_NUMERIC, categoricalCols=AIRBNB_CATEGORICAL, labelCol="booked",
                hiddenLayers=[16, 8], embeddingDim=3, epochs=4, batchSize=128, learningRate=0.01,
                numWorkers=2, progress="false", timeout=60.0)
    base.update(kw)
    return KeelNetEstimator(**base)


def test_two_workers_train_a_model_that_scores_like_python(listings, tmp_path):
    est = estimator(bundleDir=str(tmp_path))
    model = est.fit(listings)
    assert est.lastFitInfo["workers"] == 2
    assert len(est.lastFitInfo["history"]) == 4
    inputs = AIRBNB_NUMERIC + AIRBNB_CATEGORICAL
    out = model.transform(listings).select(*inputs, "booked", "prediction",
                                           vector_to_array("probability").alias("p"))
    rows = out.toPandas()
    p = np.stack(rows["p"].to_numpy())
    assert np.allclose(p.sum(axis=1), 1.0, atol=1e-6)
    # Learned something: AUC on the training frame well above chance.
    auc = BinaryClassificationEvaluator(labelCol="booked", rawPredictionCol="probability").evaluate(
        model.transform(listings))
    assert auc > 0.7, auc
    # The same bundle in Python gives the same answers on the same rows.
    py = keel.load(model.getBundlePath()).transform(rows[inputs])
    assert np.array_equal(py["prediction"].to_numpy(), rows["prediction"].to_numpy())
    assert np.array_equal(np.stack(py["probability"].to_numpy()), p)


def test_deterministic_mode_writes_the_same_bundle_with_one_or_two_workers(listings, tmp_path):
    one = estimator(deterministic=True, numWorkers=1, epochs=2, dropout=0.1).fit(listings)
    two = estimator(deterministic=True, numWorkers=2, epochs=2, dropout=0.1).fit(listings)
    with open(one.getBundlePath(), "rb") as a, open(two.getBundlePath(), "rb") as b:
        assert a.read() == b.read()


def test_cross_validator_tunes_and_the_best_model_scores(listings):
    est = estimator(epochs=2)
    grid = ParamGridBuilder().addGrid(est.learningRate, [0.001, 0.02]).addGrid(est.hiddenLayers, [[8], [16, 8]]).build()
    evaluator = BinaryClassificationEvaluator(labelCol="booked", rawPredictionCol="probability")
    cv = CrossValidator(estimator=est, estimatorParamMaps=grid, evaluator=evaluator, numFolds=2, parallelism=2, seed=3)
    fitted = cv.fit(listings)
    assert len(fitted.avgMetrics) == 4
    best = int(np.argmax(fitted.avgMetrics))
    assert fitted.bestModel.transform(listings).count() == listings.count()
    assert evaluator.evaluate(fitted.bestModel.transform(listings)) >= min(fitted.avgMetrics) - 0.05
    assert best in range(4)


def test_a_killed_task_resumes_from_the_last_checkpoint(listings, task_log, tmp_path):
    if os.path.exists(task_log):
        os.remove(task_log)
    # Long enough that the kill lands mid-training: each epoch ends with a checkpoint.
    est = estimator(epochs=60, hiddenLayers=[64, 64], batchSize=32, maxRestarts=2, bundleDir=str(tmp_path))
    box: dict = {}

    def fit() -> None:
        try:
            box["model"] = est.fit(listings)
        except BaseException as e:  # noqa: BLE001 - reported below
            box["error"] = e

    t = threading.Thread(target=fit, daemon=True)
    t.start()
    victim = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and victim is None:
        time.sleep(0.2)
        if not os.path.exists(task_log):
            continue
        with open(task_log) as f:
            lines = [line.split() for line in f]
        checkpoints = [x for x in lines if x[0] == "checkpoint"]
        ranks = {int(x[1]): int(x[2]) for x in lines if x[0] == "started"}
        if len(checkpoints) >= 2 and 1 in ranks:
            victim = ranks[1]
    assert victim is not None, "training never reached its second checkpoint"
    os.kill(victim, signal.SIGKILL)
    t.join(300)
    assert not t.is_alive(), "fit did not finish after the kill"
    assert "error" not in box, box.get("error")
    info = est.lastFitInfo
    assert info["restarts"] == 1
    assert info["resumes"] >= 1
    # The restarted job went on from the checkpoint: every epoch is reported once after it.
    epochs = [m["epoch"] for m in info["history"]]
    assert epochs[-1] == 59
    assert box["model"].transform(listings).count() == listings.count()


def test_missing_column_is_named_before_any_job(listings):
    with pytest.raises(keel.MissingColumnError, match="nope"):
        estimator(numericCols=["nope"]).fit(listings)


def test_wrong_column_type_is_named_before_any_job(spark):
    df = spark.createDataFrame([([1.0], "a", 1)], "x array<double>, c string, y long")
    with pytest.raises(keel.ColumnTypeError, match="`x` is array<double>"):
        estimator(numericCols=["x"], categoricalCols=["c"], labelCol="y", numWorkers=1).fit(df)


def test_more_workers_than_slots_is_refused(listings):
    with pytest.raises(ValueError, match="task slots"):
        estimator(numWorkers=3).fit(listings)


def test_null_label_is_named(spark):
    df = spark.createDataFrame([(1.0, "a", 1), (2.0, "b", None), (3.0, "a", 0)], "x double, c string, y long")
    with pytest.raises(Exception, match="label column `y` is missing at row 1"):
        estimator(numericCols=["x"], categoricalCols=["c"], labelCol="y", numWorkers=1, epochs=1).fit(df)


def test_standalone_cluster_trains_through_a_killed_executor(tmp_path):
    """Master and two workers on 127.0.0.1; the fit's rank-1 executor is killed with SIGKILL
    after two checkpoints (spark_cluster_train_job.py); the fit ends in a model, resumed from
    the last checkpoint, whose answers through KeelModel equal keel's in Python."""
    import json
    import subprocess
    import sys

    import pandas as pd

    from spark_testing import StandaloneCluster, alive

    X, _, booked = airbnb_frame(n=3000, seed=13)
    X = X.drop(columns=["id"], errors="ignore")
    X["booked"] = booked.astype(np.int64)
    X.to_parquet(tmp_path / "listings.parquet", index=False)
    out = tmp_path / "out"
    out.mkdir()
    cluster = StandaloneCluster(tmp_path)
    try:
        try:
            cluster.start()
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            unavailable(f"the standalone cluster did not start: {e}")
        proc = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(__file__), "spark_cluster_train_job.py"), cluster.url,
             str(tmp_path / "listings.parquet"), str(out), str(tmp_path / "tasks.log")],
            env=dict(cluster.env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=420)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            pytest.fail(f"the cluster training job did not finish within 420 s:\n{stderr[-4000:]}{cluster.logs()}")
        assert proc.returncode == 0, f"the cluster training job failed:\n{stdout[-3000:]}\n{stderr[-5000:]}{cluster.logs()}"
    finally:
        cluster.stop()
    assert not any(alive(p) for p in cluster.pids()), "a cluster process outlived stop()"
    report = json.loads(stdout.strip().splitlines()[-1])
    print(f"\ncluster training: {report}")
    assert report["executors"] == 2
    assert report["workers"] == 2
    assert report["killed_executor"] is not None, "rank 1's executor was not found"
    # The job was run again and went on from a checkpoint, to the last epoch.
    assert report["resumes"] >= 1
    assert report["last_epoch"] == 39
    scored = pd.read_parquet(out / "scored.parquet")
    assert len(scored) == 3000
    assert (scored["spark_prediction"] == scored["python_prediction"]).all()
    assert (scored["spark_p1"] == scored["python_p1"]).all()
    assert ((scored["spark_p1"] > 0.5) == (scored["booked"] == 1)).mean() > 0.7
