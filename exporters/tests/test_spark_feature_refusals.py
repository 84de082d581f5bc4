"""Refusals of the Spark feature converters whose answer can depend on vector storage or on
ML attributes (RobustScalerModel and ElementwiseProduct in keel/spark/_scalers.py, the fitted
selectors in _selectors.py, VectorIndexerModel in _categorical.py, Interaction in _feature.py)
and of QuantileDiscretizer's fitted Bucketizer, against real Spark: each parameter value keel cannot reproduce exactly is
named, with the stage path, and nothing is written. Where Spark itself fails (a vector without
ML attributes into Interaction) that is checked too.

Uses the module-scoped SparkSession fixture of test_spark_live.py.
"""

from __future__ import annotations

import pytest

pyspark = pytest.importorskip("pyspark")

from test_spark_live import _mixed, _refused, spark  # noqa: E402,F401  (spark is a fixture)


def _vectors(spark, rows, name="v"):
    from pyspark.ml.linalg import Vectors

    return spark.createDataFrame([(Vectors.dense(r), float(i % 2)) for i, r in enumerate(rows)], [name, "label"])


def test_robust_scaler_with_a_range_whose_inverse_overflows(spark, tmp_path):
    from pyspark.ml.feature import RobustScaler

    # Quartiles 0 and 5e-324: range 5e-324, 1/range = inf.
    df = _vectors(spark, [[0.0, 1.0], [5e-324, 2.0]] * 20)
    model = RobustScaler(inputCol="v", outputCol="r").fit(df)
    assert 1.0 / float(model.range.toArray()[0]) == float("inf")
    _refused(model, df.drop("label"), tmp_path, "1/range overflows", "RobustScalerModel")
    # Without scaling the range does not matter.
    model = RobustScaler(inputCol="v", outputCol="r", withScaling=False, withCentering=True).fit(df)
    import keel.spark

    keel.spark.export(model, tmp_path / "ok.keel", sample_df=df.drop("label"))


def test_elementwise_product_width_and_non_finite_weights(spark, tmp_path):
    from pyspark.ml.feature import ElementwiseProduct
    from pyspark.ml.linalg import Vectors

    df = _vectors(spark, [[1.0, 2.0, 3.0]] * 3).drop("label")
    short = ElementwiseProduct(inputCol="v", outputCol="e", scalingVec=Vectors.dense([1.0, 2.0]))
    _refused(short, df, tmp_path, "scalingVec has 2 values", "has 3 features", "ElementwiseProduct")
    inf = ElementwiseProduct(inputCol="v", outputCol="e", scalingVec=Vectors.dense([1.0, float("inf"), 2.0]))
    _refused(inf, df, tmp_path, "non-finite")


def test_selector_that_selects_nothing(spark, tmp_path):
    from pyspark.ml.feature import VarianceThresholdSelector

    df = _vectors(spark, [[1.0, 2.0], [1.5, 2.5], [1.2, 2.1]])
    model = VarianceThresholdSelector(featuresCol="v", outputCol="s", varianceThreshold=1e6).fit(df)
    assert list(model.selectedFeatures) == []
    _refused(model, df.drop("label"), tmp_path, "selected no feature", "VarianceThresholdSelectorModel")


def test_vector_indexer_skip(spark, tmp_path):
    from pyspark.ml.feature import VectorIndexer

    df = _vectors(spark, [[0.0, 1.0], [1.0, 2.0], [2.0, 1.0]] * 4)
    skip = VectorIndexer(inputCol="v", outputCol="i", handleInvalid="skip").fit(df)
    _refused(skip, df.drop("label"), tmp_path, "handleInvalid='skip'", "VectorIndexerModel")


def test_vector_indexer_nan_category_and_storage_dependent_zero(spark, tmp_path, keel_bin):
    """Spark fits NaN as a category but its lookup never finds it (NaN is unknown: `keep` gives
    the map's size, NaN entry included); keel reproduces that. A zero on a feature whose
    categories lack 0 is kept as 0 by Spark in a sparse vector and is invalid in a dense one:
    keel refuses that row rather than guess."""
    from pyspark.ml.feature import VectorIndexer
    from pyspark.ml.linalg import Vectors

    from spark_testing import read_manifest
    from test_spark_live import _score

    nan = _vectors(spark, [[0.0, float("nan")], [1.0, 2.0], [2.0, 1.0]] * 4).drop("label")
    model = VectorIndexer(inputCol="v", outputCol="i", handleInvalid="keep").fit(nan)
    assert any(v != v for v in model.categoryMaps[1])
    import keel.spark

    bundle = tmp_path / "m.keel"
    keel.spark.export(model, bundle, sample_df=nan)
    rows = model.transform(nan).collect()
    res, table = _score(keel_bin, bundle, tmp_path, rows, read_manifest(bundle)["inputs"])
    assert res.returncode == 0, res.stderr.decode()
    assert table.column("i").to_pylist() == [list(r["i"].toArray()) for r in rows]

    no_zero = spark.createDataFrame([(Vectors.dense([1.0, 5.0]),), (Vectors.dense([2.0, 6.0]),)] * 3, ["v"])
    model = VectorIndexer(inputCol="v", outputCol="i", handleInvalid="keep", maxCategories=3).fit(no_zero)
    both = spark.createDataFrame([(Vectors.dense([0.0, 5.0]),), (Vectors.sparse(2, [1], [5.0]),)], ["v"])
    dense, sparse = [list(r["i"].toArray()) for r in model.transform(both).collect()]
    assert dense[0] == 2.0 and sparse[0] == 0.0  # Spark: the answer depends on storage
    bundle = tmp_path / "no_zero.keel"
    keel.spark.export(model, bundle, sample_df=both)
    res, _ = _score(keel_bin, bundle, tmp_path, both.collect(), read_manifest(bundle)["inputs"])
    assert res.returncode != 0 and "sparse" in res.stderr.decode(), res.stderr.decode()


def test_quantile_discretizer_skip_is_refused(spark, tmp_path):
    from pyspark.ml.feature import QuantileDiscretizer

    train, test = _mixed(spark)
    qd = QuantileDiscretizer(inputCol="age", outputCol="a", numBuckets=3, handleInvalid="skip").fit(train)
    _refused(qd, test, tmp_path, "handleInvalid='skip'", "Bucketizer")


def test_interaction_over_nominal_vectors_and_vectors_without_attributes(spark, tmp_path):
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import Interaction, StringIndexer, VectorAssembler
    from py4j.protocol import Py4JJavaError
    from pyspark.errors import PySparkException

    train, test = _mixed(spark)
    # A vector holding a nominal feature (a StringIndexer output assembled into it).
    nominal = Pipeline(
        stages=[
            StringIndexer(inputCol="room", outputCol="room_idx"),
            VectorAssembler(inputCols=["room_idx", "age"], outputCol="va"),
            Interaction(inputCols=["age", "va"], outputCol="x"),
        ]
    ).fit(train)
    _refused(nominal, test, tmp_path, "holds nominal features", "stages[2]")
    # A vector column without ML attributes: Spark fails too.
    df = _vectors(spark, [[1.0, 2.0]] * 3)
    inter = Interaction(inputCols=["label", "v"], outputCol="x")
    with pytest.raises((PySparkException, Py4JJavaError, Exception)):
        inter.transform(df).collect()
    _refused(inter, df, tmp_path, "Interaction")


def test_interaction_refuses_rows_whose_answer_depends_on_vector_storage(spark, tmp_path, keel_bin):
    """A NaN scalar times a zero of an assembled vector: Spark gives NaN where it stored the
    vector densely and 0 where sparsely (it multiplies stored values only). The bundle scores
    the other rows like Spark and refuses that one, naming it."""
    from pyspark.ml import Pipeline
    from pyspark.ml.feature import Interaction, VectorAssembler

    import keel.spark
    from spark_testing import read_manifest
    from test_spark_live import _score

    nan = float("nan")
    df = spark.createDataFrame([(2.0, 0.0, 1.0), (3.0, 4.0, 5.0), (nan, 0.0, 1.0)], ["x", "a", "b"])
    model = Pipeline(
        stages=[
            VectorAssembler(inputCols=["a", "b"], outputCol="va"),
            Interaction(inputCols=["x", "va"], outputCol="i"),
        ]
    ).fit(df)
    rows = model.transform(df).collect()
    bundle = tmp_path / "m.keel"
    keel.spark.export(model, bundle, sample_df=df, outputs=["i"])
    fields = read_manifest(bundle)["inputs"]
    res, table = _score(keel_bin, bundle, tmp_path, rows[:2], fields)
    assert res.returncode == 0, res.stderr.decode()
    assert table.column("i").to_pylist() == [list(r["i"].toArray()) for r in rows[:2]]
    res, _ = _score(keel_bin, bundle, tmp_path, rows, fields)
    err = res.stderr.decode()
    assert res.returncode != 0 and "row 2" in err and "stored" in err, err
