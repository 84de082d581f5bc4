"""Scoring keel bundles inside Spark executors.

- :class:`KeelModel` is a PySpark ML ``Transformer``: ``KeelModel(path).transform(df)`` appends
  the bundle's outputs to ``df`` as typed Spark columns (a vector output becomes a Spark ML
  ``VectorUDT`` column, so Spark's evaluators read it), and it drops into a
  ``pyspark.ml.Pipeline`` and saves and loads with it (the bundle's bytes are saved with it).
- :func:`register_udf` registers a SQL function: ``SELECT price_model(struct(*)) FROM t``.

How a bundle is scored: the driver reads the bundle once, checks the DataFrame's schema
against the bundle's inputs (a missing column or a column of the wrong type raises a
``keel.InputError`` naming it, before any Spark job runs) and broadcasts the bundle's bytes.
Each Python worker loads (verifies and plans) the bundle the first time a task needs it and
keeps it in a module-level cache keyed by the bundle's sha256, so later tasks and later jobs
on that worker reuse it. Every Arrow record batch Spark hands to ``mapInArrow`` (or to the
Arrow UDF) goes through the Rust runtime as is: only the bundle's input columns are picked,
with lossless Arrow conversions where Spark's representation differs from the bundle's
(narrow integers widened, decimals to float64, ``VectorUDT`` structs and arrays to fixed-size
lists; an ``array<string>`` column is passed as the Arrow list of strings it is), and the
outputs are built in exactly the Arrow types Spark declared, because
``mapInArrow`` does no implicit casts.

A row the bundle refuses fails its task with keel's own exception (class, column, row within
the Arrow batch, value), followed by where the row sits in the Spark partition; Spark shows
that text in the driver's exception.

Both work on streaming DataFrames as they are. With ``refreshInterval`` a running stream
scores its next micro-batches with a new bundle file once the driver has checked it, each
micro-batch with exactly one version (also when replayed from a checkpoint); the protocol is
``_versions``.

Where each part lives:

- ``_model``: :class:`KeelModel` and its params;
- ``_plan``: the driver-side plan both engines share (schema check, Spark and Arrow output
  types, the bundle's bytes and their broadcast);
- ``_python_engine``: the ``mapInArrow`` engine and the workers' bundle cache;
- ``_jvm_engine``: the engine inside the executor JVMs (``keel-spark.jar``);
- ``_arrow``: the Python engine's Arrow conversions between Spark and the runtime (the JVM
  engine's are its Rust codec, ``jvm/src/codec.rs``);
- ``_sql``: :func:`register_udf`;
- ``_persistence``: saving and loading a ``KeelModel``;
- ``_versions``: model versions in a running stream (the driver's refresher, the version
  store, which version a task of a micro-batch scores with).

This package needs pyspark (4.x), pyarrow and keel's native module; nothing else in keel
imports it, so ``keel.sklearn`` and ``keel.load`` work without Spark.
"""

from keel.spark_runtime._arrow import vector_arrow_type
from keel.spark_runtime._jvm_engine import jvm_engine_available
from keel.spark_runtime._model import KeelModel
from keel.spark_runtime._python_engine import LOAD_LOG_ENV
from keel.spark_runtime._sql import register_udf
from keel.spark_runtime._versions import BundleRefreshWarning

__all__ = ["KeelModel", "register_udf", "jvm_engine_available", "LOAD_LOG_ENV", "BundleRefreshWarning"]
