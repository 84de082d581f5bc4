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

This module needs pyspark (4.x), pyarrow and keel's native module; nothing else in keel
imports it, so ``keel.sklearn`` and ``keel.load`` work without Spark.
"""

from __future__ import annotations

import collections
import hashlib
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional

from pyspark.ml import Transformer
from pyspark.ml.param import Param, Params, TypeConverters
from pyspark.ml.util import DefaultParamsReader, DefaultParamsWriter, MLReadable, MLReader, MLWritable, MLWriter

import keel
from keel._api import Field
from keel.errors import BadValueError, ColumnTypeError, InputError, MissingColumnError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructField

__all__ = ["KeelModel", "register_udf", "jvm_engine_available", "LOAD_LOG_ENV"]

#: When this environment variable names a file, every Python worker appends one line
#: ``<pid> <sha256> <seconds>`` to it each time it loads a bundle (diagnostics: it shows that
#: a worker loads a bundle once and reuses it across tasks). Set it for the executors, e.g.
#: ``spark.executorEnv.KEEL_SPARK_LOAD_LOG``.
LOAD_LOG_ENV = "KEEL_SPARK_LOAD_LOG"

# The Arrow layout of Spark ML's VectorUDT (its sqlType, as Spark writes it to Arrow):
# struct<type: byte not null, size: int, indices: array<int not null>, values: array<double
# not null>>; type 1 is dense (size and indices null), 0 is sparse.
_VECTOR_FIELDS = ("type", "size", "indices", "values")


def _pa():
    import pyarrow

    return pyarrow


def vector_arrow_type() -> pa.DataType:
    """The Arrow type Spark uses for a ``pyspark.ml.linalg.VectorUDT`` column."""
    pa = _pa()
    return pa.struct(
        [
            pa.field("type", pa.int8(), nullable=False),
            pa.field("size", pa.int32()),
            pa.field("indices", pa.list_(pa.field("element", pa.int32(), nullable=False))),
            pa.field("values", pa.list_(pa.field("element", pa.float64(), nullable=False))),
        ]
    )


def _double_array_type() -> pa.DataType:
    """Arrow type of Spark's ``array<double>`` with non-null elements (SQL UDF vectors)."""
    pa = _pa()
    return pa.list_(pa.field("element", pa.float64(), nullable=False))


# --- worker side: the bundle cache -------------------------------------------------------

# sha256 -> Bundle, most recently used last. A Python worker serves many tasks (Spark reuses
# workers), so the bundle is read and planned once per worker, not once per task or batch.
_CACHE_SIZE = 8
_BUNDLES: collections.OrderedDict[str, keel.Bundle] = collections.OrderedDict()
_LOCK = threading.Lock()


def _worker_bundle(sha: str, source: Any) -> keel.Bundle:
    """The planned bundle `sha` in this process; `source` is a Spark Broadcast of its bytes
    (or the bytes themselves), read only on the first use."""
    with _LOCK:
        bundle = _BUNDLES.get(sha)
        if bundle is not None:
            _BUNDLES.move_to_end(sha)
            return bundle
        t = time.perf_counter()
        data = source if isinstance(source, (bytes, bytearray)) else source.value
        bundle = keel.load(data, ignore_extra_columns=True)
        _BUNDLES[sha] = bundle
        while len(_BUNDLES) > _CACHE_SIZE:
            _BUNDLES.popitem(last=False)
        log = os.environ.get(LOAD_LOG_ENV)
        if log:
            with open(log, "a") as f:
                f.write(f"{os.getpid()} {sha} {time.perf_counter() - t:.6f}\n")
        return bundle


# --- input conversion: Spark's Arrow -> the bundle's Arrow --------------------------------


def _declared(f: Field) -> str:
    return f"{f.dtype}[{f.shape[0]}]" if f.is_vector else f.dtype


def _is_vector_struct(t: pa.DataType) -> bool:
    pa = _pa()
    return pa.types.is_struct(t) and tuple(t.field(i).name for i in range(t.num_fields)) == _VECTOR_FIELDS


def _is_list(t: pa.DataType) -> bool:
    pa = _pa()
    return pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)


def _is_number(t: pa.DataType) -> bool:
    pa = _pa()
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _is_string(t: pa.DataType) -> bool:
    pa = _pa()
    return pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t)


Converter = Optional[Callable[["pa.Array"], "pa.Array"]]


def _input_converter(f: Field, t: pa.DataType, found: str | None = None) -> Converter:
    """How to turn a column of Arrow type `t` into what the runtime takes for input `f`:
    ``None`` passes it as is, else a function; raises ``ColumnTypeError`` when no lossless
    conversion exists. `found` names the column's type in the error (its Spark type, on the
    driver)."""
    pa = _pa()
    if f.is_vector:
        width = f.shape[0]
        if _is_vector_struct(t):
            return lambda a: _vector_struct_to_fixed(a, width, f.name)
        if _is_list(t) and _is_number(t.value_type):
            return lambda a: _list_to_fixed(a, width, f.name)
    elif f.dtype in ("f64", "f32"):
        if t in (pa.float64(), pa.float32(), pa.int64(), pa.int32()):
            return None
        if _is_number(t):
            return lambda a: a.cast(pa.float64())
    elif f.dtype in ("i64", "i32"):
        if t in (pa.int64(), pa.int32()):
            return None
        if pa.types.is_integer(t) and t.bit_width < 64:
            return lambda a: a.cast(pa.int64())
    elif f.dtype == "bool":
        if pa.types.is_boolean(t):
            return None
    elif f.dtype == "utf8":
        if _is_string(t):
            return None
    elif f.dtype == "list<utf8>":
        # The runtime takes List or LargeList of any Arrow string type as it is.
        if (pa.types.is_list(t) or pa.types.is_large_list(t)) and _is_string(t.value_type):
            return None
    found = found or str(t)
    raise ColumnTypeError(
        f"input column `{f.name}`: expected {_declared(f)}, found {found}",
        column=f.name, expected=_declared(f), found=found,
    )


def _fixed(values: pa.Array, width: int, valid: Any) -> pa.Array:
    """A FixedSizeList<f64>[width] from `width` values per row; `valid` (numpy bool, or None
    when every row is valid) marks the non-null rows."""
    pa = _pa()
    import numpy as np

    typ = pa.list_(pa.field("item", pa.float64()), width)
    if valid is None or bool(np.all(valid)):
        return pa.FixedSizeListArray.from_arrays(values, type=typ)
    return pa.FixedSizeListArray.from_arrays(values, type=typ, mask=pa.array(~valid))


def _row_values(offsets: Any, values: Any, rows: Any, width: int) -> Any:
    """Gathers `width` values starting at `offsets[rows]` from `values` (numpy)."""
    import numpy as np

    idx = offsets[rows][:, None] + np.arange(width)[None, :]
    return values[idx]


def _list_to_fixed(a: pa.Array, width: int, name: str) -> pa.Array:
    """An Arrow list column (Spark ``array<double>``) as a fixed-size list of `width` f64."""
    pa = _pa()
    import numpy as np

    if pa.types.is_fixed_size_list(a.type):
        if a.type.list_size != width:
            raise BadValueError(
                f"row 0, column `{name}`: expected vectors of {width} values, found {a.type.list_size}",
                column=name, row=0,
            )
        return a.cast(pa.list_(pa.field("item", pa.float64()), width))
    valid = a.is_valid().to_numpy(zero_copy_only=False)
    lengths = a.value_lengths().fill_null(width).to_numpy(zero_copy_only=False)
    bad = np.flatnonzero(lengths != width)
    if bad.size:
        row = int(bad[0])
        raise BadValueError(
            f"row {row}, column `{name}`: expected a vector of {width} values, found {int(lengths[row])}",
            column=name, row=row,
        )
    offsets = a.offsets.to_numpy()
    values = a.values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    n = len(a)
    if valid.all() and offsets[0] + n * width == offsets[-1] and offsets[-1] <= len(values):
        flat = values[offsets[0] : offsets[0] + n * width]
    else:
        out = np.full((n, width), np.nan)
        rows = np.flatnonzero(valid)
        out[rows] = _row_values(offsets, values, rows, width)
        flat = out.ravel()
    return _fixed(pa.array(flat, type=pa.float64()), width, valid)


def _vector_struct_to_fixed(a: pa.Array, width: int, name: str) -> pa.Array:
    """A Spark ML vector column (VectorUDT's struct: dense and sparse rows) as a fixed-size
    list of `width` f64; sparse rows are expanded with zeros, as ``Vector.toArray`` does."""
    pa = _pa()
    import numpy as np

    n = len(a)
    kind, size, indices, values = a.flatten()  # children, sliced and masked by the parent
    valid = a.is_valid().to_numpy(zero_copy_only=False)
    kind = kind.fill_null(1).to_numpy(zero_copy_only=False)
    dense = valid & (kind == 1)
    sparse = valid & (kind == 0)
    v_len = values.value_lengths().fill_null(0).to_numpy(zero_copy_only=False)
    sizes = size.fill_null(-1).to_numpy(zero_copy_only=False)
    actual = np.where(sparse, sizes, v_len)
    bad = np.flatnonzero(valid & (actual != width))
    if bad.size:
        row = int(bad[0])
        raise BadValueError(
            f"row {row}, column `{name}`: expected a vector of {width} values, found one of {int(actual[row])}",
            column=name, row=row,
        )
    v_off = values.offsets.to_numpy()
    v_flat = values.values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    if dense.all() and v_off[0] + n * width == v_off[-1]:
        # The common case: every row dense and stored back to back.
        flat = v_flat[v_off[0] : v_off[0] + n * width]
        return _fixed(pa.array(flat, type=pa.float64()), width, None)
    out = np.full((n, width), np.nan)
    rows = np.flatnonzero(dense)
    if rows.size:
        out[rows] = _row_values(v_off, v_flat, rows, width)
    rows = np.flatnonzero(sparse)
    if rows.size:
        out[rows] = 0.0
        i_off = indices.offsets.to_numpy()
        i_flat = indices.values.to_numpy(zero_copy_only=False)
        counts = (v_off[rows + 1] - v_off[rows]).astype(np.int64)
        # Element positions of every stored entry of the sparse rows, flattened.
        pos_v = np.repeat(v_off[rows], counts) + _ranges(counts)
        pos_i = np.repeat(i_off[rows], counts) + _ranges(counts)
        cols = i_flat[pos_i].astype(np.int64)
        row_of = np.repeat(rows, counts)
        wrong = np.flatnonzero((cols < 0) | (cols >= width))
        if wrong.size:
            row = int(row_of[wrong[0]])
            raise BadValueError(
                f"row {row}, column `{name}`: sparse vector index {int(cols[wrong[0]])} is outside 0..{width - 1}",
                column=name, row=row,
            )
        out[row_of, cols] = v_flat[pos_v]
    return _fixed(pa.array(out.ravel(), type=pa.float64()), width, valid)


def _ranges(counts: Any) -> Any:
    """``concatenate([arange(c) for c in counts])`` without a Python loop."""
    import numpy as np

    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)


# --- output conversion: the bundle's Arrow -> Spark's -------------------------------------


def _fixed_to_vector_struct(a: pa.Array) -> pa.Array:
    """A FixedSizeList<f64> column as Spark ML dense vectors (VectorUDT's Arrow struct)."""
    pa = _pa()
    import numpy as np

    n, width = len(a), a.type.list_size
    typ = vector_arrow_type()
    values = a.values.slice(a.offset * width, n * width)
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * np.int32(width))
    vals = pa.ListArray.from_arrays(offsets, values.cast(pa.float64()), type=typ.field("values").type)
    kind = pa.array(np.ones(n, dtype=np.int8))
    size = pa.nulls(n, pa.int32())
    indices = pa.nulls(n, typ.field("indices").type)
    mask = a.is_null() if a.null_count else None
    return pa.StructArray.from_arrays([kind, size, indices, vals], fields=list(typ), mask=mask)


def _fixed_to_double_array(a: pa.Array) -> pa.Array:
    """A FixedSizeList<f64> column as Spark ``array<double>``."""
    pa = _pa()
    import numpy as np

    n, width = len(a), a.type.list_size
    values = a.values.slice(a.offset * width, n * width).cast(pa.float64())
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * np.int32(width))
    mask = a.is_null() if a.null_count else None
    return pa.ListArray.from_arrays(offsets, values, type=_double_array_type(), mask=mask)


def _to_spark_arrow(a: pa.Array, target: pa.DataType) -> pa.Array:
    """One output column in exactly the Arrow type Spark declared for it."""
    pa = _pa()
    if a.type == target:
        return a
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    if pa.types.is_fixed_size_list(a.type):
        if _is_vector_struct(target):
            return _fixed_to_vector_struct(a)
        return _fixed_to_double_array(a)
    return a.cast(target)


# --- Spark types ----------------------------------------------------------------------------

_SCALAR_TYPES = {"f64": "DoubleType", "f32": "FloatType", "i64": "LongType", "i32": "IntegerType",
                 "bool": "BooleanType", "utf8": "StringType"}


def _output_spark_type(f: Field, vectors: str) -> DataType:
    """The Spark type of output `f`; vectors as ``VectorUDT`` (``vectors="udt"``) or
    ``array<double>`` (``vectors="array"``)."""
    from pyspark.sql import types as T

    if f.is_vector:
        if vectors == "udt":
            from pyspark.ml.linalg import VectorUDT

            return VectorUDT()
        return T.ArrayType(T.DoubleType(), containsNull=False)
    if f.dtype == "list<utf8>":
        return T.ArrayType(T.StringType(), containsNull=True)
    return getattr(T, _SCALAR_TYPES[f.dtype])()


def _output_arrow_type(f: Field, vectors: str, large_strings: bool) -> pa.DataType:
    pa = _pa()
    if f.is_vector:
        return vector_arrow_type() if vectors == "udt" else _double_array_type()
    if f.dtype == "utf8":
        return pa.large_string() if large_strings else pa.string()
    if f.dtype == "list<utf8>":
        item = pa.large_string() if large_strings else pa.string()
        return pa.list_(pa.field("element", item, nullable=True))
    return {"f64": pa.float64(), "f32": pa.float32(), "i64": pa.int64(), "i32": pa.int32(),
            "bool": pa.bool_()}[f.dtype]


def _vector_metadata(f: Field) -> dict[str, Any]:
    """Spark ML attribute metadata of a vector output: its size and element names (class
    labels), as Spark's own estimators attach to their vector columns."""
    attrs: dict[str, Any] = {"num_attrs": f.shape[0]}
    if f.names:
        attrs["attrs"] = {"numeric": [{"idx": i, "name": n} for i, n in enumerate(f.names)]}
    return {"ml_attr": attrs}


def _spark_input_arrow_type(dt: DataType) -> pa.DataType | None:
    """The Arrow type Spark hands to Python for a column of Spark type `dt`, for the types a
    bundle input can take (None for the others)."""
    pa = _pa()
    from pyspark.sql import types as T

    simple = {T.DoubleType: pa.float64(), T.FloatType: pa.float32(), T.LongType: pa.int64(),
              T.IntegerType: pa.int32(), T.ShortType: pa.int16(), T.ByteType: pa.int8(),
              T.BooleanType: pa.bool_(), T.StringType: pa.string()}
    for cls, t in simple.items():
        if isinstance(dt, cls):
            return t
    if isinstance(dt, T.DecimalType):
        return pa.decimal128(dt.precision, dt.scale)
    if isinstance(dt, T.UserDefinedType) and type(dt).__name__ == "VectorUDT":
        return vector_arrow_type()
    if isinstance(dt, T.ArrayType):
        inner = _spark_input_arrow_type(dt.elementType)
        if inner is not None and (_is_number(inner) or pa.types.is_string(inner)):
            return pa.list_(inner)
    return None


def _check_frame(bundle: keel.Bundle, schema: Any) -> None:
    """Checks a Spark schema against the bundle's inputs (what the executors would do with
    the first batch), so a misfit fails on the driver, before any job: a missing input is a
    ``MissingColumnError``, an input Spark cannot hand over losslessly a ``ColumnTypeError``."""
    by_name = {f.name: f for f in schema.fields}
    for f in bundle.schema.inputs:
        sf = by_name.get(f.name)
        if sf is None:
            near = [n for n in by_name if n.lower() == f.name.lower()]
            hint = f" (the frame has `{near[0]}`: names are case-sensitive)" if near else ""
            raise MissingColumnError(
                f"input column `{f.name}` is missing from the DataFrame{hint}; it has: "
                + ", ".join(f"`{n}`" for n in by_name),
                column=f.name,
            )
        found = f"Spark {sf.dataType.simpleString()}"
        t = _spark_input_arrow_type(sf.dataType)
        if t is None:
            raise ColumnTypeError(
                f"input column `{f.name}`: expected {_declared(f)}, found {found}",
                column=f.name, expected=_declared(f), found=found,
            )
        _input_converter(f, t, found=found)


# --- scoring a stream of batches --------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What an executor needs to score: shipped (pickled) with the function, small."""

    sha: str
    source: Any  # a Broadcast of the bundle's bytes
    outputs: tuple[tuple[str, str], ...]  # (bundle output name, Spark column name)
    out_types: tuple[Any, ...]  # the Arrow type Spark declared for each output
    keep_inputs: bool


def _partition_id() -> int | None:
    try:
        from pyspark import TaskContext

        tc = TaskContext.get()
        return tc.partitionId() if tc is not None else None
    except Exception:  # noqa: BLE001 - only for the error message
        return None


def _in_partition(e: InputError, partition: int | None, offset: int) -> InputError:
    """`e` with where the row sits in Spark: the runtime counts rows within the Arrow batch;
    the partition row helps find it in the data."""
    where = f"Spark partition {partition}" if partition is not None else "Spark task"
    if e.row is not None:
        where += f", row {offset + e.row} of the partition (row {e.row} of an Arrow batch starting at partition row {offset})"
    err = _rebuild_error(e, f"{e} [{where}]")
    err.spark_partition = partition  # type: ignore[attr-defined]
    return err


def _rebuild_error(e: InputError, message: str) -> InputError:
    err = type(e).__new__(type(e))
    Exception.__init__(err, message)
    err.__dict__.update(e.__dict__)
    return err


class _Inputs:
    """Picks the bundle's inputs out of a Spark batch, converted where Spark's Arrow types
    differ from the bundle's; the conversions are chosen once, from the first batch's types."""

    def __init__(self, bundle: keel.Bundle):
        self.fields = bundle.schema.inputs
        self.schema: Any = None
        self.plan: list[tuple[int, Converter]] = []

    def batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        pa = _pa()
        if batch.schema is not self.schema and batch.schema != self.schema:
            names = batch.schema.names
            plan = []
            for f in self.fields:
                if f.name not in names:
                    raise MissingColumnError(f"input column `{f.name}` is missing", column=f.name)
                i = names.index(f.name)
                plan.append((i, _input_converter(f, batch.schema.field(i).type)))
            self.plan, self.schema = plan, batch.schema
        cols = []
        for i, conv in self.plan:
            c = batch.column(i)
            cols.append(c if conv is None else conv(c))
        return pa.RecordBatch.from_arrays(cols, names=[f.name for f in self.fields])


def _score_batches(plan: _Plan, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function: scores each batch and appends the outputs (or returns
    them alone), in the Arrow types Spark declared."""
    pa = _pa()
    bundle = _worker_bundle(plan.sha, plan.source)
    model = bundle._model
    inputs = _Inputs(bundle)
    out_index = {f.name: i for i, f in enumerate(bundle.schema.outputs)}
    picks = [out_index[name] for name, _ in plan.outputs]
    out_fields = [pa.field(spark_name, t) for (_, spark_name), t in zip(plan.outputs, plan.out_types)]
    partition = _partition_id()
    offset = 0
    for batch in batches:
        rows = batch.num_rows
        if rows == 0:
            cols = [pa.array([], type=t) for t in plan.out_types]
        else:
            try:
                scored = model.transform_batch(inputs.batch(batch))
            except InputError as e:
                raise _in_partition(e, partition, offset) from None
            cols = [_to_spark_arrow(scored.column(i), t) for i, t in zip(picks, plan.out_types)]
        offset += rows
        if plan.keep_inputs:
            schema = pa.schema(list(batch.schema) + out_fields)
            yield pa.RecordBatch.from_arrays(list(batch.columns) + cols, schema=schema)
        else:
            yield pa.RecordBatch.from_arrays(cols, schema=pa.schema(out_fields))


class _MapFunction:
    """Picklable callable for ``mapInArrow`` (cloudpickle ships the plan, and the function by
    reference to this module, so the worker's module-level cache is the one used)."""

    def __init__(self, plan: _Plan):
        self.plan = plan

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _score_batches(self.plan, batches)


# --- the driver: bundles and broadcasts ----------------------------------------------------

_BROADCASTS: dict[tuple[str, str], Any] = {}
_BROADCAST_LOCK = threading.Lock()


def _broadcast(spark: SparkSession, sha: str, data: bytes) -> Any:
    """One broadcast of a bundle's bytes per Spark application, reused by every transform."""
    sc = spark.sparkContext
    key = (sc.applicationId, sha)
    with _BROADCAST_LOCK:
        bc = _BROADCASTS.get(key)
        if bc is None:
            bc = _BROADCASTS[key] = sc.broadcast(data)
        return bc


def _read_bundle(source: Any) -> bytes:
    if isinstance(source, keel.Bundle):
        return source._data
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    with open(os.fspath(source), "rb") as f:
        return f.read()


def _large_strings(spark: SparkSession) -> bool:
    return str(spark.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false")).lower() == "true"


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


# --- KeelModel ---------------------------------------------------------------------------------


class KeelModel(Transformer, MLReadable["KeelModel"], MLWritable):
    """Scores a keel bundle on a DataFrame: ``KeelModel(path).transform(df)`` returns ``df``
    with the bundle's outputs appended (``outputPrefix`` + output name), typed as Spark
    columns: f64 -> double, f32 -> float, i64 -> bigint, i32 -> int, utf8 -> string,
    bool -> boolean, and a vector (class probabilities, features) -> a Spark ML ``VectorUDT``
    dense vector with ``ml_attr`` metadata naming its elements.

    Params:

    - ``bundlePath``: the bundle file, read on the driver (its bytes are broadcast to the
      executors; the executors need no access to the path);
    - ``outputPrefix``: prepended to every output column name (default ``""``);
    - ``outputCols``: which bundle outputs to append (default: all of them);
    - ``keepInputs``: keep the frame's columns and append the outputs (default), or return
      the outputs only (only the bundle's inputs are then sent to Python).
    - ``engine``: where batches are scored. ``"python"``: ``mapInArrow``, each Arrow batch
      through a Python worker's native module. ``"jvm"``: inside the executor JVMs through
      keel's JNI library, with no Python worker (needs ``keel-spark.jar``, built by
      ``jvm/build.sh``, in ``spark.jars``); faster, most of all for cheap models, whose
      ``mapInArrow`` cost is the trip to Python and back. ``"auto"`` (default): ``"jvm"``
      when the jar is on the driver's class path, else ``"python"``. Both give the same
      answers and the same errors (keel's message, row and partition).

    Input columns are matched by name. Spark types are converted losslessly where the
    bundle's type differs (byte/short/int/long for an integer input; any number, decimals
    included, for a float input; a ``VectorUDT`` or ``array<number>`` column for a vector
    input); anything else, or a missing column, raises ``keel.ColumnTypeError`` /
    ``keel.MissingColumnError`` from ``transform`` itself, before any Spark job.

    Saved with ``write().save(path)`` (or inside a saved ``PipelineModel``) the bundle's
    bytes are stored with the params, so the saved model is self-contained.
    """

    bundlePath: Param[str] = Param(
        Params._dummy(), "bundlePath", "path of the keel bundle (.keel) on the driver",
        typeConverter=TypeConverters.toString,
    )
    outputPrefix: Param[str] = Param(
        Params._dummy(), "outputPrefix", "prefix of the output column names",
        typeConverter=TypeConverters.toString,
    )
    outputCols: Param[list[str]] = Param(
        Params._dummy(), "outputCols", "the bundle outputs to append (empty: all)",
        typeConverter=TypeConverters.toListString,
    )
    keepInputs: Param[bool] = Param(
        Params._dummy(), "keepInputs",
        "keep the input frame's columns (true) or return only the outputs (false)",
        typeConverter=TypeConverters.toBoolean,
    )
    engine: Param[str] = Param(
        Params._dummy(), "engine",
        "where batches are scored: auto (jvm when keel-spark.jar is loaded), jvm, python",
        typeConverter=TypeConverters.toString,
    )

    def __init__(
        self,
        bundlePath: str | None = None,
        *,
        outputPrefix: str | None = None,
        outputCols: list[str] | None = None,
        keepInputs: bool | None = None,
        engine: str | None = None,
    ):
        super().__init__()
        self._setDefault(outputPrefix="", outputCols=[], keepInputs=True, engine="auto")
        # (bundlePath it came from, bytes, Bundle, sha256): the bundle last read, so repeated
        # transforms read and plan it once on the driver.
        self._loaded: tuple[str | None, bytes, keel.Bundle, str] | None = None
        self.setParams(bundlePath, outputPrefix=outputPrefix, outputCols=outputCols, keepInputs=keepInputs,
                       engine=engine)

    def setParams(
        self,
        bundlePath: str | None = None,
        *,
        outputPrefix: str | None = None,
        outputCols: list[str] | None = None,
        keepInputs: bool | None = None,
        engine: str | None = None,
    ) -> KeelModel:
        """Sets the params given (``None`` leaves a param as it is). Not keyword-only, unlike
        Spark's own transformers, so that ``KeelModel(path)`` reads naturally."""
        if engine is not None and engine not in _ENGINES:
            raise ValueError(f"KeelModel.engine: {engine!r} is not one of {', '.join(_ENGINES)}")
        given = {"bundlePath": bundlePath, "outputPrefix": outputPrefix, "outputCols": outputCols,
                 "keepInputs": keepInputs, "engine": engine}
        return self._set(**{k: v for k, v in given.items() if v is not None})

    def setBundlePath(self, value: str) -> KeelModel:
        return self._set(bundlePath=value)

    def getBundlePath(self) -> str:
        return self.getOrDefault(self.bundlePath)

    def setOutputPrefix(self, value: str) -> KeelModel:
        return self._set(outputPrefix=value)

    def getOutputPrefix(self) -> str:
        return self.getOrDefault(self.outputPrefix)

    def setOutputCols(self, value: list[str]) -> KeelModel:
        return self._set(outputCols=value)

    def getOutputCols(self) -> list[str]:
        return self.getOrDefault(self.outputCols)

    def setKeepInputs(self, value: bool) -> KeelModel:
        return self._set(keepInputs=value)

    def getKeepInputs(self) -> bool:
        return self.getOrDefault(self.keepInputs)

    def setEngine(self, value: str) -> KeelModel:
        return self.setParams(engine=value)

    def getEngine(self) -> str:
        return self.getOrDefault(self.engine)

    # --- the bundle ----------------------------------------------------------------------

    def bundle(self) -> keel.Bundle:
        """The bundle this model scores with (read from ``bundlePath`` on first use)."""
        return self._load()[1]

    def _load(self) -> tuple[bytes, keel.Bundle, str]:
        path = self.getOrDefault(self.bundlePath) if self.isDefined(self.bundlePath) else None
        if self._loaded is not None and self._loaded[0] == path:
            return self._loaded[1], self._loaded[2], self._loaded[3]
        if path is None:
            raise ValueError("KeelModel: set bundlePath (the keel bundle to score with)")
        data = _read_bundle(path)
        self._set_bytes(path, data)
        assert self._loaded is not None
        return self._loaded[1], self._loaded[2], self._loaded[3]

    def _set_bytes(self, path: str | None, data: bytes) -> None:
        bundle = keel.load(data, ignore_extra_columns=True)
        self._loaded = (path, data, bundle, hashlib.sha256(data).hexdigest())

    # --- schema ----------------------------------------------------------------------------

    def _outputs(self, bundle: keel.Bundle) -> list[Field]:
        wanted = self.getOutputCols()
        fields = {f.name: f for f in bundle.schema.outputs}
        if not wanted:
            return list(bundle.schema.outputs)
        unknown = [w for w in wanted if w not in fields]
        if unknown:
            raise ValueError(
                f"KeelModel.outputCols: the bundle has no output {', '.join(map(repr, unknown))}; "
                f"its outputs are {', '.join(fields)}"
            )
        return [fields[w] for w in wanted]

    def _output_fields(self, bundle: keel.Bundle) -> list[StructField]:
        from pyspark.sql.types import StructField

        prefix = self.getOutputPrefix()
        out = []
        for f in self._outputs(bundle):
            meta = _vector_metadata(f) if f.is_vector else None
            out.append(StructField(prefix + f.name, _output_spark_type(f, "udt"), True, meta))
        return out

    def transformSchema(self, schema: Any) -> Any:
        """The schema ``transform`` returns for a frame of `schema`; raises the same errors as
        ``transform`` for a frame that does not fit the bundle."""
        from pyspark.sql.types import StructType

        _, bundle, _ = self._load()
        _check_frame(bundle, schema)
        outs = self._output_fields(bundle)
        if not self.getKeepInputs():
            return StructType(outs)
        taken = {f.name for f in schema.fields}
        clash = [f.name for f in outs if f.name in taken]
        if clash:
            raise ValueError(
                f"KeelModel: output column {', '.join(f'`{c}`' for c in clash)} already exists in "
                "the DataFrame; set outputPrefix (or outputCols, or drop the column)"
            )
        return StructType(list(schema.fields) + outs)

    # --- transform -----------------------------------------------------------------------------

    def _transform(self, dataset: DataFrame) -> DataFrame:
        data, bundle, sha = self._load()
        spark = dataset.sparkSession
        out_schema = self.transformSchema(dataset.schema)
        outputs = self._outputs(bundle)
        prefix = self.getOutputPrefix()
        keep_inputs = self.getKeepInputs()
        frame = dataset
        if not keep_inputs:
            # Only the bundle's inputs travel to the scorer.
            from pyspark.sql import functions as F

            frame = dataset.select(*[F.col(_quote(f.name)) for f in bundle.schema.inputs])
        if _use_jvm(spark, self.getEngine()):
            # The JVM engine broadcasts the bundle itself; no Python broadcast is made.
            return _transform_jvm(frame, bundle, data, sha, [f.name for f in outputs], keep_inputs, out_schema)
        large = _large_strings(spark)
        plan = _Plan(
            sha=sha,
            source=_broadcast(spark, sha, data),
            outputs=tuple((f.name, prefix + f.name) for f in outputs),
            out_types=tuple(_output_arrow_type(f, "udt", large) for f in outputs),
            keep_inputs=keep_inputs,
        )
        return frame.mapInArrow(_MapFunction(plan), out_schema)

    # --- persistence -----------------------------------------------------------------------------

    def write(self) -> MLWriter:
        """A writer that saves the params and the bundle's bytes (``path/metadata``,
        ``path/data``)."""
        return _KeelModelWriter(self)

    @classmethod
    def read(cls) -> MLReader[KeelModel]:
        return _KeelModelReader(cls)


_ENGINES = ("auto", "jvm", "python")


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


def _transform_jvm(frame: DataFrame, bundle: keel.Bundle, data: bytes, sha: str, outputs: list[str],
                   keep_inputs: bool, out_schema: Any) -> DataFrame:
    """Scores `frame` in the executor JVMs (``dev.keel.spark.KeelArrow``): the frame's columns
    are kept (``keepInputs``) and the bundle's inputs are read from them, or, where Spark's
    type is not one the runtime reads (a ``VectorUDT``, a decimal, an array of another number),
    from a converted copy appended to the frame, dropped again by the native side."""
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
    for f in bundle.schema.inputs:
        i = positions[f.name]
        dt = fields[i].dataType
        col = F.col(_quote(f.name))
        converted = None
        if isinstance(dt, T.UserDefinedType):
            converted = vector_to_array(col)
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
    jdf = jvm.dev.keel.spark.KeelArrow.transform(frame._jdf, bytearray(data), sha, spec, out_schema.json())
    return SparkDataFrame(jdf, spark)


class _KeelModelWriter(MLWriter):
    def __init__(self, instance: KeelModel):
        super().__init__()
        self.instance = instance

    def saveImpl(self, path: str) -> None:
        data, _, sha = self.instance._load()
        DefaultParamsWriter.saveMetadata(self.instance, path, self.sparkSession, extraMetadata={"bundleSha256": sha})
        spark = self.sparkSession
        frame = spark.createDataFrame([(sha, bytearray(data))], "sha256 string, bundle binary")
        frame.coalesce(1).write.parquet(os.path.join(path, "data"))


class _KeelModelReader(MLReader[KeelModel]):
    def __init__(self, cls: type[KeelModel]):
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> KeelModel:
        metadata = DefaultParamsReader.loadMetadata(path, self.sparkSession)
        instance = self.cls()
        instance._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(instance, metadata)
        row = self.sparkSession.read.parquet(os.path.join(path, "data")).head()
        data = bytes(row["bundle"])
        if hashlib.sha256(data).hexdigest() != row["sha256"]:
            raise keel.BundleError(f"{path}: the saved bundle does not match its sha256", path=path)
        source = instance.getOrDefault(instance.bundlePath) if instance.isDefined(instance.bundlePath) else None
        instance._set_bytes(source, data)
        return instance


# --- SQL ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _UdfPlan:
    sha: str
    source: Any
    outputs: tuple[str, ...]
    out_types: tuple[Any, ...]
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
        cols = [_to_spark_arrow(scored.column(index[o]), t) for o, t in zip(plan.outputs, plan.out_types)]
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
