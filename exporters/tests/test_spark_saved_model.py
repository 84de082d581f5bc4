"""`keel convert --from spark-ml`, live against real Spark: every Spark fixture case
(fixtures/spark_cases) is fitted with pyspark, saved with ``model.write().save(dir)`` and
imported by the `keel` binary from the saved folder alone (no JVM involved in the import). The
imported bundle is scored with `keel score` and compared with Spark's own ``transform`` under
the case's tolerances, and with the bundle that ``keel.spark.export`` makes from the live model
(the two routes must score identically). A case with a stage the importer does not
convert must be refused, naming the stage class, with nothing written.

The input schema is passed as ``--sample-schema`` (the test frame's JSON schema) when the test
frame has no vector column, else inferred by the importer.
"""

from __future__ import annotations

import math
import os
import sys

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

import keel.spark  # noqa: E402

# The stages the importer converts (importers/src/spark_ml/stages/mod.rs, SUPPORTED).
IMPORTED = {
    "VectorAssembler", "StringIndexerModel", "OneHotEncoderModel", "StandardScalerModel",
    "MinMaxScalerModel", "ImputerModel", "Bucketizer", "LogisticRegressionModel",
    "LinearRegressionModel", "DecisionTreeClassificationModel", "DecisionTreeRegressionModel",
    "RandomForestClassificationModel", "RandomForestRegressionModel", "GBTClassificationModel",
    "GBTRegressionModel",
    # RobustScaler, ElementwiseProduct and the fitted selectors.
    "RobustScalerModel", "ElementwiseProduct", "ChiSqSelectorModel", "UnivariateFeatureSelectorModel",
    "VarianceThresholdSelectorModel",
    # More scalers and vector stages, LinearSVC, NaiveBayes and KMeans.
    "MaxAbsScalerModel", "Binarizer", "Normalizer", "PolynomialExpansion", "IndexToString", "VectorSlicer",
    "PCAModel", "LinearSVCModel", "NaiveBayesModel", "KMeansModel",
    # GLM, MLP, FM and isotonic regression.
    "GeneralizedLinearRegressionModel", "MultilayerPerceptronClassificationModel",
    "FMClassificationModel", "FMRegressionModel", "IsotonicRegressionModel",
    # The text stages and VectorIndexerModel.
    "Tokenizer", "RegexTokenizer", "StopWordsRemover", "NGram", "HashingTF", "CountVectorizerModel",
    "IDFModel", "FeatureHasher", "Word2VecModel", "VectorIndexerModel",
}


@pytest.fixture(scope="module")
def spark():
    session = started_spark(start_spark)
    yield session
    session.stop()


def _score(keel_bin, bundle, tmp_path, rows, tag):
    fields = read_manifest(bundle)["inputs"]
    arrow_inputs(rows, fields, tmp_path / f"{tag}.in.arrow")
    out = tmp_path / f"{tag}.out.arrow"
    res = run_keel(keel_bin, "score", str(bundle), str(tmp_path / f"{tag}.in.arrow"), "-o", str(out))
    assert res.returncode == 0, res.stderr.decode()
    return pa.ipc.open_file(str(out)).read_all()


def _stage_classes(model) -> list[str]:
    from pyspark.ml import PipelineModel

    if isinstance(model, PipelineModel):
        return [c for s in model.stages for c in _stage_classes(s)]
    return [type(model).__name__]


def _has_vector(df) -> bool:
    from pyspark.ml.linalg import VectorUDT

    return any(isinstance(f.dataType, VectorUDT) for f in df.schema.fields)


def _num(v):
    if isinstance(v, list):
        return [_num(x) for x in v]
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(v, v) if isinstance(v, str) else v


def _same(a, b) -> bool:
    if any(isinstance(v, str) for v in [*a, *b]):
        # Labels (IndexToString): equal as written, a NULL on the same rows.
        return [None if isinstance(v, float) else v for v in a] == [None if isinstance(v, float) else v for v in b]
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


@pytest.mark.parametrize("name", sorted(CASES))
def test_saved_model_import(name, spark, tmp_path, keel_bin):
    model, test_df, tolerance, _ = CASES[name](spark)
    saved = tmp_path / "saved"
    model.write().overwrite().save(str(saved))
    imported = tmp_path / "imported.keel"
    args = ["convert", "--from", "spark-ml", str(saved), str(imported)]
    schema_given = not _has_vector(test_df)
    if schema_given:
        args += ["--sample-schema", test_df.schema.json()]
    res = run_keel(keel_bin, *args)

    unsupported = [c for c in _stage_classes(model) if c not in IMPORTED]
    if unsupported:
        assert res.returncode != 0
        err = res.stderr.decode()
        # A pipeline holding a Python-only stage (OneVsRestModel) is saved by PySpark's own
        # writer under the Python PipelineModel class; its stages are still checked one by
        # one, so the refusal names the inner stage (`pyspark.ml.classification.OneVsRestModel`).
        assert unsupported[0] in err and "not supported" in err, err
        assert not imported.exists()
        return
    assert res.returncode == 0, res.stderr.decode()

    exported = tmp_path / "exported.keel"
    keel.spark.export(model, exported, sample_df=test_df, name=name)
    m_exp, m_imp = read_manifest(exported), read_manifest(imported)
    outputs = [f["name"] for f in m_exp["outputs"]]
    if schema_given:
        assert m_imp["inputs"] == m_exp["inputs"]
        assert m_imp["outputs"] == m_exp["outputs"]
    else:
        assert set(outputs) <= {f["name"] for f in m_imp["outputs"]}
    inputs = sorted({f["name"] for f in m_exp["inputs"]} | {f["name"] for f in m_imp["inputs"]})
    rows = model.transform(test_df).select(*inputs, *outputs).collect()
    got_imp = _score(keel_bin, imported, tmp_path, rows, "imported")
    got_exp = _score(keel_bin, exported, tmp_path, rows, "exported")
    for col in outputs:
        want = [jsonable(r[col]) for r in rows]
        got = got_imp.column(col).to_pylist()
        assert [g is None for g in got] == [w is None for w in want], f"{name}.{col}: NULL rows differ"
        if {f["name"]: f["dtype"] for f in m_imp["outputs"]}.get(col) == "list<utf8>":
            # Token lists: equal to Spark's, element for element, and to the exporter's bundle.
            assert got == want, f"{name}.{col} (imported vs Spark)"
            assert got_exp.column(col).to_pylist() == got, f"{name}.{col}: imported and exported differ"
            continue
        assert_close(got, [_num(w) for w in want], tolerance[col], f"{name}.{col} (imported vs Spark)")
        # The saved-model route and the live exporter must give the same numbers.
        a = [math.nan if v is None else v for v in got]
        b = [math.nan if v is None else v for v in got_exp.column(col).to_pylist()]
        assert _same(a, b), f"{name}.{col}: imported and exported bundles score differently"


def test_unknown_stage_is_refused_naming_its_class(spark, tmp_path, keel_bin):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import DCT, VectorAssembler

    df = spark.createDataFrame([(float(i), float(i % 3)) for i in range(10)], ["a", "b"])
    model = Pipeline(
        stages=[VectorAssembler(inputCols=["a", "b"], outputCol="v"), DCT(inputCol="v", outputCol="s")]
    ).fit(df)
    model.write().overwrite().save(str(tmp_path / "saved"))
    res = run_keel(keel_bin, "convert", "--from", "spark-ml", str(tmp_path / "saved"), str(tmp_path / "o.keel"))
    assert res.returncode != 0
    err = res.stderr.decode()
    assert "org.apache.spark.ml.feature.DCT" in err and "stages[1]" in err, err
    assert not (tmp_path / "o.keel").exists()


def test_python_only_stage_is_refused_naming_it(spark, tmp_path, keel_bin):
    """A pipeline holding OneVsRestModel: the refusal names the inner stage, not the pipeline
    (importers/tests/spark_ml.rs covers the layout of PySpark's own pipeline writer)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression, OneVsRest
    from pyspark.ml.feature import VectorAssembler

    df = spark.createDataFrame([(float(i), float(i % 3), float(i % 3)) for i in range(30)], ["a", "b", "label"])
    model = Pipeline(stages=[
        VectorAssembler(inputCols=["a", "b"], outputCol="features"),
        OneVsRest(classifier=LogisticRegression(maxIter=5)),
    ]).fit(df)
    model.write().overwrite().save(str(tmp_path / "saved"))
    res = run_keel(keel_bin, "convert", "--from", "spark-ml", str(tmp_path / "saved"), str(tmp_path / "o.keel"))
    assert res.returncode != 0
    err = res.stderr.decode()
    # Depending on the PySpark version the stage is written by the JVM
    # (`org.apache.spark.ml.classification.OneVsRestModel`) or by PySpark
    # (`pyspark.ml.classification.OneVsRestModel`, inside a `pyspark.ml.pipeline.PipelineModel`).
    assert ".classification.OneVsRestModel" in err and "stages[1]" in err and "not supported" in err, err
    assert not (tmp_path / "o.keel").exists()
