"""The driver-side plan, shared by both engines: the Spark types of a bundle's inputs and
outputs, the check of a DataFrame's schema against the bundle's inputs (so a misfit raises a
``keel.InputError`` before any Spark job), the Arrow type declared for each output, and the
bundle's bytes (read once, broadcast once per application)."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

import keel
from keel._api import Field, _declared
from keel.errors import ColumnTypeError, MissingColumnError
from keel.spark_runtime._arrow import (
    _double_array_type,
    _input_converter,
    _is_number,
    _pa,
    _tensor_arrow_type,
    vector_arrow_type,
)

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession
    from pyspark.sql.types import DataType


# --- Spark types ----------------------------------------------------------------------------

_SCALAR_TYPES = {"f64": "DoubleType", "f32": "FloatType", "i64": "LongType", "i32": "IntegerType",
                 "bool": "BooleanType", "utf8": "StringType"}

# The Spark element type of a tensor output, by dtype: Spark has no half floats (f16 and bf16
# widen to float exactly) and no unsigned byte (u8 widens to short, losslessly).
_TENSOR_ELEMENT_TYPES = {"f32": "FloatType", "f16": "FloatType", "bf16": "FloatType", "f64": "DoubleType",
                         "i64": "LongType", "i32": "IntegerType", "i8": "ByteType", "u8": "ShortType",
                         "bool": "BooleanType"}


def _output_spark_type(f: Field, vectors: str) -> DataType:
    """The Spark type of output `f`; vectors as ``VectorUDT`` (``vectors="udt"``) or
    ``array<double>`` (``vectors="array"``); a tensor as ``array``s nested one level per
    dimension (``f32[2, 3]``: ``array<array<float>>``)."""
    from pyspark.sql import types as T

    if f.is_tensor:
        t: DataType = getattr(T, _TENSOR_ELEMENT_TYPES[f.dtype])()
        for _ in f.shape:
            t = T.ArrayType(t, containsNull=False)
        return t
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
    if f.is_tensor:
        return _tensor_arrow_type(f)
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
              T.BooleanType: pa.bool_(), T.StringType: pa.string(), T.BinaryType: pa.binary()}
    for cls, t in simple.items():
        if isinstance(dt, cls):
            return t
    if isinstance(dt, T.DecimalType):
        return pa.decimal128(dt.precision, dt.scale)
    if isinstance(dt, T.UserDefinedType) and type(dt).__name__ == "VectorUDT":
        return vector_arrow_type()
    if isinstance(dt, T.ArrayType):
        # Arrays of numbers, strings or booleans, nested to any depth (tensor inputs).
        inner = _spark_input_arrow_type(dt.elementType)
        leaf = inner
        while leaf is not None and pa.types.is_list(leaf):
            leaf = leaf.value_type
        if leaf is not None and (_is_number(leaf) or pa.types.is_string(leaf) or pa.types.is_boolean(leaf)):
            return pa.list_(inner)
    return None


def _source(name: str, columns: dict[str, Any]) -> tuple[str, str | None] | None:
    """Where bundle input `name` is read from a frame whose top-level columns (name to Spark
    type) are `columns`: a column of that name, else, for ``col.field``, the field of struct
    column ``col`` (Spark's image struct feeds ``image.data``, ``image.height``...). Returns
    ``(column, field or None)``, or None when neither exists."""
    if name in columns:
        return name, None
    from pyspark.sql import types as T

    col, dot, field = name.rpartition(".")
    if dot and isinstance(columns.get(col), T.StructType) and field in columns[col].fieldNames():
        return col, field
    return None


def _sources(bundle: keel.Bundle, schema: Any) -> list[tuple[str, str | None]]:
    """:func:`_source` for every bundle input (in order), as checked by :func:`_check_frame`."""
    columns = {f.name: f.dataType for f in reversed(schema.fields)}
    out = []
    for f in bundle.schema.inputs:
        src = _source(f.name, columns)
        if src is None:
            raise MissingColumnError(f"input column `{f.name}` is missing", column=f.name)
        out.append(src)
    return out


def _check_frame(bundle: keel.Bundle, schema: Any) -> None:
    """Checks a Spark schema against the bundle's inputs (what the executors would do with
    the first batch), so a misfit fails on the driver, before any job: a missing input is a
    ``MissingColumnError``, an input Spark cannot hand over losslessly a ``ColumnTypeError``.
    An input ``col.field`` with no column of its own reads a struct column's field."""
    by_name = {f.name: f for f in schema.fields}
    columns = {f.name: f.dataType for f in reversed(schema.fields)}
    for f in bundle.schema.inputs:
        src = _source(f.name, columns)
        if src is None:
            near = [n for n in by_name if n.lower() == f.name.lower()]
            hint = f" (the frame has `{near[0]}`: names are case-sensitive)" if near else ""
            col = f.name.rpartition(".")[0]
            if not hint and col and col in by_name:
                hint = f" (`{col}` is {by_name[col].dataType.simpleString()}, not a struct with that field)"
            raise MissingColumnError(
                f"input column `{f.name}` is missing from the DataFrame{hint}; it has: "
                + ", ".join(f"`{n}`" for n in by_name),
                column=f.name,
            )
        sf = by_name[src[0]]
        if src[1] is not None:
            sf = sf.dataType[src[1]]
        found = f"Spark {sf.dataType.simpleString()}"
        t = _spark_input_arrow_type(sf.dataType)
        if t is None:
            raise ColumnTypeError(
                f"input column `{f.name}`: expected {_declared(f)}, found {found}",
                column=f.name, expected=_declared(f), found=found,
            )
        _input_converter(f, t, found=found)


# --- the bundle's bytes ---------------------------------------------------------------------

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
