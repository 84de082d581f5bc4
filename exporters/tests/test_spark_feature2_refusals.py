"""The refusals of the converters in keel/spark/_feature2.py (RobustScalerModel,
ElementwiseProduct, the selectors, VectorIndexerModel, Interaction) and of QuantileDiscretizer's
fitted Bucketizer, against real Spark: each parameter value keel cannot reproduce exactly is
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
    assert 1.0 / model.range.toArray()[0] == float("inf")
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


def test_vector_indexer_skip_and_nan_category(spark, tmp_path):
    from pyspark.ml.feature import VectorIndexer

    df = _vectors(spark, [[0.0, 1.0], [1.0, 2.0], [2.0, 1.0]] * 4)
    skip = VectorIndexer(inputCol="v", outputCol="i", handleInvalid="skip").fit(df)
    _refused(skip, df.drop("label"), tmp_path, "handleInvalid='skip'", "VectorIndexerModel")
    nan = _vectors(spark, [[0.0, float("nan")], [1.0, 2.0], [2.0, 1.0]] * 4)
    model = VectorIndexer(inputCol="v", outputCol="i", handleInvalid="keep").fit(nan)
    if any(v != v for v in model.categoryMaps.get(1, {})):
        _refused(model, nan.drop("label"), tmp_path, "NaN as a category")


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
