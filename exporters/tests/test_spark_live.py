"""End to end, live, against real Spark: every Spark fixture case (fixtures/spark_cases) is
fitted with pyspark in local mode, exported with `keel.spark.export`, scored by the `keel`
binary through Arrow IPC, and compared with Spark's own `transform` in the same run. Plus the
exporter's refusals (an unsupported stage or parameter is named, and nothing is written) and
the errors a bad input gets from the runtime.

One local[2] SparkSession serves the module. Starting it is bounded: if Spark does not come up
in time the tests fail instead of hanging, and they are skipped where pyspark or Java is
missing.
"""

from __future__ import annotations

import json
import math
import os
import sys
import zipfile

import pytest

pyspark = pytest.importorskip("pyspark")

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.ipc  # noqa: E402,F401

from conftest import ROOT, assert_close, run_keel  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "fixtures"))

from generate_spark import jsonable, start_spark  # noqa: E402
from spark_cases import CASES  # noqa: E402
from spark_testing import arrow_inputs, read_manifest, started_spark  # noqa: E402

import keel  # noqa: E402
import keel.spark  # noqa: E402

@pytest.fixture(scope="module")
def spark():
    session = started_spark(start_spark)
    yield session
    session.stop()


def _score(keel_bin, bundle, tmp_path, rows, fields):
    arrow_inputs(rows, fields, tmp_path / "in.arrow")
    res = run_keel(keel_bin, "score", str(bundle), str(tmp_path / "in.arrow"), "-o", str(tmp_path / "out.arrow"))
    return res, (pa.ipc.open_file(str(tmp_path / "out.arrow")).read_all() if res.returncode == 0 else None)


@pytest.mark.parametrize("name", sorted(CASES))
def test_live_parity(name, spark, tmp_path, keel_bin):
    model, test_df, tolerance, _ = CASES[name](spark)
    bundle = tmp_path / "model.keel"
    keel.spark.export(model, bundle, sample_df=test_df, name=name, outputs=getattr(CASES[name], "outputs", None))
    manifest = read_manifest(bundle)
    outputs = [f["name"] for f in manifest["outputs"]]
    dtypes = {f["name"]: f["dtype"] for f in manifest["outputs"]}
    inputs = [f["name"] for f in manifest["inputs"]]
    rows = model.transform(test_df).select(*inputs, *outputs).collect()
    res, table = _score(keel_bin, bundle, tmp_path, rows, manifest["inputs"])
    assert res.returncode == 0, res.stderr.decode()
    assert table.num_rows == len(rows)
    for col in outputs:
        want = [jsonable(r[col]) for r in rows]
        got = table.column(col).to_pylist()
        # Spark's NULL is not NaN: nulls must sit in the same rows.
        assert [g is None for g in got] == [w is None for w in want], f"{name}.{col}: NULL rows differ"
        if dtypes[col] == "list<utf8>":
            # Token lists: the same strings (and null tokens) in the same order.
            assert got == want, f"{name}.{col}: token lists differ"
            continue
        want = [_num(w) for w in want]
        assert_close(got, want, tolerance[col], f"{name}.{col}")


def _num(v):
    if isinstance(v, list):
        return [_num(x) for x in v]
    if v == "NaN":
        return math.nan
    if v == "Infinity":
        return math.inf
    if v == "-Infinity":
        return -math.inf
    return v


# -- the exporter's rules ----------------------------------------------------------------------


def test_default_outputs_skip_the_label_indexer(spark, tmp_path):
    """Without the label column, the label StringIndexer is skipped (as Spark skips it); the
    outputs are the predictor's three columns and the inputs only what the features need."""
    model, test_df, _, _ = CASES["iris_logreg_multinomial"](spark)
    keel.spark.export(model, tmp_path / "m.keel", sample_df=test_df)
    m = read_manifest(tmp_path / "m.keel")
    assert [f["name"] for f in m["outputs"]] == ["rawPrediction", "probability", "prediction"]
    assert [f["name"] for f in m["inputs"]] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert m["producer"]["framework"] == "spark"
    # Asking for an intermediate column keeps only the stages it needs.
    keel.spark.export(model, tmp_path / "f.keel", sample_df=test_df, outputs=["features"])
    m = read_manifest(tmp_path / "f.keel")
    assert [f["name"] for f in m["outputs"]] == ["features"]
    graph = json.loads(zipfile.ZipFile(tmp_path / "f.keel").read("graph.json"))
    assert [c["op"] for c in graph["children"]] == ["spark.vector_assembler", "spark.standard_scaler"]


def _mixed(spark):
    from spark_cases._data import mixed

    return mixed().split(spark, 4)


def _refused(model, sample_df, tmp_path, *needles, **kw):
    path = tmp_path / "refused.keel"
    with pytest.raises(keel.UnsupportedError) as e:
        keel.spark.export(model, path, sample_df=sample_df, **kw)
    for n in needles:
        assert n in str(e.value), str(e.value)
    assert not path.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".keel-")]
    return e.value


def test_unsupported_stage_is_named_and_nothing_is_written(spark, tmp_path):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import SQLTransformer, StringIndexer

    train, test = _mixed(spark)
    model = Pipeline(
        stages=[
            StringIndexer(inputCol="city", outputCol="city_idx", handleInvalid="keep"),
            SQLTransformer(statement="SELECT *, age * 2 AS age2 FROM __THIS__"),
        ]
    ).fit(train)
    e = _refused(model, test, tmp_path, "SQLTransformer", "stages[1]")
    assert e.path == "PipelineModel.stages[1]"


def test_row_dropping_and_unsupported_params_are_refused(spark, tmp_path):
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import DecisionTreeClassifier
    from pyspark.ml.feature import StringIndexer, VectorAssembler

    train, test = _mixed(spark)
    skip = Pipeline(stages=[StringIndexer(inputCol="city", outputCol="c", handleInvalid="skip")]).fit(train)
    _refused(skip, test, tmp_path, "handleInvalid='skip'")
    va = VectorAssembler(inputCols=["age"], outputCol="f", handleInvalid="skip")
    _refused(va, test, tmp_path, "handleInvalid='skip'", "VectorAssembler")
    double_idx = Pipeline(stages=[StringIndexer(inputCol="age", outputCol="a")]).fit(train)
    _refused(double_idx, test, tmp_path, "column `age` is f64")
    tree = Pipeline(
        stages=[
            VectorAssembler(inputCols=["age"], outputCol="features"),
            DecisionTreeClassifier(labelCol="visits", leafCol="leaf", maxDepth=2),
        ]
    ).fit(train.na.drop(subset=["visits"]))
    _refused(tree, test, tmp_path, "leafCol")
    _refused(Pipeline(stages=[va]), test, tmp_path, "not fitted")
    ok = Pipeline(stages=[StringIndexer(inputCol="city", outputCol="c", handleInvalid="keep")]).fit(train)
    _refused(ok, test, tmp_path, "`nope`", outputs=["nope"])


def test_bad_input_gives_a_typed_error_naming_column_and_row(spark, tmp_path, keel_bin):
    """A value the StringIndexer never saw, with handleInvalid='error': Spark fails the job;
    keel fails the frame, naming the column, the row and the value."""
    model, test_df, _, _ = CASES["mixed_onehot_droplast_error"](spark)
    bundle = tmp_path / "model.keel"
    keel.spark.export(model, bundle, sample_df=test_df)
    manifest = read_manifest(bundle)
    inputs = [f["name"] for f in manifest["inputs"]]
    rows = [r.asDict() for r in test_df.select(*inputs).limit(5).collect()]
    rows[3]["room"] = "castle"
    res, _ = _score(keel_bin, bundle, tmp_path, rows, manifest["inputs"])
    assert res.returncode != 0
    err = res.stderr.decode()
    assert "row 3" in err and "`room`" in err and "castle" in err, err
    # Spark refuses the same row.
    from pyspark.errors import PySparkException
    from py4j.protocol import Py4JJavaError

    bad = spark.createDataFrame([tuple(r[c] for c in inputs) for r in rows], test_df.select(*inputs).schema)
    with pytest.raises((PySparkException, Py4JJavaError)):
        model.transform(bad).collect()


def test_exported_numbers_are_spark_s(spark, tmp_path):
    """The bundle holds the fitted parameters as Spark reports them (bit for bit)."""
    from safetensors.numpy import load

    model, test_df, _, _ = CASES["cancer_logreg_binomial"](spark)
    keel.spark.export(model, tmp_path / "m.keel", sample_df=test_df)
    z = zipfile.ZipFile(tmp_path / "m.keel")
    tensors = load(z.read("tensors/model.safetensors"))
    lr = model.stages[-1]
    (coef,) = [v for k, v in tensors.items() if k.endswith("/coef")]
    assert np.array_equal(coef.reshape(-1), lr.coefficients.toArray())


@pytest.mark.parametrize("name", ["wine_rf_classifier", "airbnb_gbt_regressor", "mixed_dt_regressor_nan"])
def test_tree_nodes_read_from_the_saved_copy_match_the_java_walk(name, spark, tmp_path, monkeypatch):
    """Trees are read from Spark's saved copy of the model (fast); the node-by-node py4j walk
    (the fallback where that copy cannot be read back) must give the same tensors, bit for bit,
    and the fast path must actually be taken here (local mode)."""
    import warnings

    from safetensors.numpy import load

    import keel.spark._trees as trees

    model, test_df, _, _ = CASES[name](spark)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the fallback warns: it must not be taken
        keel.spark.export(model, tmp_path / "fast.keel", sample_df=test_df)
    monkeypatch.setattr(trees, "_saved_trees", lambda stage, n: None)
    keel.spark.export(model, tmp_path / "walk.keel", sample_df=test_df)
    fast = load(zipfile.ZipFile(tmp_path / "fast.keel").read("tensors/model.safetensors"))
    walk = load(zipfile.ZipFile(tmp_path / "walk.keel").read("tensors/model.safetensors"))
    assert fast.keys() == walk.keys()
    assert any(k.endswith("/leaf_values") for k in fast)
    for k in fast:
        assert fast[k].dtype == walk[k].dtype and np.array_equal(fast[k], walk[k]), k
