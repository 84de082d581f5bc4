"""The JVM engine: scoring in the executor JVMs through keel's JNI library, with no Python
worker (``keel-spark.jar``, built by ``jvm/build.sh``, in ``spark.jars``).

The driver-side plan is the Python engine's (``_plan``: the same schema check, output types and
errors). ``dev.keel.spark.KeelArrow`` (``jvm/java``) turns each partition into Arrow IPC
messages with Spark's own ``ArrowConverters`` and hands them to the Rust codec
(``jvm/src/codec.rs``), which picks the bundle's inputs, scores, and encodes the outputs in
Spark's layout. Inputs Spark represents differently from the runtime (a ``VectorUDT``, a
decimal, an array of another number) are converted here by Spark expressions into extra
columns that the codec reads and drops.

A streaming DataFrame cannot be turned into an RDD at ``transform`` time, so there the
partition function runs inside the query's own plan (``Dataset.mapPartitions``, through
``dev.keel.spark.KeelStream``), converting rows to Spark's internal form and back around the
same Arrow path; its tasks find their micro-batch's version in the version store
(``_versions``) as the Python engine's do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import keel
from keel.spark_runtime._plan import _large_strings, _quote, _sources

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from keel.spark_runtime._python_engine import Versions


def jvm_engine_available(spark: SparkSession) -> bool:
    """Whether keel's JVM engine (``keel-spark.jar``) is on the driver's class path."""
    try:
        return bool(spark._jvm.dev.keel.spark.KeelArrow.available())  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - py4j raises several kinds for a missing class; Connect has no _jvm
        return False


def _use_jvm(spark: SparkSession, engine: str) -> bool:
    if engine == "python":
        return False
    available = jvm_engine_available(spark)
    if engine == "jvm" and not available:
        raise RuntimeError(
            "KeelModel(engine='jvm'): keel's JVM engine is not on the driver's class path; build "
            "keel-spark.jar with jvm/build.sh and start Spark with spark.jars set to it"
        )
    return available


def _with_leaf(dt: Any, leaf: Any) -> Any:
    """Spark type `dt` (arrays nested to any depth) with its innermost element type `leaf`."""
    from pyspark.sql import types as T

    if isinstance(dt, T.ArrayType):
        return T.ArrayType(_with_leaf(dt.elementType, leaf), dt.containsNull)
    return leaf


def _transform_jvm(frame: DataFrame, bundle: keel.Bundle, data: bytes, versions: Versions, outputs: list[str],
                   keep_inputs: bool, out_schema: Any, version_col: str | None = None) -> DataFrame:
    """Scores `frame` in the executor JVMs (``dev.keel.spark.KeelArrow``): the frame's columns
    are kept (``keepInputs``) and the bundle's inputs are read from them, or, where Spark's
    type is not one the runtime reads (a ``VectorUDT``, a decimal, an array of another number
    for a vector input, an array of decimals for a tensor input), from a converted copy
    appended to the frame, dropped again by the native side."""
    import json

    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import DataFrame as SparkDataFrame
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    fields = frame.schema.fields
    positions = {}
    for i, f in enumerate(fields):
        positions.setdefault(f.name, i)
    extra = []
    inputs = []
    for f, (name, field) in zip(bundle.schema.inputs, _sources(bundle, frame.schema)):
        i = positions[name]
        dt = fields[i].dataType
        col = F.col(_quote(name))
        converted = None
        if field is not None:
            # A struct's field (Spark's image struct: `image.data`...): a column of its own
            # for the codec, which reads top-level columns only. getField keeps the struct's
            # nulls (a null image is a null `data`).
            dt = dt[field].dataType
            col = col.getField(field)
            converted = col
        if isinstance(dt, T.UserDefinedType):
            converted = vector_to_array(col)
        elif f.is_tensor:
            # The runtime reads (nested) arrays of any integer or float type itself, converting
            # to the tensor's dtype; only decimals, which it does not read, become doubles.
            leaf = dt
            while isinstance(leaf, T.ArrayType):
                leaf = leaf.elementType
            if isinstance(leaf, T.DecimalType):
                converted = col.cast(_with_leaf(dt, T.DoubleType()))
        elif isinstance(dt, T.ArrayType) and isinstance(dt.elementType, T.NumericType) \
                and not isinstance(dt.elementType, T.DoubleType):
            converted = col.cast(T.ArrayType(T.DoubleType()))
        elif isinstance(dt, T.DecimalType):
            converted = col.cast(T.DoubleType())
        if converted is None:
            inputs.append(i)
        else:
            inputs.append(len(fields) + len(extra))
            extra.append(converted.alias(f"__keel_input_{len(extra)}"))
    keep = len(fields) if keep_inputs else 0
    if extra:
        frame = frame.select(*[frame[i] for i in range(len(fields))], *extra)  # type: ignore[index]
    spec = json.dumps({
        "keep": keep,
        "inputs": inputs,
        "outputs": outputs,
        "large_strings": _large_strings(frame.sparkSession),
    })
    spark = frame.sparkSession
    jvm = spark._jvm  # type: ignore[union-attr]
    # The codec writes the bundle's outputs; the version column is the engine's own.
    scored_schema = T.StructType([f for f in out_schema.fields if f.name != version_col]) if version_col \
        else out_schema
    if frame.isStreaming:
        jdf = jvm.dev.keel.spark.KeelStream.transform(
            frame._jdf, bytearray(data), versions.sha, versions.uid, spec, scored_schema.json(),
            versions.store, versions.plan, version_col)
        # Spark's row encoder keeps the types but not the columns' metadata (a vector's
        # `ml_attr`, which Spark's evaluators read): put it back.
        scored = SparkDataFrame(jdf, spark)
        return scored.select(*[F.col(_quote(f.name)).alias(f.name, metadata=f.metadata) for f in out_schema.fields])
    jdf = jvm.dev.keel.spark.KeelArrow.transform(frame._jdf, bytearray(data), versions.sha, spec,
                                                 scored_schema.json())
    scored = SparkDataFrame(jdf, spark)
    if version_col:
        # A batch job is scored by the version transform read.
        scored = scored.withColumn(version_col, F.lit(versions.uid))
    return scored
