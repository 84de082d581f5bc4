"""The SQL function: :func:`register_udf` registers a bundle as a vectorized Arrow UDF
(``SELECT price_model(struct(*)) FROM listings``), scored on the Python workers with the Python
engine's bundle cache and conversions; vectors are ``array<double>`` here, so SQL can index
them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keel
from keel.errors import ColumnTypeError, InputError
from keel.spark_runtime._arrow import _pa, _to_spark_arrow
from keel.spark_runtime._plan import _broadcast, _large_strings, _output_arrow_type, _output_spark_type, _read_bundle
from keel.spark_runtime._python_engine import _in_partition, _Inputs, _partition_id, _worker_bundle

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class _UdfPlan:
    sha: str
    source: Any
    outputs: tuple[str, ...]
    out_types: tuple[Any, ...]
    out_shapes: tuple[Any, ...]  # a tensor output's declared shape (None for other outputs)
    struct: bool  # several outputs: a struct of them; one: the value itself


def _score_struct(plan: _UdfPlan, rows: pa.Array) -> pa.Array:
    """The Arrow UDF: one struct argument (``struct(*)``: the columns by name) in, the
    outputs out."""
    pa = _pa()
    bundle = _worker_bundle(plan.sha, plan.source)
    if not pa.types.is_struct(rows.type):
        raise ColumnTypeError(
            f"the keel SQL function takes one struct of the input columns, e.g. f(struct(*)); got {rows.type}",
            expected="struct", found=str(rows.type),
        )
    n = len(rows)
    if n == 0:
        cols = [pa.array([], type=t) for t in plan.out_types]
    else:
        names = [rows.type.field(i).name for i in range(rows.type.num_fields)]
        batch = pa.RecordBatch.from_arrays(rows.flatten(), names=names)
        try:
            scored = bundle._model.transform_batch(_Inputs(bundle).batch(batch))
        except InputError as e:
            raise _in_partition(e, _partition_id(), 0) from None
        index = {f.name: i for i, f in enumerate(bundle.schema.outputs)}
        cols = [_to_spark_arrow(scored.column(index[o]), t, shape)
                for o, t, shape in zip(plan.outputs, plan.out_types, plan.out_shapes)]
    if not plan.struct:
        return cols[0]
    return pa.StructArray.from_arrays(cols, fields=[pa.field(o, t) for o, t in zip(plan.outputs, plan.out_types)])


class _UdfFunction:
    def __init__(self, plan: _UdfPlan):
        self.plan = plan

    def __call__(self, rows: pa.Array) -> pa.Array:
        return _score_struct(self.plan, rows)


def register_udf(spark: SparkSession, name: str, bundle: Any) -> Any:
    """Registers the SQL function `name` scoring `bundle` (a path on the driver, the bundle's
    bytes, or a ``keel.Bundle``) and returns it (usable from the DataFrame API too).

    The function takes one struct of the input columns, matched by field name:
    ``SELECT name(struct(*)) FROM listings`` (extra fields are ignored). It returns the single
    output's value when the bundle has one output (a regressor's ``prediction``: a double),
    and a struct of all outputs otherwise (a classifier: ``struct<label, probability>``, read
    with ``name(struct(*)).probability``). Vectors are ``array<double>`` here, not Spark ML
    vectors, so SQL can index them (``probability[1]``). It runs as a vectorized Arrow UDF:
    one runtime call per Arrow batch.
    """
    from pyspark.sql import types as T
    from pyspark.sql.functions import arrow_udf

    data = _read_bundle(bundle)
    b = keel.load(data, ignore_extra_columns=True)
    sha = hashlib.sha256(data).hexdigest()
    large = _large_strings(spark)
    outs = b.schema.outputs
    plan = _UdfPlan(
        sha=sha,
        source=_broadcast(spark, sha, data),
        outputs=tuple(f.name for f in outs),
        out_types=tuple(_output_arrow_type(f, "array", large) for f in outs),
        out_shapes=tuple(f.shape if f.is_tensor else None for f in outs),
        struct=len(outs) != 1,
    )
    if plan.struct:
        rtype: Any = T.StructType([T.StructField(f.name, _output_spark_type(f, "array"), True) for f in outs])
    else:
        rtype = _output_spark_type(outs[0], "array")
    pa = _pa()
    call = _UdfFunction(plan)

    def score(rows: pa.Array) -> pa.Array:
        return call(rows)

    # pyspark picks the UDF kind from the type hints (Array -> Array: scalar Arrow UDF); set
    # them as objects, since this module's annotations are strings.
    score.__annotations__ = {"rows": pa.Array, "return": pa.Array}
    score.__name__ = name
    return spark.udf.register(name, arrow_udf(score, rtype))
