"""Refusals of the Spark predictor converters (keel/spark/_linear.py, _models.py): every
parameter value the runtime cannot reproduce (in OneVsRest, empty output columns, a GLM offset)
is refused with keel.UnsupportedError naming it and the stage path, and nothing is written.
Parity of what is supported is checked by test_spark_live.py over fixtures/spark_cases/."""

from __future__ import annotations

import os

import pytest

pyspark = pytest.importorskip("pyspark")

from test_spark_live import spark  # noqa: E402,F401  (the module-scoped Spark session)

import keel  # noqa: E402
import keel.spark  # noqa: E402


def _iris(spark):
    from sklearn.datasets import load_iris

    from spark_cases._data import sk_dataset

    frames, features = sk_dataset(load_iris)
    train, test = frames.split(spark, 3)
    return train, test.drop("label"), features


def _refused(model, sample_df, tmp_path, *needles):
    path = tmp_path / "refused.keel"
    with pytest.raises(keel.UnsupportedError) as e:
        keel.spark.export(model, path, sample_df=sample_df)
    for n in needles:
        assert n in str(e.value), str(e.value)
    assert not path.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".keel-")]
    return e.value


def _assembled(features, predictor):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import VectorAssembler

    return Pipeline(stages=[VectorAssembler(inputCols=features, outputCol="features"), predictor])


def test_one_vs_rest_refusals(spark, tmp_path):
    from pyspark.ml.classification import DecisionTreeClassifier, LogisticRegression, OneVsRest

    train, test, features = _iris(spark)
    model = _assembled(features, OneVsRest(classifier=LogisticRegression(maxIter=20))).fit(train)
    ovr = model.stages[-1]
    # Without a raw column PySpark has nothing to select from each classifier.
    ovr.setRawPredictionCol("")
    _refused(model, test, tmp_path, "rawPredictionCol=''", "stages[1]")
    # A classifier whose raw column is not the one OneVsRest reads.
    ovr.setRawPredictionCol("scores")
    _refused(model, test, tmp_path, "rawPredictionCol `rawPrediction`", "models[0]")
    # A refusal of a binary classifier names its place inside OneVsRest.
    trees = _assembled(features, OneVsRest(classifier=DecisionTreeClassifier(maxDepth=2, leafCol="leaf"))).fit(train)
    _refused(trees, test, tmp_path, "leafCol", "stages[1].models[0]")


def test_empty_output_columns_are_refused(spark, tmp_path):
    from pyspark.ml.classification import MultilayerPerceptronClassifier
    from pyspark.ml.regression import GeneralizedLinearRegression, IsotonicRegression

    train, test, features = _iris(spark)
    mlp = _assembled(features, MultilayerPerceptronClassifier(layers=[4, 3], maxIter=10, seed=1)).fit(train)
    mlp.stages[-1].setRawPredictionCol("")
    _refused(mlp, test, tmp_path, "rawPredictionCol=''")
    glr = _assembled(features, GeneralizedLinearRegression(maxIter=5)).fit(train)
    glr.stages[-1].setPredictionCol("")
    _refused(glr, test, tmp_path, "no output column")
    iso = IsotonicRegression(featuresCol="sepal_length").fit(train)
    iso.setPredictionCol("")
    _refused(iso, test, tmp_path, "no output column")


def test_glm_offset_must_be_a_numeric_scalar(spark, tmp_path):
    from pyspark.ml.regression import GeneralizedLinearRegression

    train, test, features = _iris(spark)
    glr = _assembled(features[:3], GeneralizedLinearRegression(offsetCol="petal_width", maxIter=5)).fit(train)
    # The offset column typed as a string at scoring time (Spark would fail its cast too).
    bad = test.withColumn("petal_width", test["petal_width"].cast("string"))
    _refused(glr, bad, tmp_path, "offsetCol `petal_width`")
