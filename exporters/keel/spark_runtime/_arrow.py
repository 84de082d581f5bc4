"""The Python engine's Arrow conversions between Spark and the runtime, both ways.

- In: a column of the Arrow type Spark hands to a Python worker becomes what the runtime takes
  for a bundle input (narrow integers widened, decimals to float64, Spark ML ``VectorUDT``
  structs and ``array<number>`` to fixed-size lists of f64). A tensor input's (nested)
  ``array`` column goes as it is (the runtime converts its elements to the dtype and checks
  each row's shape); a ``VectorUDT`` for a rank-1 float tensor becomes a list per row.
  :func:`_input_converter` picks one converter per column; the driver's schema check calls it
  too, so the two cannot disagree.
- Out: a runtime output becomes exactly the Arrow type Spark declared for it
  (:func:`_to_spark_arrow`; ``mapInArrow`` does no implicit casts): a fixed-size list is a
  ``VectorUDT`` struct (a ``KeelModel`` column) or an ``array<double>`` (the SQL function); a
  tensor is ``list``s nested one level per dimension, of Spark's element type.

This module is the Python side's only owner of these conversions. The JVM engine's are in its
Rust codec (``jvm/src/codec.rs``: Spark's Arrow IPC messages in, Spark's layout out), fed by the
Spark expressions the driver adds for it (``_jvm_engine``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional

from keel._api import Field, _declared
from keel.errors import BadValueError, ColumnTypeError

if TYPE_CHECKING:
    import pyarrow as pa

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


# The Arrow element type of a tensor output in Spark's layout, by dtype (Spark has no half
# floats and no unsigned byte: f16/bf16 widen to float32, u8 to int16, both exactly).
_TENSOR_ELEMENTS = {"f32": "float32", "f16": "float32", "bf16": "float32", "f64": "float64", "i64": "int64",
                    "i32": "int32", "i8": "int8", "u8": "int16", "bool": "bool_"}


def _tensor_arrow_type(f: Field) -> pa.DataType:
    """The Arrow type of Spark's ``array`` nested once per dimension of tensor field `f`: plain
    lists with an ``element`` child, not nullable (a tensor has no missing elements), as
    Spark's ``ArrowUtils`` writes an ``ArrayType(..., containsNull=False)``."""
    pa = _pa()
    t = getattr(pa, _TENSOR_ELEMENTS[f.dtype])()
    for _ in f.shape:
        t = pa.list_(pa.field("element", t, nullable=False))
    return t


# --- in: Spark's Arrow -> the bundle's Arrow ------------------------------------------------


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
    if f.is_tensor:
        return _tensor_converter(f, t, found)
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
    elif f.dtype == "binary":
        # Spark's BinaryType: Arrow binary, or large_binary under useLargeVarTypes; the
        # runtime reads both.
        if pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return None
    elif f.dtype == "list<utf8>":
        # The runtime takes List or LargeList of any Arrow string type as it is.
        if (pa.types.is_list(t) or pa.types.is_large_list(t)) and _is_string(t.value_type):
            return None
    raise _refused(f, t, found)


def _refused(f: Field, t: pa.DataType, found: str | None) -> ColumnTypeError:
    found = found or str(t)
    return ColumnTypeError(
        f"input column `{f.name}`: expected {_declared(f)}, found {found}",
        column=f.name, expected=_declared(f), found=found,
    )


_FLOAT_DTYPES = ("f64", "f32", "f16", "bf16")
_INT_DTYPES = ("i64", "i32", "i8", "u8")


def _tensor_converter(f: Field, t: pa.DataType, found: str | None) -> Converter:
    """:func:`_input_converter` for tensor input `f`. Lists nested one level per dimension (or one flat level for a fixed shape)
    of numbers (for a float dtype), integers (for an integer dtype) or booleans go to the
    runtime as they are: it converts each element to the dtype, refuses an integer that does
    not fit, and checks every row's shape (``TensorShapeError`` naming column and row). A
    ``VectorUDT`` feeds a rank-1 float tensor (its doubles would not convert to integers
    losslessly)."""
    pa = _pa()
    if _is_vector_struct(t):
        if len(f.shape) == 1 and f.dtype in _FLOAT_DTYPES:
            return lambda a: _vector_struct_to_lists(a, f.name)
        raise _refused(f, t, found)
    levels, leaf = 0, t
    while _is_list(leaf):
        levels, leaf = levels + 1, leaf.value_type
    rank = len(f.shape)
    if not (levels == rank or (levels == 1 and rank > 1 and not any(f.dims))):
        raise _refused(f, t, found)
    if f.dtype in _FLOAT_DTYPES and (pa.types.is_integer(leaf) or pa.types.is_floating(leaf)):
        return None
    if f.dtype in _FLOAT_DTYPES and pa.types.is_decimal(leaf):
        target = _with_leaf(t, pa.float64())
        return lambda a: a.cast(target)
    if f.dtype in _INT_DTYPES and pa.types.is_integer(leaf):
        return None
    if f.dtype == "bool" and pa.types.is_boolean(leaf):
        return None
    raise _refused(f, t, found)


def _with_leaf(t: pa.DataType, leaf: pa.DataType) -> pa.DataType:
    """List type `t` with its innermost element type replaced by `leaf`."""
    pa = _pa()
    if not _is_list(t):
        return leaf
    inner = pa.field(t.value_field.name, _with_leaf(t.value_type, leaf), nullable=t.value_field.nullable)
    if pa.types.is_fixed_size_list(t):
        return pa.list_(inner, t.list_size)
    return pa.large_list(inner) if pa.types.is_large_list(t) else pa.list_(inner)


def _vector_struct_to_lists(a: pa.Array, name: str) -> pa.Array:
    """A Spark ML vector column (VectorUDT's struct) as a list of f64 per row, each as long as
    its vector (a sparse row expanded to its size with zeros, as ``Vector.toArray`` does): the
    runtime then checks every row's length against the tensor's shape, as for an array
    column."""
    pa = _pa()
    import numpy as np

    kind, size, indices, values = a.flatten()
    valid = a.is_valid().to_numpy(zero_copy_only=False)
    kind = kind.fill_null(1).to_numpy(zero_copy_only=False)
    sparse = valid & (kind == 0)
    if not sparse.any():
        # Dense rows are their values lists already (nulls where the vector is null).
        return values.cast(pa.list_(pa.float64()))
    v_len = values.value_lengths().fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    sizes = size.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    lengths = np.where(sparse, sizes, np.where(valid, v_len, 0))
    if (lengths < 0).any():
        row = int(np.flatnonzero(lengths < 0)[0])
        raise BadValueError(f"row {row}, column `{name}`: a sparse vector of size {int(lengths[row])}",
                            column=name, row=row)
    out_off = np.concatenate([[0], np.cumsum(lengths)])
    out = np.zeros(int(out_off[-1]))
    v_off = values.offsets.to_numpy()
    v_flat = values.values.cast(pa.float64()).to_numpy(zero_copy_only=False)
    dense = valid & ~sparse
    rows = np.flatnonzero(dense)
    if rows.size:
        counts = lengths[rows]
        out[np.repeat(out_off[rows], counts) + _ranges(counts)] = v_flat[np.repeat(v_off[rows], counts) + _ranges(counts)]
    row_of, cols, entries = _sparse_entries(indices, v_off, v_flat, np.flatnonzero(sparse), lengths, name)
    out[out_off[row_of] + cols] = entries
    mask = pa.array(~valid) if not valid.all() else None
    return pa.ListArray.from_arrays(pa.array(out_off.astype(np.int32)), pa.array(out, type=pa.float64()), mask=mask)


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
        row_of, cols, entries = _sparse_entries(indices, v_off, v_flat, rows, np.full(n, width), name)
        out[row_of, cols] = entries
    return _fixed(pa.array(out.ravel(), type=pa.float64()), width, valid)


def _sparse_entries(indices: pa.Array, v_off: Any, v_flat: Any, rows: Any, sizes: Any, name: str) -> Any:
    """Every stored entry of the sparse vector rows `rows`, flattened: its row, its column and
    its value. A column outside its row's size (`sizes`, one per row of the column) is a
    ``BadValueError`` naming the row."""
    import numpy as np

    i_off = indices.offsets.to_numpy()
    i_flat = indices.values.to_numpy(zero_copy_only=False)
    counts = (v_off[rows + 1] - v_off[rows]).astype(np.int64)
    # Element positions of every stored entry of the sparse rows, flattened.
    pos_v = np.repeat(v_off[rows], counts) + _ranges(counts)
    pos_i = np.repeat(i_off[rows], counts) + _ranges(counts)
    cols = i_flat[pos_i].astype(np.int64)
    row_of = np.repeat(rows, counts)
    wrong = np.flatnonzero((cols < 0) | (cols >= sizes[row_of]))
    if wrong.size:
        row = int(row_of[wrong[0]])
        raise BadValueError(
            f"row {row}, column `{name}`: sparse vector index {int(cols[wrong[0]])} is outside 0..{int(sizes[row]) - 1}",
            column=name, row=row,
        )
    return row_of, cols, v_flat[pos_v]


def _ranges(counts: Any) -> Any:
    """``concatenate([arange(c) for c in counts])`` without a Python loop."""
    import numpy as np

    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    return np.arange(total, dtype=np.int64) - np.repeat(starts, counts)


# --- out: the bundle's Arrow -> Spark's ----------------------------------------------------


def _double_lists(a: pa.Array, mask: Any) -> pa.Array:
    """The rows of a FixedSizeList<f64> column as Spark's ``array<double>``: the values buffer
    reused under new offsets; `mask` marks null rows (None: none)."""
    pa = _pa()
    import numpy as np

    n, width = len(a), a.type.list_size
    values = a.values.slice(a.offset * width, n * width).cast(pa.float64())
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * np.int32(width))
    return pa.ListArray.from_arrays(offsets, values, type=_double_array_type(), mask=mask)


def _fixed_to_vector_struct(a: pa.Array) -> pa.Array:
    """A FixedSizeList<f64> column as Spark ML dense vectors (VectorUDT's Arrow struct)."""
    pa = _pa()
    import numpy as np

    n = len(a)
    typ = vector_arrow_type()
    vals = _double_lists(a, None)
    kind = pa.array(np.ones(n, dtype=np.int8))
    size = pa.nulls(n, pa.int32())
    indices = pa.nulls(n, typ.field("indices").type)
    mask = a.is_null() if a.null_count else None
    return pa.StructArray.from_arrays([kind, size, indices, vals], fields=list(typ), mask=mask)


def _fixed_to_double_array(a: pa.Array) -> pa.Array:
    """A FixedSizeList<f64> column as Spark ``array<double>``."""
    return _double_lists(a, a.is_null() if a.null_count else None)


def _tensor_to_spark(a: pa.Array, target: pa.DataType, shape: tuple[int, ...]) -> pa.Array:
    """A tensor output column as Spark's nested lists of type `target`. The runtime writes a
    fixed shape as one flat fixed-size list per row (Arrow's fixed-shape tensor): its values
    are split into one list level per dimension of `shape` under uniform offsets. A shape with
    symbolic dimensions comes as nested lists already, cast to Spark's element names and
    types."""
    pa = _pa()
    import numpy as np

    if isinstance(a.type, pa.BaseExtensionType):
        # pyarrow reads the runtime's fixed-shape tensor metadata as its extension type; the
        # storage is the flat fixed-size list.
        a = a.storage
    if not pa.types.is_fixed_size_list(a.type):
        return a.cast(target)
    n, width = len(a), a.type.list_size
    leaf = target
    for _ in shape:
        leaf = leaf.value_type
    start = a.offset * width
    arr = a.values.slice(start, n * width).cast(leaf)
    levels = []
    t = target
    for _ in shape:
        levels.append(t)
        t = t.value_type
    # Innermost level first: level k holds n * shape[0] * ... * shape[k-1] lists of shape[k].
    for k in reversed(range(len(shape))):
        count = n * int(np.prod(shape[:k], dtype=np.int64))
        # Computed in int64 and converted with a checked cast: a batch beyond Arrow's i32
        # offsets raises rather than wrapping.
        offsets = pa.array(np.arange(count + 1, dtype=np.int64) * shape[k], type=pa.int32())
        mask = a.is_null() if k == 0 and a.null_count else None
        arr = pa.ListArray.from_arrays(offsets, arr, type=levels[k], mask=mask)
    return arr


def _to_spark_arrow(a: pa.Array, target: pa.DataType, shape: tuple[int, ...] | None = None) -> pa.Array:
    """One output column in exactly the Arrow type Spark declared for it; `shape` is a tensor
    output's declared shape (None for other outputs)."""
    pa = _pa()
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    if shape is not None:
        return a if a.type == target else _tensor_to_spark(a, target, shape)
    if a.type == target:
        return a
    if pa.types.is_fixed_size_list(a.type):
        if _is_vector_struct(target):
            return _fixed_to_vector_struct(a)
        return _fixed_to_double_array(a)
    return a.cast(target)
