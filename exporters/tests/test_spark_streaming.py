"""Scoring in Spark Structured Streaming (`keel.spark_runtime` on streaming DataFrames): both
engines on file and rate sources, typed as in batch; bundles replaced, broken or removed while
a query runs (`refreshInterval`, the version store of `_versions`); a query failed and
restarted from its checkpoint; rows the bundle refuses.

References: the batch transform of the same files (itself checked against scikit-learn in
test_spark_runtime.py) and scikit-learn's own `predict`, never values recorded from keel. The
micro-batches are made deterministic with `maxFilesPerTrigger=1` (one input file per batch,
each file's rows tagged with its number) and `processAllAvailable()` / `Trigger.AvailableNow`,
not sleeps; the only waits are for the driver's refresher to see a new file, bounded.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pandas as pd
import pytest

from conftest import assert_close

import keel
import keel.sklearn

pyspark = pytest.importorskip("pyspark") if os.environ.get("CI") != "true" else __import__("pyspark")

from pyspark.sql import functions as F  # noqa: E402
from pyspark.sql import types as T  # noqa: E402

from data import AIRBNB_CATEGORICAL, AIRBNB_NUMERIC, airbnb_frame  # noqa: E402
from keel.spark_runtime import BundleRefreshWarning, KeelModel, jvm_engine_available, register_udf  # noqa: E402
from spark_testing import started_spark  # noqa: E402

ROWS_PER_FILE = 150
# How long the driver's refresher (refreshInterval REFRESH_S) may take to report on a new file.
REFRESH_S = 0.1
REFRESH_WAIT_S = 30


def unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Spark is required in CI: {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    session = started_spark(lambda: (
        SparkSession.builder.master("local[2]")
        .appName("keel-streaming-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    ))
    session.sparkContext.setLogLevel("ERROR")
    yield session
    for q in session.streams.active:
        q.stop()


@pytest.fixture(params=["python", "jvm"])
def engine(request, spark) -> str:
    if request.param == "jvm" and not jvm_engine_available(spark):
        unavailable("keel-spark.jar is not on Spark's class path (jvm/build.sh builds it)")
    return request.param


def _pre(handle_unknown: str = "ignore"):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    return ColumnTransformer([("num", StandardScaler(), AIRBNB_NUMERIC),
                              ("cat", OneHotEncoder(handle_unknown=handle_unknown), AIRBNB_CATEGORICAL)])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two versions of a price model (v2 fitted to a different target, so their answers
    differ), a classifier, a model that refuses unknown categories, and a model reading a
    column the stream does not have; exported by keel.sklearn, predictions by scikit-learn."""
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import Pipeline

    out = tmp_path_factory.mktemp("stream-bundles")
    X, price, booked = airbnb_frame(2000, seed=1)
    est = {
        "v1": Pipeline([("pre", _pre()), ("m", LinearRegression())]).fit(X, price),
        "v2": Pipeline([("pre", _pre()), ("m", LinearRegression())]).fit(X, 2 * price + 10),
        "logistic": Pipeline([("pre", _pre()), ("m", LogisticRegression(max_iter=500))]).fit(X, booked),
        "strict": Pipeline([("pre", _pre("error")), ("m", LinearRegression())]).fit(X, price),
    }
    # Reads `bedrooms_count`, which the stream does not have.
    renamed = X.rename(columns={"bedrooms": "bedrooms_count"})
    numeric = ["bedrooms_count" if c == "bedrooms" else c for c in AIRBNB_NUMERIC]
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import StandardScaler

    est["other_inputs"] = Pipeline([("pre", ColumnTransformer([("num", StandardScaler(), numeric)])),
                                    ("m", LinearRegression())]).fit(renamed[numeric], price)
    paths = {}
    for name, e in est.items():
        paths[name] = str(out / f"{name}.keel")
        sample = renamed[numeric].head(20) if name == "other_inputs" else X.head(20)
        keel.sklearn.export(e, paths[name], sample=sample, name=f"stream_{name}")
    uids = {name: keel.load(p).manifest["uid"] for name, p in paths.items()}
    return {"est": est, "paths": paths, "uids": uids}


def listings(k: int) -> pd.DataFrame:
    """File `k` of a stream: its own rows, an `id` unique across files and the file number."""
    X, _, _ = airbnb_frame(ROWS_PER_FILE, seed=100 + k)
    X.insert(0, "id", np.arange(k * ROWS_PER_FILE, (k + 1) * ROWS_PER_FILE, dtype=np.int64))
    X.insert(1, "file", np.int64(k))
    return X


def drop_file(folder, k: int) -> None:
    """Adds file `k` to a stream's folder whole (written aside, then renamed in), as a file
    source expects."""
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(os.path.dirname(str(folder)), f".part-{k}.parquet")
    listings(k).to_parquet(tmp, index=False)
    os.replace(tmp, os.path.join(str(folder), f"part-{k:03d}.parquet"))


def put_bundle(src: str, dst: str) -> None:
    """Replaces a bundle file as a deployment should: a whole new file renamed over the old."""
    tmp = dst + ".incoming"
    with open(src, "rb") as f, open(tmp, "wb") as g:
        g.write(f.read())
    os.replace(tmp, dst)


def stream_of(spark, folder):
    os.makedirs(folder, exist_ok=True)
    schema = spark.createDataFrame(listings(0)).schema
    return spark.readStream.schema(schema).option("maxFilesPerTrigger", 1).parquet(str(folder))


def wait_for(model: KeelModel, kind: str, count: int) -> list[str]:
    """The refresher's events of `kind` ("accepted" / "refused") once there are `count`."""
    deadline = time.monotonic() + REFRESH_WAIT_S
    while time.monotonic() < deadline:
        got = [text for k, text in model._refresher.events if k == kind]
        if len(got) >= count:
            return got
        time.sleep(REFRESH_S / 2)
    pytest.fail(f"the refresher reported {model._refresher.events}, not {count} {kind!r} events")


def wait_current(store: str, uid: str) -> None:
    """Waits until a plan in version store `store` has `uid` as its current version (the SQL
    function's refresher has no model object to ask)."""
    deadline = time.monotonic() + REFRESH_WAIT_S
    while time.monotonic() < deadline:
        for plan in os.listdir(store):
            current = os.path.join(store, plan, "current")
            if os.path.exists(current) and uid in open(current).read():
                return
        time.sleep(REFRESH_S / 2)
    pytest.fail(f"no plan in {store} took version {uid}")


def memory_query(df, name: str):
    return df.writeStream.format("memory").queryName(name).outputMode("append").start()


def table(spark, name: str) -> pd.DataFrame:
    return spark.table(name).toPandas().sort_values("id").reset_index(drop=True)


def predictions(models, version: str, X: pd.DataFrame) -> np.ndarray:
    return models["est"][version].predict(X[AIRBNB_NUMERIC + AIRBNB_CATEGORICAL])


# --- streams score as batches do ------------------------------------------------------------------


def test_file_stream_equals_batch_transform(spark, engine, models, tmp_path):
    folder = tmp_path / "in"
    for k in range(3):
        drop_file(folder, k)
    model = KeelModel(models["paths"]["logistic"], engine=engine)
    stream = stream_of(spark, folder)
    assert stream.isStreaming
    scored = model.transform(stream)
    batch = model.transform(spark.read.parquet(str(folder)))
    # Typed as in batch, metadata (the probability vector's class names) included, and known
    # before the query starts.
    assert scored.schema == batch.schema
    assert [f.metadata for f in scored.schema.fields] == [f.metadata for f in batch.schema.fields]
    name = f"stream_vs_batch_{engine}"
    q = scored.writeStream.format("memory").queryName(name).trigger(availableNow=True).start()
    q.awaitTermination(120)
    assert q.exception() is None
    assert len(q.recentProgress) >= 3  # one micro-batch per file
    got = table(spark, name)
    want = batch.toPandas().sort_values("id").reset_index(drop=True)
    assert len(got) == 3 * ROWS_PER_FILE
    pd.testing.assert_series_equal(got["label"], want["label"])
    assert_close(np.stack(got["probability"].map(lambda v: v.toArray())),
                 np.stack(want["probability"].map(lambda v: v.toArray())), "exact", "stream probability")
    X = pd.concat([listings(k) for k in range(3)], ignore_index=True)
    est = models["est"]["logistic"]
    np.testing.assert_array_equal(got["label"].to_numpy(), est.predict(X[AIRBNB_NUMERIC + AIRBNB_CATEGORICAL]))


def test_rate_source_and_sql_function(spark, models):
    """The rate source (an unbounded stream) through KeelModel on both engines and the SQL
    function, in one query each; rows are built from the rate's counter."""
    def category(c: str):
        values = sorted(set(listings(0)[c]))
        return F.element_at(F.array(*[F.lit(v) for v in values]), (F.col("value") % len(values) + 1).cast("int"))

    cats = {c: category(c) for c in AIRBNB_CATEGORICAL}
    nums = {c: (F.col("value") % 17).cast("double") * (i + 1) for i, c in enumerate(AIRBNB_NUMERIC)}
    rate = spark.readStream.format("rate").option("rowsPerSecond", 200).load()
    rows = rate.select(F.col("value").alias("id"), *[v.alias(k) for k, v in {**nums, **cats}.items()])
    register_udf(spark, "stream_price", models["paths"]["v1"])
    engines = ["python"] + (["jvm"] if jvm_engine_available(spark) else [])
    queries = []
    for engine in engines:
        scored = KeelModel(models["paths"]["v1"], engine=engine).transform(rows)
        queries.append((f"rate_{engine}", memory_query(scored, f"rate_{engine}")))
    rows.createOrReplaceTempView("rate_rows")
    sql = spark.sql("SELECT *, stream_price(struct(*)) AS prediction FROM rate_rows")
    queries.append(("rate_sql", memory_query(sql, "rate_sql")))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(spark.table(n).count() < 300 for n, _ in queries):
            for _, q in queries:
                assert q.exception() is None, q.exception()
            time.sleep(0.5)
    finally:
        for _, q in queries:
            q.stop()
    for name, q in queries:
        got = table(spark, name)
        assert len(got) >= 300, name
        want = predictions(models, "v1", got)
        assert_close(got["prediction"].to_numpy(), want, "f64_linear", name)


def test_bad_row_fails_the_query_with_keels_message(spark, engine, models, tmp_path):
    folder = tmp_path / "in"
    bad = listings(0)
    bad.loc[17, "room_type"] = "castle"
    os.makedirs(folder)
    bad.to_parquet(folder / "part-000.parquet", index=False)
    scored = KeelModel(models["paths"]["strict"], engine=engine).transform(stream_of(spark, folder))
    q = memory_query(scored, f"bad_{engine}")
    with pytest.raises(Exception) as e:
        q.processAllAvailable()
    q.stop()
    text = str(e.value)
    assert 'column `room_type`: unknown category "castle"' in text
    assert "UnknownCategoryError" in text or "dev.keel.spark.KeelException" in text


# --- model versions -----------------------------------------------------------------------------------


def _check_batches(got: pd.DataFrame, models) -> dict[int, str]:
    """Every file (one micro-batch each) scored by exactly one version, with that version's
    scikit-learn predictions; returns file -> version."""
    by_uid = {models["uids"][v]: v for v in ("v1", "v2")}
    versions = {}
    for k, rows in got.groupby("file"):
        uids = set(rows["model_uid"])
        assert len(uids) == 1, f"micro-batch of file {k} mixed versions {uids}"
        v = by_uid[uids.pop()]
        assert_close(rows["prediction"].to_numpy(), predictions(models, v, rows), "f64_linear", f"file {k} by {v}")
        versions[int(k)] = v
    return versions


def test_bundle_replaced_mid_stream_switches_between_micro_batches(spark, engine, models, tmp_path):
    folder, served = tmp_path / "in", str(tmp_path / "price.keel")
    put_bundle(models["paths"]["v1"], served)
    model = KeelModel(served, engine=engine, refreshInterval=REFRESH_S, versionCol="model_uid",
                      versionDir=str(tmp_path / "versions"))
    # Four tasks per micro-batch, so a version could mix across them if tasks disagreed.
    scored = model.transform(stream_of(spark, folder).repartition(4))
    assert scored.schema["model_uid"].dataType == T.StringType()
    name = f"swap_{engine}"
    for k in range(2):
        drop_file(folder, k)
    q = memory_query(scored, name)
    try:
        q.processAllAvailable()
        put_bundle(models["paths"]["v2"], served)
        assert wait_for(model, "accepted", 1) == [models["uids"]["v2"]]
        for k in range(2, 4):
            drop_file(folder, k)
        q.processAllAvailable()
        # Now swaps race the micro-batches: a new version every few milliseconds while six
        # files stream through.
        for k in range(4, 10):
            drop_file(folder, k)
        flips = 0
        while q.status["isDataAvailable"] or flips < 4:
            put_bundle(models["paths"]["v1" if flips % 2 == 0 else "v2"], served)
            flips += 1
            time.sleep(REFRESH_S)
            if flips > 200:
                break
        q.processAllAvailable()
    finally:
        q.stop()
    versions = _check_batches(table(spark, name), models)
    assert [versions[k] for k in range(4)] == ["v1", "v1", "v2", "v2"]
    assert sorted(versions) == list(range(10))


def test_broken_changed_and_removed_bundles_do_not_stop_the_query(spark, engine, models, tmp_path):
    folder, served = tmp_path / "in", str(tmp_path / "price.keel")
    put_bundle(models["paths"]["v1"], served)
    model = KeelModel(served, engine=engine, refreshInterval=REFRESH_S, versionCol="model_uid",
                      versionDir=str(tmp_path / "versions"))
    name = f"broken_{engine}"
    q = memory_query(model.transform(stream_of(spark, folder)), name)
    refused = []
    try:
        with pytest.warns(BundleRefreshWarning) as caught:
            for k, (change, why) in enumerate([
                (lambda: open(served, "wb").write(b"PK\x03\x04 not a bundle"), "is not used"),
                (lambda: put_bundle(models["paths"]["other_inputs"], served), "bedrooms_count"),
                (lambda: put_bundle(models["paths"]["logistic"], served), "output `prediction`"),
                (lambda: os.remove(served), "is gone"),
            ]):
                change()
                refused = wait_for(model, "refused", k + 1)
                assert why in refused[-1], refused[-1]
                drop_file(folder, k)
                q.processAllAvailable()
                assert q.isActive
        put_bundle(models["paths"]["v2"], served)
        wait_for(model, "accepted", 1)
        drop_file(folder, 4)
        q.processAllAvailable()
    finally:
        q.stop()
    assert {str(w.message) for w in caught} >= set(refused)
    # keel's own error is in the report of the file that does not load.
    assert "BundleError" in refused[0] or "Error" in refused[0]
    versions = _check_batches(table(spark, name), models)
    assert versions == {0: "v1", 1: "v1", 2: "v1", 3: "v1", 4: "v2"}


def test_failed_query_restarted_from_its_checkpoint_scores_each_row_once(spark, engine, models, tmp_path):
    """Micro-batch 2 fails after it was scored (a step after keel raises while a marker file
    exists); the bundle is then replaced and the query restarted from its checkpoint: batch 2
    is scored again by the version that scored it first, the next batch by the new one, and
    the parquet sink holds every row exactly once."""
    folder, served = tmp_path / "in", str(tmp_path / "price.keel")
    out, checkpoint, marker = str(tmp_path / "out"), str(tmp_path / "checkpoint"), str(tmp_path / "fail")
    put_bundle(models["paths"]["v1"], served)

    @F.udf("long")
    def fail_on_marker(file):
        if file == 2 and os.path.exists(marker):
            raise RuntimeError("injected failure after scoring")
        return file

    def run() -> None:
        model = KeelModel(served, engine=engine, refreshInterval=REFRESH_S, versionCol="model_uid",
                          versionDir=str(tmp_path / "versions"))
        scored = model.transform(stream_of(spark, folder)).withColumn("file", fail_on_marker("file"))
        q = (scored.writeStream.format("parquet").option("path", out).option("checkpointLocation", checkpoint)
             .trigger(availableNow=True).start())
        try:
            q.awaitTermination(120)
        finally:
            q.stop()

    for k in range(2):
        drop_file(folder, k)
    run()
    drop_file(folder, 2)
    open(marker, "w").close()
    with pytest.raises(Exception, match="injected failure"):
        run()
    put_bundle(models["paths"]["v2"], served)
    os.remove(marker)
    drop_file(folder, 3)
    run()
    got = spark.read.parquet(out).toPandas().sort_values("id").reset_index(drop=True)
    assert got["id"].tolist() == list(range(4 * ROWS_PER_FILE))
    assert _check_batches(got, models) == {0: "v1", 1: "v1", 2: "v1", 3: "v2"}


def test_sql_function_refreshes_between_micro_batches(spark, models, tmp_path):
    folder, served = tmp_path / "in", str(tmp_path / "price.keel")
    put_bundle(models["paths"]["v1"], served)
    register_udf(spark, "live_price", served, refreshInterval=REFRESH_S, versionField="model_uid",
                 versionDir=str(tmp_path / "versions"))
    stream_of(spark, folder).repartition(3).createOrReplaceTempView("live_listings")
    scored = spark.sql("SELECT *, live_price(struct(*)) AS p FROM live_listings").select(
        "*", F.col("p.prediction").alias("prediction"), F.col("p.model_uid").alias("model_uid")).drop("p")
    drop_file(folder, 0)
    q = memory_query(scored, "live_sql")
    try:
        q.processAllAvailable()
        put_bundle(models["paths"]["v2"], served)
        wait_current(str(tmp_path / "versions"), models["uids"]["v2"])
        drop_file(folder, 1)
        q.processAllAvailable()
    finally:
        q.stop()
    assert _check_batches(table(spark, "live_sql"), models) == {0: "v1", 1: "v2"}
