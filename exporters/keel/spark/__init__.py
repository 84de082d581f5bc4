"""Export fitted Spark ML pipelines to keel bundles.

    import keel.spark
    keel.spark.export(pipeline_model, "model.keel", sample_df=test_df.drop("label"))

The bundle reproduces ``pipeline_model.transform`` with Spark's own arithmetic (see the
``spark.*`` ops in runtime/docs/ops.md) and Spark's column names: a classifier writes
``prediction`` (the class index, a double), ``probability`` and ``rawPrediction`` (vectors).
See :func:`export` for which columns become the bundle's inputs and outputs. Anything the
runtime cannot reproduce exactly is refused with :class:`keel.UnsupportedError` before
anything is written.

Scoring inside Spark: :class:`KeelModel` (a ``pyspark.ml`` Transformer scoring through
``mapInArrow``) and :func:`register_udf` (a SQL function), from :mod:`keel.spark_runtime`.

Training on Spark: :class:`KeelNetEstimator` fits feature stages and a tabular network
together (one statistics pass, one barrier job over keel's ring allreduce) and returns a
``KeelModel`` over the trained bundle.

Importing this module needs ``pyspark``; exporting trees needs the active SparkContext.
"""

# Importing the converter modules registers their converters.
from keel.spark import _categorical, _feature, _linear, _models, _scalers, _selectors, _text, _trees  # noqa: F401
from keel.spark._core import export, supported_stages
from keel.spark._estimator import KeelNetEstimator
from keel.spark_runtime import KeelModel, register_udf

__all__ = ["KeelModel", "KeelNetEstimator", "export", "register_udf", "supported_stages"]
