"""The SQL function: :func:`register_udf` registers a bundle as a vectorized Arrow UDF
(``SELECT price_model(struct(*)) FROM listings``), scored on the Python workers with the Python
engine's bundle cache and conversions; vectors are ``array<double>`` here, so SQL can index
them. With ``refreshInterval`` a running stream picks up a new bundle file between
micro-batches, as :class:`~keel.spark_runtime.KeelModel` does (``_versions``)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keel
from keel._api import _declared
from keel.errors import ColumnTypeError, InputError
from keel.spark_runtime._arrow import _pa, _to_spark_arrow
from keel.spark_runtime._plan import _broadcast, _large_strings, _output_arrow_type, _output_spark_type, _read_bundle
from keel.spark_runtime import _versions
from keel.spark_runtime._python_engine import Versions, _in_partition, _Inputs, _partition_id

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class _UdfPlan:
    versions: Versions
    outputs: tuple[str, ...]
    out_types: tuple[Any, ...]
    out_shapes: tuple[Any, ...]  # a tensor output's declared shape (None for other outputs)
    struct: bool  # several outputs (or a version field): a struct of them; one: the value itself
    version_field: str | None = None  # the struct field receiving the scoring bundle's uid
    version_type: Any = None


def _score_struct(plan: _UdfPlan, rows: pa.Array) -> pa.Array:
    """The Arrow UDF: one struct argument (``struct(*)``: the columns by name) in, the
    outputs out."""
    pa = _pa()
    bundle, uid = plan.versions.task_bundle()
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
    fields = [pa.field(o, t) for o, t in zip(plan.outputs, plan.out_types)]
    if plan.version_field is not None:
        cols.append(pa.array([uid] * n, type=plan.version_type))
        fields.append(pa.field(plan.version_field, plan.version_type))
    return pa.StructArray.from_arrays(cols, fields=fields)


class _UdfFunction:
    def __init__(self, plan: _UdfPlan):
        self.plan = plan

    def __call__(self, rows: pa.Array) -> pa.Array:
        return _score_struct(self.plan, rows)


def register_udf(spark: SparkSession, name: str, bundle: Any, *, refreshInterval: float = 0,
                 versionDir: str | None = None, versionField: str | None = None) -> Any:
    """Registers the SQL function `name` scoring `bundle` (a path on the driver, the bundle's
    bytes, or a ``keel.Bundle``) and returns it (usable from the DataFrame API too).

    The function takes one struct of the input columns, matched by field name:
    ``SELECT name(struct(*)) FROM listings`` (extra fields are ignored). It returns the single
    output's value when the bundle has one output (a regressor's ``prediction``: a double),
    and a struct of all outputs otherwise (a classifier: ``struct<label, probability>``, read
    with ``name(struct(*)).probability``). Vectors are ``array<double>`` here, not Spark ML
    vectors, so SQL can index them (``probability[1]``). It runs as a vectorized Arrow UDF:
    one runtime call per Arrow batch.

    ``refreshInterval`` (seconds; `bundle` a path): in a streaming query, a new file at the
    path scores the next micro-batches once it loads, reads no input the first version did
    not (with the same types) and gives the same outputs; each micro-batch is scored by one
    version, and a replayed one by the version that scored it first (``versionDir``: the
    version store, as for ``KeelModel``). ``versionField``: the function returns a struct
    with this extra string field, the scoring bundle's manifest uid.
    """
    from pyspark.sql import types as T
    from pyspark.sql.functions import arrow_udf

    if refreshInterval < 0:
        raise ValueError(f"register_udf: refreshInterval {refreshInterval} is negative (0: never refresh)")
    if refreshInterval > 0 and not isinstance(bundle, (str, os.PathLike)):
        raise ValueError("register_udf: refreshInterval needs the bundle's path, to look for new versions there")
    data = _read_bundle(bundle)
    b = keel.load(data, ignore_extra_columns=True)
    sha = hashlib.sha256(data).hexdigest()
    uid = str(b.manifest.get("uid") or sha)
    large = _large_strings(spark)
    outs = b.schema.outputs
    versions = Versions(sha=sha, uid=uid, source=_broadcast(spark, sha, data))
    if refreshInterval > 0:
        versions = _start_refresh(spark, name, os.fspath(bundle), b, versions, data, refreshInterval, versionDir)
    plan = _UdfPlan(
        versions=versions,
        outputs=tuple(f.name for f in outs),
        out_types=tuple(_output_arrow_type(f, "array", large) for f in outs),
        out_shapes=tuple(f.shape if f.is_tensor else None for f in outs),
        struct=len(outs) != 1 or versionField is not None,
        version_field=versionField,
        version_type=_pa().large_string() if large else _pa().string(),
    )
    if plan.struct:
        rtype: Any = T.StructType([T.StructField(f.name, _output_spark_type(f, "array"), True) for f in outs])
        if versionField is not None:
            rtype.add(versionField, T.StringType(), True)
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


def _start_refresh(spark: SparkSession, name: str, path: str, first: keel.Bundle, versions: Versions, data: bytes,
                   interval: float, store: str | None) -> Versions:
    """Starts the driver's refresher for SQL function `name` (``_versions``). The function
    knows no frame schema, so a new version must read only inputs the first one read, with
    the same types, and give the same outputs."""
    inputs = {f.name: _declared(f) for f in first.schema.inputs}
    outputs = [(f.name, _output_spark_type(f, "array").json()) for f in first.schema.outputs]
    store = store or _versions.default_store(path)
    plan = _versions.plan_key(f"register_udf:{name}", path, {"outputs": outputs})

    def check(new: keel.Bundle) -> None:
        for f in new.schema.inputs:
            if f.name not in inputs:
                raise ValueError(f"it reads input `{f.name}`, which the first version did not")
            if _declared(f) != inputs[f.name]:
                raise ValueError(f"its input `{f.name}` is {_declared(f)}, not {inputs[f.name]}")
        got = [(f.name, _output_spark_type(f, "array").json()) for f in new.schema.outputs]
        if got != outputs:
            raise ValueError("its outputs differ from the first version's, which the SQL function returns")

    _versions.start(spark, store, plan, path, interval, versions.sha, versions.uid, data, check)
    return Versions(sha=versions.sha, uid=versions.uid, source=versions.source, store=store, plan=plan)
