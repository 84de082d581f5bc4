"""Scoring inside Spark (`keel.spark_runtime`): `KeelModel` and the SQL function against
scikit-learn's own predictions, on a local[2] session and on a real standalone cluster (a
master and two workers started with pyspark's sbin scripts).

References are computed here by scikit-learn (`predict`, `predict_proba`, `roc_auc_score`) or
read from the checked-in fixtures (recorded from scikit-learn), never from keel. Spark needs
Java: without it (or if Spark does not start within a bounded time) the tests are skipped,
except under CI=true, where that is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, assert_close
from spark_testing import StandaloneCluster
from spark_testing import alive as _alive

import keel
import keel.sklearn

pyspark = pytest.importorskip("pyspark") if os.environ.get("CI") != "true" else __import__("pyspark")

from pyspark.ml.linalg import DenseVector, SparseVector, VectorUDT  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

from data import AIRBNB_CATEGORICAL, AIRBNB_NUMERIC, airbnb_frame  # noqa: E402
from keel.spark_runtime import LOAD_LOG_ENV, KeelModel, jvm_engine_available, register_udf, vector_arrow_type  # noqa: E402

FIXTURES = os.path.join(ROOT, "fixtures", "sklearn")
# How long a Spark session may take to start (KEEL_SPARK_START_TIMEOUT overrides it).
START_TIMEOUT_S = float(os.environ.get("KEEL_SPARK_START_TIMEOUT", "180"))
HERE = os.path.dirname(os.path.abspath(__file__))


def unavailable(why: str) -> None:
    """Spark cannot run here: a skip on a developer's machine, a failure in CI."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"Spark is required in CI: {why}")
    pytest.skip(why)


def java_available() -> bool:
    java_home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))))


# --- the session ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def load_log(tmp_path_factory) -> str:
    return str(tmp_path_factory.mktemp("keel-spark") / "loads.log")


@pytest.fixture(scope="session")
def spark(load_log):
    if not java_available():
        unavailable("no Java runtime (java on PATH or JAVA_HOME)")
    from pyspark.sql import SparkSession

    # Workers must run this interpreter (it has keel); the load log is read by the cache test.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ[LOAD_LOG_ENV] = load_log
    builder = (
        SparkSession.builder.master("local[2]")
        .appName("keel-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g")
        # Through the SparkContext's executor environment, not only os.environ: when another
        # test module started Spark's JVM earlier in this process, the JVM's own environment
        # predates the variable, but each new SparkContext hands executorEnv to its workers.
        .config(f"spark.executorEnv.{LOAD_LOG_ENV}", load_log)
    )
    # SparkSession.getOrCreate blocks while the JVM starts; bound it so a broken Java never
    # hangs the suite.
    box: dict = {}

    def start():
        try:
            box["session"] = builder.getOrCreate()
        except BaseException as e:  # noqa: BLE001 - reported below
            box["error"] = e

    t = threading.Thread(target=start, daemon=True)
    t.start()
    t.join(START_TIMEOUT_S)
    if t.is_alive():
        _kill_descendants("SparkSubmit")
        unavailable(f"the Spark session did not start within {START_TIMEOUT_S} s")
    if "error" in box:
        unavailable(f"the Spark session failed to start: {box['error']!r}")
    session = box["session"]
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(params=["python", "jvm"])
def engine(request, spark) -> str:
    """Each KeelModel test runs on both engines: mapInArrow through Python workers, and the
    JVM engine (keel-spark.jar, which conftest puts on the class path of every Spark JVM
    the tests start)."""
    if request.param == "jvm" and not jvm_engine_available(spark):
        unavailable("keel-spark.jar is not on Spark's class path (jvm/build.sh builds it)")
    return request.param


def _kill_descendants(marker: str) -> None:
    """Kills this process's descendants whose command line contains `marker` (a JVM that
    never answered), with their own descendants, so a failed start leaves nothing behind."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))

    def tree(pid: int) -> list[int]:
        out = [pid]
        for c in children.get(pid, []):
            out += tree(c)
        return out

    for pid in tree(os.getpid())[1:]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            for p in reversed(tree(pid)):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass


# --- models, trained here ----------------------------------------------------------------------


def _pre(handle_unknown: str = "ignore"):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer(
        [
            ("num", StandardScaler(), AIRBNB_NUMERIC),
            ("cat", OneHotEncoder(handle_unknown=handle_unknown), AIRBNB_CATEGORICAL),
        ]
    )


@pytest.fixture(scope="session")
def airbnb(tmp_path_factory):
    """AirBnB-like pipelines fitted by scikit-learn and exported: a price regression, a
    booked/not classifier, and a regression whose encoder refuses unknown categories."""
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import Pipeline

    out = tmp_path_factory.mktemp("bundles")
    X, price, booked = airbnb_frame(3000, seed=1)
    models = {
        "linear": (Pipeline([("pre", _pre()), ("model", LinearRegression())]).fit(X, price)),
        "logistic": (Pipeline([("pre", _pre()), ("model", LogisticRegression(max_iter=1000))]).fit(X, booked)),
        "strict": (Pipeline([("pre", _pre("error")), ("model", LinearRegression())]).fit(X, price)),
    }
    paths = {}
    for name, est in models.items():
        paths[name] = str(out / f"airbnb_{name}.keel")
        keel.sklearn.export(est, paths[name], sample=X.head(50), name=f"airbnb_{name}")
    X_test, price_test, booked_test = airbnb_frame(2000, seed=5)
    X_test.insert(0, "id", np.arange(len(X_test), dtype=np.int64))
    return {"models": models, "paths": paths, "X": X_test, "price": price_test, "booked": booked_test}


def frame(spark, X: pd.DataFrame, partitions: int = 4):
    return spark.createDataFrame(X).repartition(partitions)


def by_id(df) -> pd.DataFrame:
    return df.toPandas().sort_values("id").reset_index(drop=True)


def features(X: pd.DataFrame) -> pd.DataFrame:
    return X[AIRBNB_NUMERIC + AIRBNB_CATEGORICAL]


class SmallBatches:
    """Sets spark.sql.execution.arrow.maxRecordsPerBatch for a block (several Arrow batches
    per partition)."""

    KEY = "spark.sql.execution.arrow.maxRecordsPerBatch"

    def __init__(self, spark, rows: int):
        self.spark, self.rows = spark, rows

    def __enter__(self):
        self.old = self.spark.conf.get(self.KEY)
        self.spark.conf.set(self.KEY, str(self.rows))

    def __exit__(self, *exc):
        self.spark.conf.set(self.KEY, self.old)


# --- Arrow layout ---------------------------------------------------------------------------------


def test_vector_arrow_type_is_sparks():
    from pyspark.sql.pandas.types import to_arrow_type

    assert vector_arrow_type() == to_arrow_type(VectorUDT())


# --- KeelModel ------------------------------------------------------------------------------------


def test_regression_matches_scikit_learn_over_many_batches(spark, engine, airbnb):
    X = airbnb["X"]
    want = airbnb["models"]["linear"].predict(features(X))
    df = frame(spark, X, partitions=3)
    def sizes(batches):
        # Defined here so that cloudpickle ships it by value (workers cannot import tests).
        import pyarrow as pa

        for b in batches:
            yield pa.RecordBatch.from_arrays([pa.array([b.num_rows], pa.int64())], names=["n"])

    with SmallBatches(spark, 97):
        # The setting applies: each partition reaches Python as several batches.
        sizes = df.mapInArrow(sizes, "n long").toPandas()["n"]
        assert sizes.max() <= 97 and len(sizes) >= len(X) // 97
        out = KeelModel(airbnb["paths"]["linear"], engine=engine).transform(df)
        assert out.schema["prediction"].dataType == T.DoubleType()
        assert out.columns == list(X.columns) + ["prediction"]
        got = by_id(out)
    assert_close(got["prediction"].to_numpy(), want, "f64_linear", "airbnb linear in Spark")
    # Inputs pass through untouched.
    pd.testing.assert_frame_equal(got[list(X.columns)], X.reset_index(drop=True), check_dtype=False)

    from pyspark.ml.evaluation import RegressionEvaluator

    spark_df = spark.createDataFrame(X.assign(price=airbnb["price"]))
    rmse = RegressionEvaluator(labelCol="price", predictionCol="prediction", metricName="rmse").evaluate(
        KeelModel(airbnb["paths"]["linear"], engine=engine).transform(spark_df)
    )
    assert rmse == pytest.approx(float(np.sqrt(np.mean((want - airbnb["price"]) ** 2))), rel=1e-9)


def test_classifier_vector_column_feeds_spark_evaluators(spark, engine, airbnb):
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from sklearn.metrics import roc_auc_score

    X, booked = airbnb["X"], airbnb["booked"]
    est = airbnb["models"]["logistic"]
    proba = est.predict_proba(features(X))
    df = frame(spark, X.assign(booked=booked.astype(np.int64)))
    out = KeelModel(airbnb["paths"]["logistic"], outputPrefix="keel_", engine=engine).transform(df)
    fields = {f.name: f for f in out.schema.fields}
    assert fields["keel_label"].dataType == T.LongType()
    assert isinstance(fields["keel_probability"].dataType, VectorUDT)
    attrs = fields["keel_probability"].metadata["ml_attr"]
    assert attrs["num_attrs"] == 2
    assert [a["name"] for a in attrs["attrs"]["numeric"]] == [str(c) for c in est.classes_]

    got = by_id(out)
    assert all(isinstance(v, DenseVector) for v in got["keel_probability"])
    assert_close(np.stack([v.toArray() for v in got["keel_probability"]]), proba, "probability", "probability")
    assert_close(got["keel_label"].to_numpy(), est.predict(features(X)), "exact", "label")

    auc = BinaryClassificationEvaluator(
        rawPredictionCol="keel_probability", labelCol="booked", metricName="areaUnderROC", numBins=0
    ).evaluate(out)
    assert auc == pytest.approx(roc_auc_score(booked, proba[:, 1]), abs=1e-9)


def read_io(case: str) -> dict:
    with open(os.path.join(FIXTURES, case, "io.json")) as f:
        return json.load(f)


def _fixture_outputs(io_: dict, name: str):
    want = io_["outputs"][name]
    return [[float(x) for x in row] for row in want] if isinstance(want[0], list) else want


def test_checked_in_iris_fixture(spark, engine):
    io_ = read_io("iris_logreg")
    path = os.path.join(FIXTURES, "iris_logreg", "model.keel")
    X = pd.DataFrame(io_["inputs"]).astype("float64")
    X.insert(0, "id", np.arange(len(X)))
    df = frame(spark, X, partitions=2)
    got = by_id(KeelModel(path, engine=engine).transform(df))
    assert_close(got["label"].tolist(), io_["outputs"]["label"], "exact", "iris label")
    probs = np.stack([v.toArray() for v in got["probability"]])
    assert_close(probs, _fixture_outputs(io_, "probability"), "probability", "iris probability")

    # Only the outputs asked for, and only the outputs: keepInputs=False sends only the
    # bundle's inputs to Python (the id column cannot come back then: score in input order).
    only = KeelModel(path, outputCols=["probability"], keepInputs=False, engine=engine).transform(spark.createDataFrame(X).coalesce(1))
    assert only.columns == ["probability"]
    probs = np.stack([r[0].toArray() for r in only.collect()])
    assert_close(probs, _fixture_outputs(io_, "probability"), "probability", "iris outputs only")


def test_mleap_zip_scored_directly(spark, engine):
    """An MLeap Bundle.ML zip is a bundle path like any other: both engines read it by content
    and give the answers Spark recorded for the pipeline it holds."""
    base = os.path.join(ROOT, "fixtures", "mleap", "onehot_multi_linreg")
    with open(os.path.join(base, "io.json")) as f:
        io_ = json.load(f)
    X = pd.DataFrame(io_["inputs"])
    X.insert(0, "id", np.arange(len(X)))
    got = by_id(KeelModel(os.path.join(base, "bundle.zip"), engine=engine).transform(frame(spark, X, partitions=2)))
    assert_close(got["prediction"].tolist(), io_["outputs"]["prediction"], io_["tolerance"]["prediction"], "MLeap zip prediction")


def test_other_columns_pass_through_unchanged(spark, engine):
    # Columns the bundle does not read travel through mapInArrow in Spark's own Arrow form
    # and come back unchanged, whatever their type (nested, UDT, temporal, binary).
    import datetime
    import decimal

    path = os.path.join(FIXTURES, "iris_logreg", "model.keel")
    names = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
    schema = T.StructType(
        [T.StructField(n, T.DoubleType()) for n in names]
        + [T.StructField("ts", T.TimestampType()), T.StructField("d", T.DateType()),
           T.StructField("dec", T.DecimalType(10, 2)), T.StructField("bin", T.BinaryType()),
           T.StructField("arr", T.ArrayType(T.StringType())), T.StructField("m", T.MapType(T.StringType(), T.IntegerType())),
           T.StructField("st", T.StructType([T.StructField("a", T.IntegerType()), T.StructField("b", T.StringType())])),
           T.StructField("v1", VectorUDT()), T.StructField("v2", VectorUDT())]
    )
    rows = [
        (5.1, 3.5, 1.4, 0.2, datetime.datetime(2024, 1, 2, 3, 4, 5), datetime.date(2024, 1, 2), decimal.Decimal("1.25"),
         b"\x00\x01", ["a", "b"], {"k": 1}, (1, "x"), DenseVector([1.0, 2.0]), SparseVector(3, {1: 2.0})),
        (6.7, 3.0, 5.2, 2.3, None, None, None, None, None, None, None, None, None),
    ]
    df = spark.createDataFrame(rows, schema)
    # More partitions than rows: empty partitions score nothing and fail nothing.
    got = KeelModel(path, engine=engine).transform(df.repartition(5)).collect()
    assert sorted((tuple(r)[: len(schema.fields)] for r in got), key=str) == sorted((tuple(r) for r in df.collect()), key=str)
    assert sorted(r["label"] for r in got) == ["setosa", "virginica"]
    assert KeelModel(path, engine=engine).transform(df.limit(0)).collect() == []


def test_integer_inputs_are_widened_and_bool_output(spark, engine):
    # mixed_hgb_binary declares `visits` as i64 and predicts a boolean label; Spark hands an
    # int or a short column, and nulls in `score` and `city` reach the model as missing.
    io_ = read_io("mixed_hgb_binary")
    path = os.path.join(FIXTURES, "mixed_hgb_binary", "model.keel")
    rows = len(io_["outputs"]["label"])
    for visits_type in (T.IntegerType(), T.ShortType(), T.LongType()):
        schema = T.StructType(
            [T.StructField("id", T.LongType())]
            + [T.StructField(n, T.DoubleType()) for n in ("age", "income", "score")]
            + [T.StructField("visits", visits_type)]
            + [T.StructField(n, T.StringType()) for n in ("city", "room", "plan")]
        )
        data = [
            (i, *[None if io_["inputs"][n][i] is None else float(io_["inputs"][n][i]) for n in ("age", "income", "score")],
             io_["inputs"]["visits"][i], *[io_["inputs"][n][i] for n in ("city", "room", "plan")])
            for i in range(rows)
        ]
        out = KeelModel(path, engine=engine).transform(spark.createDataFrame(data, schema).repartition(3))
        assert out.schema["label"].dataType == T.BooleanType()
        got = by_id(out)
        assert_close(got["label"].tolist(), io_["outputs"]["label"], "exact", f"label ({visits_type})")
        probs = np.stack([v.toArray() for v in got["probability"]])
        assert_close(probs, _fixture_outputs(io_, "probability"), "probability", f"probability ({visits_type})")


@pytest.fixture(scope="module")
def vector_bundle(tmp_path_factory):
    """A bundle whose input is one vector column `features` (f64[4]): an iris classifier
    exported with its four features declared as one vector input, as Spark ML pipelines
    (VectorAssembler) hand them over. The scikit-learn exporter writes scalar inputs only, so
    its input inference is replaced for this export."""
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from keel._bundle import Col
    from keel.sklearn import _core

    X, y = load_iris(return_X_y=True)
    est = LogisticRegression(max_iter=1000).fit(X, y)
    path = str(tmp_path_factory.mktemp("vector") / "iris_vector.keel")
    mp = pytest.MonkeyPatch()
    mp.setattr(_core, "_infer_inputs", lambda e, s: [Col("features", "f64", 4, [f"f{i}" for i in range(4)])])
    try:
        keel.sklearn.export(est, path, name="iris_vector")
    finally:
        mp.undo()
    assert keel.load(path).schema.inputs[0].shape == (4,)
    return path, est, X


def test_vector_inputs_dense_sparse_and_arrays(spark, engine, vector_bundle):
    path, est, X = vector_bundle
    X = X.copy()
    X[::7, 1] = 0.0  # zeros stored sparsely below
    rows = []
    for i, x in enumerate(X):
        v = SparseVector(4, {j: float(x[j]) for j in range(4) if x[j] != 0.0}) if i % 3 == 0 else DenseVector(x)
        rows.append((i, v, [float(a) for a in x]))
    schema = T.StructType(
        [T.StructField("id", T.LongType()), T.StructField("features", VectorUDT()),
         T.StructField("as_array", T.ArrayType(T.DoubleType()))]
    )
    df = spark.createDataFrame(rows, schema).repartition(3)
    want = est.predict_proba(X)
    with SmallBatches(spark, 40):
        got = by_id(KeelModel(path, engine=engine).transform(df))
        assert_close(np.stack([v.toArray() for v in got["probability"]]), want, "probability", "VectorUDT input")
        arrays = df.drop("features").withColumnRenamed("as_array", "features")
        got = by_id(KeelModel(path, engine=engine).transform(arrays))
        assert_close(np.stack([v.toArray() for v in got["probability"]]), want, "probability", "array input")

    bad = spark.createDataFrame([(0, DenseVector([1.0, 2.0, 3.0, 4.0])), (1, DenseVector([1.0, 2.0]))],
                                T.StructType([T.StructField("id", T.LongType()), T.StructField("features", VectorUDT())]))
    with pytest.raises(Exception) as e:
        KeelModel(path, engine=engine).transform(bad.coalesce(1)).collect()
    text = str(e.value)
    if engine == "python":
        assert "BadValueError" in text and "row 1, column `features`: expected a vector of 4 values" in text
    else:
        assert "KeelException" in text and "row 1, column `features`: expected a vector of 4 values, found 2" in text


def test_in_a_pipeline_saved_and_loaded(spark, engine, airbnb, tmp_path):
    from pyspark.ml import Pipeline, PipelineModel
    from pyspark.ml.feature import SQLTransformer

    X = airbnb["X"]
    want = airbnb["models"]["linear"].predict(features(X))
    # The source stores bedrooms as an integer count; a SQL stage derives the double the
    # model was trained on, then the keel stage scores.
    src = spark.createDataFrame(X.rename(columns={"bedrooms": "bedroom_count"}).astype({"bedroom_count": "int64"}))
    bundle = tmp_path / "price.keel"
    shutil.copy(airbnb["paths"]["linear"], bundle)
    pipe = Pipeline(
        stages=[
            SQLTransformer(statement="SELECT *, CAST(bedroom_count AS DOUBLE) AS bedrooms FROM __THIS__"),
            KeelModel(str(bundle), outputPrefix="keel_", engine=engine),
        ]
    )
    model = pipe.fit(src)
    got = by_id(model.transform(src))
    assert_close(got["keel_prediction"].to_numpy(), want, "f64_linear", "pipeline")

    # Saved with the pipeline, the bundle's bytes travel with it: the file is not needed.
    model.write().overwrite().save(str(tmp_path / "pipeline"))
    bundle.unlink()
    # Spark records the stage's class by its module; saved models name the public one.
    [meta] = (tmp_path / "pipeline" / "stages").glob("1_*/metadata/part-*")
    assert json.loads(meta.read_text())["class"] == "keel.spark_runtime.KeelModel"
    loaded = PipelineModel.load(str(tmp_path / "pipeline"))
    stage = loaded.stages[1]
    assert isinstance(stage, KeelModel) and stage.getOutputPrefix() == "keel_"
    again = by_id(loaded.transform(src))
    np.testing.assert_array_equal(again["keel_prediction"].to_numpy(), got["keel_prediction"].to_numpy())


# --- errors -------------------------------------------------------------------------------------------


def _jobs_in(spark, group: str) -> list[int]:
    return list(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


def test_bundle_that_does_not_fit_fails_before_any_job(spark, airbnb):
    from pyspark.sql import functions as F

    X = airbnb["X"]
    df = spark.createDataFrame(X)
    model = KeelModel(airbnb["paths"]["linear"])
    group = "keel-misfit"
    spark.sparkContext.setJobGroup(group, "transforms that must fail before running")
    try:
        with pytest.raises(keel.MissingColumnError) as e:
            model.transform(df.drop("room_type"))
        assert e.value.column == "room_type" and "`room_type` is missing" in str(e.value)

        with pytest.raises(keel.MissingColumnError) as e:
            model.transform(df.withColumnRenamed("state", "State"))
        assert e.value.column == "state" and "case-sensitive" in str(e.value)

        with pytest.raises(keel.ColumnTypeError) as e:
            model.transform(df.withColumn("bedrooms", F.col("bedrooms").cast("string")))
        assert (e.value.column, e.value.expected, e.value.found) == ("bedrooms", "f64", "Spark string")

        with pytest.raises(keel.ColumnTypeError) as e:
            model.transform(df.withColumn("room_type", F.lit(1)))
        assert (e.value.column, e.value.expected) == ("room_type", "utf8")

        with pytest.raises(ValueError, match="`prediction` already exists"):
            model.transform(df.withColumn("prediction", F.lit(0.0)))

        with pytest.raises(ValueError, match="no output 'price'"):
            KeelModel(airbnb["paths"]["linear"], outputCols=["price"]).transform(df)
    finally:
        spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
    assert _jobs_in(spark, group) == []


def test_bad_row_fails_the_task_with_keels_message(spark, engine, airbnb):
    X = airbnb["X"].copy()
    X.loc[1234, "room_type"] = "castle"
    df = spark.createDataFrame(X).coalesce(1)
    with SmallBatches(spark, 500):
        with pytest.raises(Exception) as e:
            KeelModel(airbnb["paths"]["strict"], engine=engine).transform(df).collect()
    text = str(e.value)
    if engine == "python":
        # keel's own exception, with its column, row (within the Arrow batch) and value, then
        # where the row sits in the partition.
        assert "keel.errors.UnknownCategoryError" in text
        assert "row 234, column `room_type`: unknown category \"castle\"" in text
        assert "row 1234 of the partition" in text
    else:
        # The JVM engine counts rows within the partition and names the partition.
        assert "dev.keel.spark.KeelException" in text
        assert "row 1234, column `room_type`: unknown category \"castle\"" in text
        assert "[Spark partition 0]" in text


# --- SQL ------------------------------------------------------------------------------------------


def test_sql_function(spark, airbnb):
    X = airbnb["X"]
    spark.createDataFrame(X).repartition(3).createOrReplaceTempView("listings")
    register_udf(spark, "price_model", airbnb["paths"]["linear"])
    register_udf(spark, "booked_model", airbnb["paths"]["logistic"])

    # One output: the function returns it.
    res = spark.sql("SELECT id, price_model(struct(*)) AS price FROM listings")
    assert res.schema["price"].dataType == T.DoubleType()
    got = by_id(res)
    assert_close(got["price"].to_numpy(), airbnb["models"]["linear"].predict(features(X)), "f64_linear", "SQL price")

    # Several: a struct of them, vectors as array<double>.
    res = spark.sql("SELECT id, booked_model(struct(*)) AS m, booked_model(struct(*)).probability[1] AS p1 FROM listings")
    m_type = res.schema["m"].dataType
    assert [f.name for f in m_type.fields] == ["label", "probability"]
    assert m_type["probability"].dataType == T.ArrayType(T.DoubleType(), containsNull=False)
    got = by_id(res)
    est = airbnb["models"]["logistic"]
    proba = est.predict_proba(features(X))
    assert_close(np.stack([r["probability"] for r in got["m"]]), proba, "probability", "SQL probability")
    assert_close([r["label"] for r in got["m"]], est.predict(features(X)), "exact", "SQL label")
    assert_close(got["p1"].to_numpy(), proba[:, 1], "probability", "SQL probability[1]")


def test_sql_function_errors_name_the_column(spark, airbnb):
    register_udf(spark, "strict_model", airbnb["paths"]["strict"])
    X = airbnb["X"].copy()
    X.loc[5, "room_type"] = "castle"
    spark.createDataFrame(X).coalesce(1).createOrReplaceTempView("listings_bad")
    with pytest.raises(Exception) as e:
        spark.sql("SELECT strict_model(struct(*)) FROM listings_bad").collect()
    assert "row 5, column `room_type`: unknown category \"castle\"" in str(e.value)
    with pytest.raises(Exception) as e:
        spark.sql("SELECT strict_model(struct(id, bedrooms)) FROM listings_bad").collect()
    assert "MissingColumnError" in str(e.value) and "is missing" in str(e.value)


# --- the bundle cache ------------------------------------------------------------------------------


def test_each_python_worker_loads_a_bundle_once(spark, airbnb, load_log, tmp_path):
    import hashlib

    from sklearn.linear_model import Ridge

    # A bundle no other test used, so every load in the log is this test's.
    X = airbnb["X"]
    est = Ridge(alpha=3.0).fit(X[AIRBNB_NUMERIC], airbnb["price"])
    path = tmp_path / "ridge.keel"
    keel.sklearn.export(est, str(path), sample=X[AIRBNB_NUMERIC].head(10), name="ridge_cache")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    df = spark.createDataFrame(X).repartition(8)
    # The Python engine's cache (the JVM engine keeps one handle per executor JVM).
    model = KeelModel(str(path), engine="python")
    tasks = 0
    with SmallBatches(spark, 100):
        for _ in range(3):
            got = by_id(model.transform(df))
            tasks += 8
    assert_close(got["prediction"].to_numpy(), est.predict(X[AIRBNB_NUMERIC]), "f64_linear", "ridge")
    with open(load_log) as f:
        loads = [line.split() for line in f if sha in line]
    pids = [pid for pid, _, _ in loads]
    # 24 tasks (3 jobs x 8 partitions) ran on at most a few reused Python workers, and each
    # worker loaded the bundle exactly once.
    assert 1 <= len(loads) < tasks
    assert len(pids) == len(set(pids)), f"a worker loaded the bundle twice: {loads}"


# --- a real standalone cluster ------------------------------------------------------------------------


def test_standalone_cluster_end_to_end(airbnb, tmp_path):
    if not java_available():
        unavailable("no Java runtime (java on PATH or JAVA_HOME)")
    X = airbnb["X"]
    X.to_parquet(tmp_path / "listings.parquet", index=False)
    result = tmp_path / "scored.parquet"
    cluster = StandaloneCluster(tmp_path)
    t0 = time.monotonic()
    try:
        try:
            cluster.start()
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            unavailable(f"the standalone cluster did not start: {e}")
        started = time.monotonic() - t0
        env = dict(cluster.env)
        env[LOAD_LOG_ENV] = str(tmp_path / "loads.log")
        # Its own session (process group), so a timeout kills the driver's JVM with it.
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "spark_cluster_job.py"), cluster.url,
             airbnb["paths"]["logistic"], str(tmp_path / "listings.parquet"), str(result),
             airbnb["paths"]["linear"], airbnb["paths"]["strict"]],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=480)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            pytest.fail(f"the cluster job did not finish within 480 s:\n{stderr[-4000:]}{cluster.logs()}")
        assert proc.returncode == 0, f"the cluster job failed:\n{stdout[-4000:]}\n{stderr[-4000:]}{cluster.logs()}"
    finally:
        cluster.stop()
    total = time.monotonic() - t0
    assert not any(_alive(p) for p in cluster.pids()), "a cluster process outlived stop()"
    report = json.loads(stdout.strip().splitlines()[-1])
    print(f"\nstandalone cluster: started in {started:.1f} s, job {report['seconds']:.1f} s, "
          f"total with stop {total:.1f} s, executors {report['executors']}")
    # Two workers, one executor each, both scored.
    assert report["executors"] == 2
    with open(tmp_path / "loads.log") as f:
        loaders = {line.split()[0] for line in f}
    assert len(loaders) >= 2, "both executors should have loaded the bundle"

    # Both engines when the JVM engine is built (CI builds it), each matching scikit-learn.
    if os.environ.get("CI") == "true":
        assert report["engines"] == ["python", "jvm"]
    est = airbnb["models"]["logistic"]
    for engine in report["engines"]:
        got = pd.read_parquet(str(result).replace(".parquet", f".{engine}.parquet")).sort_values("id").reset_index(drop=True)
        assert_close(got["label"].to_numpy(), est.predict(features(X)), "exact", f"cluster label ({engine})")
        assert_close(np.stack(got["p"].to_numpy()), est.predict_proba(features(X)), "probability",
                     f"cluster probability ({engine})")

    # The streaming phase (test_spark_streaming.py has the rest): a bundle replaced while a
    # stream runs over both executors; each micro-batch (one file, four tasks) is scored by one
    # version, the first two by the first bundle, the last two by the second.
    uids = {keel.load(airbnb["paths"][v]).manifest["uid"]: v for v in ("linear", "strict")}
    for engine in report["engines"]:
        got = pd.read_parquet(str(result).replace(".parquet", f".stream.{engine}.parquet"))
        got = got.merge(X, on="id")
        assert sorted(got["id"]) == sorted(X["id"])
        by_file = {}
        for k, rows in got.groupby("file"):
            assert rows["model_uid"].nunique() == 1, f"cluster stream ({engine}): file {k} mixed versions"
            version = uids[rows["model_uid"].iloc[0]]
            assert_close(rows["prediction"].to_numpy(), airbnb["models"][version].predict(features(rows)),
                         "f64_linear", f"cluster stream file {k} ({engine})")
            by_file[int(k)] = version
        assert by_file == {0: "linear", 1: "linear", 2: "strict", 3: "strict"}, engine

    # An executor killed (SIGKILL) while the scoring stage ran: Spark reran what it lost, and
    # the output folder holds every row exactly once, each scored as scikit-learn scores it.
    want_label = est.predict(features(X))
    want_p = est.predict_proba(features(X))
    base = X["id"].to_numpy()
    for engine in report["engines"]:
        k = report["killed"][engine]
        assert k["killed_pid"] is not None, f"({engine}) no executor was killed: {k}"
        assert k["tasks_done_at_kill"] < k["stage_tasks"], f"({engine}) the kill came after the stage: {k}"
        assert k["killed_pid"] not in k["executors_after"] and len(k["executors_after"]) == 2, k
        got = pd.read_parquet(str(result).replace(".parquet", f".killed.{engine}"))
        assert len(got) == k["rows_expected"] == 100 * len(X), f"({engine}) {len(got)} rows"
        assert got["id"].is_unique, f"({engine}) a row was written twice"
        rep, row = np.divmod(got["id"].to_numpy(), 1_000_000)
        assert set(rep) == set(range(100)) and set(row) == set(base)
        order = np.searchsorted(base, row)
        assert_close(got["label"].to_numpy(), want_label[order], "exact", f"killed executor label ({engine})")
        p = np.stack(got["p"].to_numpy())
        assert_close(p, want_p[order], "probability", f"killed executor probability ({engine})")
        # The checksums the closing note quotes: labels and probabilities summed over all rows.
        print(f"killed executor ({engine}): pid {k['killed_pid']} killed after {k['tasks_done_at_kill']} of "
              f"{k['stage_tasks']} tasks; {len(got)} rows in {k['seconds']:.1f} s; label sum "
              f"{int(got['label'].sum())} (scikit-learn {int(want_label[order].sum())}); p1 sum "
              f"{p[:, 1].sum():.6f} (scikit-learn {want_p[order][:, 1].sum():.6f})")


# --- Arrow conversions, without Spark -----------------------------------------------------------------


def test_vector_conversions_handle_nulls_slices_and_sparse_rows():
    import pyarrow as pa

    from keel._api import Field
    from keel.spark_runtime._arrow import _input_converter, _to_spark_arrow

    f = Field("v", "f64", (3,), nullable=True)
    udt = vector_arrow_type()
    # Spark's VectorUDT rows as pyspark serializes them: (type, size, indices, values).
    rows = [None if v is None else VectorUDT().serialize(v)
            for v in (DenseVector([1.0, 2.0, 3.0]), SparseVector(3, {2: 5.0}), None, SparseVector(3, {}),
                      DenseVector([4.0, 5.0, 6.0]))]
    arr = pa.array([None if r is None else dict(zip(("type", "size", "indices", "values"), r)) for r in rows], type=udt)
    want = [[1.0, 2.0, 3.0], [0.0, 0.0, 5.0], None, [0.0, 0.0, 0.0], [4.0, 5.0, 6.0]]
    conv = _input_converter(f, udt)
    assert conv(arr).to_pylist() == want
    assert conv(arr.slice(1, 3)).to_pylist() == want[1:4]  # slices keep their offsets
    dense = pa.array([dict(zip(("type", "size", "indices", "values"), VectorUDT().serialize(DenseVector([i, i + 1.0, i + 2.0]))))
                      for i in range(4)], type=udt)
    assert conv(dense.slice(1, 2)).to_pylist() == [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]]  # the fast path
    bad = pa.array([dict(type=0, size=3, indices=[3], values=[1.0])], type=udt)
    with pytest.raises(keel.BadValueError, match="index 3 is outside 0..2"):
        conv(bad)

    lists = pa.array([[1, 2, 3], None, [4, 5, 6]], type=pa.list_(pa.int32()))
    conv = _input_converter(f, lists.type)
    assert conv(lists).to_pylist() == [[1.0, 2.0, 3.0], None, [4.0, 5.0, 6.0]]
    assert conv(lists.slice(2)).to_pylist() == [[4.0, 5.0, 6.0]]
    with pytest.raises(keel.BadValueError, match="row 1, column `v`: expected a vector of 3 values, found 2"):
        conv(pa.array([[1.0, 2.0, 3.0], [1.0, 2.0]]))
    with pytest.raises(keel.ColumnTypeError):
        _input_converter(f, pa.list_(pa.string()))

    # Outputs: a fixed-size list (sliced, with a null row) as VectorUDT's struct and as
    # array<double>, in exactly the types Spark declares.
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(12.0)), 3, mask=pa.array([False, True, False, False]))
    as_udt = _to_spark_arrow(fixed.slice(1), udt)
    assert as_udt.type == udt
    assert [None if r is None else VectorUDT().deserialize(tuple(r.values())) for r in as_udt.to_pylist()] == [
        None, DenseVector([6.0, 7.0, 8.0]), DenseVector([9.0, 10.0, 11.0])]
    as_list = _to_spark_arrow(fixed.slice(1), pa.list_(pa.field("element", pa.float64(), nullable=False)))
    assert as_list.to_pylist() == [None, [6.0, 7.0, 8.0], [9.0, 10.0, 11.0]]


# --- tensors (format 1.1): networks, and feature + network bundles ---------------------------

sys.path.insert(0, os.path.join(ROOT, "fixtures", "conformance"))
import conformance_cases as conformance  # noqa: E402

from conftest import TOLERANCES  # noqa: E402

PYTORCH = os.path.join(ROOT, "fixtures", "pytorch")
_SPARK_SCALARS = {"f64": T.DoubleType(), "f32": T.FloatType(), "i64": T.LongType(), "i32": T.IntegerType(),
                  "bool": T.BooleanType(), "utf8": T.StringType()}
FLOATS = T.ArrayType(T.FloatType(), containsNull=False)


def _torch_io(case: str) -> dict:
    with open(os.path.join(PYTORCH, case, "io.json")) as f:
        return json.load(f)


def _scalar(v, dtype: str):
    """A fixture value as a Spark row value of the field's type (non-finite floats are strings
    in io.json)."""
    if v is None:
        return None
    if dtype in ("f64", "f32"):
        return conformance.number(v)
    return int(v) if dtype in ("i64", "i32") else v


def _lists(col) -> list:
    """An array column collected through pandas (numpy arrays, nested) as plain lists."""
    def plain(v):
        return [plain(x) for x in v] if isinstance(v, (list, np.ndarray)) else (None if v is None else float(v))
    return [plain(v) for v in col]


@pytest.mark.parametrize("case", [c for c in conformance.cases() if c.family == "compose"], ids=lambda c: c.name)
def test_feature_and_network_bundles_give_float_arrays(spark, engine, case):
    """fixtures/compose: classical input columns (scikit-learn's or Spark's feature pipeline)
    into a PyTorch network whose `output` is an f32 tensor: a Spark array<float> column, equal
    to the frameworks' own answers under the fixture's named tolerance."""
    fields = keel.load(case.model).schema.inputs
    schema = T.StructType([T.StructField("id", T.LongType(), False)]
                          + [T.StructField(f.name, _SPARK_SCALARS[f.dtype]) for f in fields])
    rows = [(i, *[_scalar(case.inputs[f.name][i], f.dtype) for f in fields]) for i in range(case.rows)]
    out = KeelModel(case.model, engine=engine).transform(spark.createDataFrame(rows, schema).repartition(3))
    assert out.schema["output"].dataType == FLOATS
    got = by_id(out)
    problems = conformance.compare(case, {"output": _lists(got["output"])}, TOLERANCES)
    assert not problems, "\n".join(problems[:5])


def _mlp_frame(spark, x: list[list[float]]):
    """fixtures/pytorch/mlp's input `x` (f32[10]) three ways: array<float>, array<double>, and a
    VectorUDT column (dense and sparse rows)."""
    rows = []
    for i, r in enumerate(x):
        v = SparseVector(len(r), dict(enumerate(r))) if i % 2 else DenseVector(r)
        rows.append((i, r, r, v))
    schema = T.StructType([T.StructField("id", T.LongType()), T.StructField("x", T.ArrayType(T.FloatType())),
                           T.StructField("x_double", T.ArrayType(T.DoubleType())), T.StructField("x_vector", VectorUDT())])
    return spark.createDataFrame(rows, schema).repartition(3)


def test_network_tensor_input_from_arrays_and_vectors(spark, engine):
    """A network whose input is an f32[10] tensor reads it from array<float>, array<double> and
    VectorUDT columns alike (values converted to f32), and gives PyTorch's answers."""
    io_ = _torch_io("mlp")
    path = os.path.join(PYTORCH, "mlp", "model.keel")
    df = _mlp_frame(spark, io_["inputs"]["x"]["data"])
    want = io_["outputs"]["output"]
    for column in ("x", "x_double", "x_vector"):
        frame_ = df.drop(*[c for c in ("x", "x_double", "x_vector") if c != column]).withColumnRenamed(column, "x")
        out = KeelModel(path, engine=engine).transform(frame_)
        assert out.schema["output"].dataType == FLOATS
        assert_close(np.asarray(_lists(by_id(out)["output"])), want, io_["tolerance"], f"mlp from {column}")


def test_network_integer_tensor_inputs(spark, engine):
    """i64 tensors from array<bigint> (rank 1) and array<array<bigint>> (DLRM's sparse ids,
    i64[3, 3]), and from array<int> (widened); f32 tensors from array<double>."""
    io_ = _torch_io("dlrm")
    dense, sparse = io_["inputs"]["dense"]["data"], io_["inputs"]["sparse"]["data"]
    schema = T.StructType([T.StructField("id", T.LongType()), T.StructField("dense", T.ArrayType(T.DoubleType())),
                           T.StructField("sparse", T.ArrayType(T.ArrayType(T.LongType())))])
    df = spark.createDataFrame([(i, dense[i], sparse[i]) for i in range(len(dense))], schema).repartition(2)
    got = by_id(KeelModel(os.path.join(PYTORCH, "dlrm", "model.keel"), engine=engine).transform(df))
    assert_close(np.asarray(_lists(got["output"])), io_["outputs"]["output"], io_["tolerance"], "dlrm")
    # A fixed shape's other form: one flat array per row (row-major).
    flat = df.withColumn("sparse", F.flatten("sparse"))
    got = by_id(KeelModel(os.path.join(PYTORCH, "dlrm", "model.keel"), engine=engine).transform(flat))
    assert_close(np.asarray(_lists(got["output"])), io_["outputs"]["output"], io_["tolerance"], "dlrm, flat ids")

    io_ = _torch_io("tab_transformer")
    cat, num = io_["inputs"]["categorical"]["data"], io_["inputs"]["numeric"]["data"]
    schema = T.StructType([T.StructField("id", T.LongType()), T.StructField("categorical", T.ArrayType(T.IntegerType())),
                           T.StructField("numeric", T.ArrayType(T.FloatType()))])
    df = spark.createDataFrame([(i, cat[i], num[i]) for i in range(len(cat))], schema).repartition(2)
    got = by_id(KeelModel(os.path.join(PYTORCH, "tab_transformer", "model.keel"), engine=engine).transform(df))
    assert_close(np.asarray(_lists(got["output"])), io_["outputs"]["output"], io_["tolerance"], "tab_transformer")


@pytest.fixture(scope="module")
def tensor_outputs(tmp_path_factory):
    """A small PyTorch module exported with keel.torch, whose outputs cover the tensor layouts:
    a rank-2 f32 grid, bool, u8 and f16 vectors, and an i64 tensor with a symbolic dimension
    (`seq`, from its input `ids`). The references are the module's own outputs."""
    torch = pytest.importorskip("torch")
    import keel.torch

    class Outputs(torch.nn.Module):
        def forward(self, x, ids):
            return x.reshape(-1, 2, 3) * 2.0, x > 0, ids + 1, (x.abs() * 10).to(torch.uint8), x.to(torch.float16)

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(12, 6, generator=gen)
    ids = torch.arange(12 * 3, dtype=torch.int64).reshape(12, 3)
    path = str(tmp_path_factory.mktemp("tensors") / "outputs.keel")
    names = ["grid", "positive", "next", "bytes", "half"]
    keel.torch.export(Outputs(), path, (x[:4], ids[:4]), input_names=["x", "ids"], output_names=names,
                      dynamic_dims={"ids": {1: "seq"}})
    with torch.no_grad():
        want = dict(zip(names, (t.numpy() for t in Outputs()(x, ids))))
    return path, x.numpy(), ids.numpy(), want


def test_tensor_outputs_of_every_layout(spark, engine, tensor_outputs):
    """Each tensor output is a Spark array nested one level per dimension of the element type
    its dtype maps to (u8 -> short, f16 -> float), equal to PyTorch's answers."""
    path, x, ids, want = tensor_outputs
    schema = T.StructType([T.StructField("id", T.LongType()), T.StructField("x", T.ArrayType(T.FloatType())),
                           T.StructField("ids", T.ArrayType(T.LongType()))])
    df = spark.createDataFrame([(i, x[i].tolist(), ids[i].tolist()) for i in range(len(x))], schema).repartition(3)
    out = KeelModel(path, engine=engine).transform(df)
    types = {f.name: f.dataType for f in out.schema.fields}
    assert types["grid"] == T.ArrayType(FLOATS, containsNull=False)
    assert types["positive"] == T.ArrayType(T.BooleanType(), containsNull=False)
    assert types["next"] == T.ArrayType(T.LongType(), containsNull=False)
    assert types["bytes"] == T.ArrayType(T.ShortType(), containsNull=False)
    assert types["half"] == FLOATS
    got = by_id(out)
    assert_close(np.asarray(_lists(got["grid"])), want["grid"], "exact", "grid")
    assert np.array_equal(np.asarray(_lists(got["positive"])).astype(bool), want["positive"])
    assert_close(np.asarray(_lists(got["next"])), want["next"], "exact", "next")
    assert_close(np.asarray(_lists(got["bytes"])), want["bytes"], "exact", "bytes")
    assert_close(np.asarray(_lists(got["half"])), want["half"].astype(np.float32), "exact", "half")


def test_sql_function_with_tensors(spark):
    """The SQL function takes tensor inputs from arrays and returns a tensor output as the same
    array<float> KeelModel gives."""
    io_ = _torch_io("mlp")
    register_udf(spark, "mlp_model", os.path.join(PYTORCH, "mlp", "model.keel"))
    _mlp_frame(spark, io_["inputs"]["x"]["data"]).createOrReplaceTempView("mlp_inputs")
    res = spark.sql("SELECT id, mlp_model(struct(x)) AS output FROM mlp_inputs")
    assert res.schema["output"].dataType == FLOATS
    assert_close(np.asarray(_lists(by_id(res)["output"])), io_["outputs"]["output"], io_["tolerance"], "SQL mlp")


def _fails(df, path: str, engine: str) -> str:
    with pytest.raises(Exception) as e:
        KeelModel(path, engine=engine).transform(df.coalesce(1)).collect()
    return str(e.value)


def test_wrong_tensor_shapes_and_nulls_name_column_and_row(spark, engine):
    """A row of the wrong length (array or vector), a wrong inner length, or a null row of a
    non-nullable tensor fails the task with keel's typed error naming the column and the row,
    on both engines; Spark types that cannot convert losslessly are refused before any job."""
    io_ = _torch_io("mlp")
    path = os.path.join(PYTORCH, "mlp", "model.keel")
    x = io_["inputs"]["x"]["data"][:3]
    python = engine == "python"
    schema = T.StructType([T.StructField("x", T.ArrayType(T.FloatType()))])
    text = _fails(spark.createDataFrame([(x[0],), (x[1][:9],), (x[2],)], schema), path, engine)
    assert ("keel.errors.TensorShapeError" if python else "[tensor_shape]") in text, text
    assert "row 1, column `x`: expected shape f32[10], found 9 elements on axis 0" in text, text

    vectors = T.StructType([T.StructField("x", VectorUDT())])
    text = _fails(spark.createDataFrame([(DenseVector(x[0]),), (DenseVector(x[1]),), (SparseVector(4, {0: 1.0}),)], vectors),
                  path, engine)
    assert ("keel.errors.TensorShapeError" if python else "[tensor_shape]") in text, text
    assert "row 2, column `x`: expected shape f32[10], found 4 elements on axis 0" in text, text

    text = _fails(spark.createDataFrame([(x[0],), (None,)], schema), path, engine)
    assert ("keel.errors.MissingValueError" if python else "[missing_value]") in text, text
    assert "row 1, column `x`" in text, text

    dlrm = os.path.join(PYTORCH, "dlrm", "model.keel")
    io_ = _torch_io("dlrm")
    dense, sparse = io_["inputs"]["dense"]["data"], io_["inputs"]["sparse"]["data"]
    schema = T.StructType([T.StructField("dense", T.ArrayType(T.FloatType())),
                           T.StructField("sparse", T.ArrayType(T.ArrayType(T.LongType())))])
    bad = [sparse[1][0], sparse[1][1][:2], sparse[1][2]]
    text = _fails(spark.createDataFrame([(dense[0], sparse[0]), (dense[1], bad)], schema), dlrm, engine)
    assert "row 1, column `sparse`: expected shape i64[3, 3], found 2 elements on axis 1" in text, text

    # Refused on the driver: doubles (an array or a VectorUDT) for an integer tensor, strings
    # for a float one, and a nesting deeper than the tensor's rank (one flat array per row is
    # a fixed shape's other form, and is read).
    for dt in (T.ArrayType(T.ArrayType(T.DoubleType())), T.ArrayType(T.ArrayType(T.ArrayType(T.LongType()))),
               VectorUDT()):
        df = spark.createDataFrame([], T.StructType([T.StructField("dense", T.ArrayType(T.FloatType())),
                                                     T.StructField("sparse", dt)]))
        with pytest.raises(keel.ColumnTypeError, match="input column `sparse`: expected i64\\[3, 3\\]"):
            KeelModel(dlrm, engine=engine).transform(df)
    with pytest.raises(keel.ColumnTypeError, match="input column `x`: expected f32\\[10\\], found Spark array<string>"):
        KeelModel(path, engine=engine).transform(spark.createDataFrame([], "x array<string>"))


def test_tensor_output_types_and_conversions():
    """The Spark type of every tensor dtype (nested one array per dimension), and the Arrow
    conversions both ways without Spark: a flat fixed-shape output split into levels (sliced,
    with a null row; u8 widened to int16, f16 to float32), nested variable lists relabelled,
    VectorUDT rows (dense, sparse, null) as lists."""
    import pyarrow as pa

    from keel._api import Field
    from keel.spark_runtime._arrow import _input_converter, _tensor_arrow_type, _to_spark_arrow
    from keel.spark_runtime._plan import _output_spark_type

    want = {"f32": T.FloatType(), "f16": T.FloatType(), "bf16": T.FloatType(), "f64": T.DoubleType(),
            "i64": T.LongType(), "i32": T.IntegerType(), "i8": T.ByteType(), "u8": T.ShortType(),
            "bool": T.BooleanType()}
    for dtype, element in want.items():
        f = Field("t", dtype, (2, 3))
        assert _output_spark_type(f, "udt") == T.ArrayType(T.ArrayType(element, False), False)
        # The Arrow type declared to mapInArrow is the one Spark derives from that Spark type.
        from pyspark.sql.pandas.types import to_arrow_type

        assert _tensor_arrow_type(f) == to_arrow_type(_output_spark_type(f, "udt"))
    assert _output_spark_type(Field("p", "f64", (3,)), "udt") == VectorUDT()  # f64[3]: a vector

    f = Field("t", "u8", (2, 2))
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(12, dtype=np.uint8)), 4,
                                              mask=pa.array([False, True, False]))
    out = _to_spark_arrow(fixed.slice(1), _tensor_arrow_type(f), f.shape)
    assert out.type == _tensor_arrow_type(f)
    assert out.to_pylist() == [None, [[8, 9], [10, 11]]]
    # pyarrow reads the runtime's fixed-shape tensor metadata as its extension type.
    f = Field("t", "f32", (2, 3))
    ext = pa.ExtensionArray.from_storage(pa.fixed_shape_tensor(pa.float32(), [2, 3]),
                                         pa.FixedSizeListArray.from_arrays(pa.array(np.arange(6, dtype=np.float32)), 6))
    assert _to_spark_arrow(ext, _tensor_arrow_type(f), f.shape).to_pylist() == [[[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]]
    f = Field("t", "f16", (3,))
    fixed = pa.FixedSizeListArray.from_arrays(pa.array(np.arange(6, dtype=np.float16)), 3)
    assert _to_spark_arrow(fixed, _tensor_arrow_type(f), f.shape).to_pylist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    f = Field("t", "i64", (4,), dims=("seq",))
    nested = pa.array([[1, 2], [3, 4]], type=pa.list_(pa.field("item", pa.int64(), nullable=False)))
    assert _to_spark_arrow(nested, _tensor_arrow_type(f), f.shape).type == _tensor_arrow_type(f)

    f = Field("x", "f32", (3,))
    udt = vector_arrow_type()
    rows = [None if v is None else dict(zip(("type", "size", "indices", "values"), VectorUDT().serialize(v)))
            for v in (DenseVector([1.0, 2.0, 3.0]), SparseVector(3, {2: 5.0}), None, SparseVector(2, {}))]
    conv = _input_converter(f, udt)
    assert conv(pa.array(rows, type=udt)).to_pylist() == [[1.0, 2.0, 3.0], [0.0, 0.0, 5.0], None, [0.0, 0.0]]
    assert conv(pa.array(rows, type=udt).slice(1, 2)).to_pylist() == [[0.0, 0.0, 5.0], None]
    assert conv(pa.array([rows[0], rows[2]], type=udt)).to_pylist() == [[1.0, 2.0, 3.0], None]
    # Arrays go to the runtime as they are; decimals become doubles.
    assert _input_converter(f, pa.list_(pa.float32())) is None
    dec = pa.array([[1, 2, 3]], type=pa.list_(pa.decimal128(5, 0)))
    assert _input_converter(f, dec.type)(dec).type == pa.list_(pa.float64())
