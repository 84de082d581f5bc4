"""The embedded scoring API: ``keel.load`` reads and plans a bundle once, and the returned
``Bundle`` scores data in the caller's process with keel's Rust runtime.

Data crosses into Rust without a per-row Python loop: Arrow tables and record batches (and any
object speaking the Arrow PyCapsule protocol, e.g. polars frames) are handed over through the
Arrow C data interface, so Rust reads pyarrow's buffers in place; pandas frames and dicts of
columns are first turned into Arrow arrays column by column (numpy buffers are shared, not
copied, where pyarrow allows). A single row takes a separate path, ``transform_one``, which
builds the one-row batch in Rust from a dict and returns a dict, with no pyarrow object on the
way.

The native module and pyarrow are imported on first use, so ``keel.sklearn`` (the exporter)
works without them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Union

from keel.errors import (
    BadValueError,
    ColumnTypeError,
    ExtraColumnError,
    MissingColumnError,
    RowCountError,
    TensorShapeError,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from keel import _native

PathOrBytes = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


def _native_module():
    try:
        from keel import _native
    except ImportError as e:  # pragma: no cover - depends on how keel was installed
        raise ImportError(
            "keel's native module (keel._native) is not built; install the package with "
            "`pip install ./exporters` (or `pip install -e exporters` for development)"
        ) from e
    return _native


@dataclass(frozen=True)
class Field:
    """One column of a bundle's input or output schema.

    ``dtype`` is one of ``f64 f32 i64 i32 bool utf8 list<utf8> binary`` (and, for tensors, ``f16
    bf16 i8 u8``); ``shape`` is ``()`` for one value per row, ``(n,)`` for a vector of n values
    per row, and any rank for a tensor per row (:attr:`is_tensor`), where ``dims`` names the
    symbolic dimensions (``""`` for a fixed one; a named one's ``shape`` entry is its upper
    bound); ``names`` names a vector's elements (the class labels of a probability vector),
    empty otherwise. ``list<utf8>`` holds a list of strings per row (tokens; Spark's
    ``array<string>``), always with shape ``()``; ``binary`` holds bytes per row (an encoded
    image), always with shape ``()``.
    """

    name: str
    dtype: str
    shape: tuple[int, ...] = ()
    nullable: bool = False
    names: tuple[str, ...] = ()
    doc: str = ""
    dims: tuple[str, ...] = ()

    @property
    def is_tensor(self) -> bool:
        """Whether each row holds a tensor (format 1.1): rank 2 or more, a symbolic dimension,
        or a rank-1 shape of another dtype than ``f64``."""
        return (len(self.shape) > 1 or any(self.dims)
                or (len(self.shape) == 1 and self.dtype != "f64"))

    @property
    def is_vector(self) -> bool:
        """Whether each row holds an ``f64`` vector of ``shape[0]`` values (a feature vector)."""
        return len(self.shape) == 1 and not self.is_tensor

    @classmethod
    def _from_manifest(cls, f: Mapping[str, Any], dims: Mapping[str, Any] | None = None) -> Field:
        return cls(
            name=f["name"],
            dtype=f["dtype"],
            shape=tuple(int(n) for n in f.get("shape", ())),
            nullable=bool(f.get("nullable", False)),
            names=tuple(f.get("names", ())),
            doc=f.get("doc", ""),
            dims=tuple((dims or {}).get(f["name"], ())),
        )


@dataclass(frozen=True)
class Schema:
    """A bundle's typed interface: the input and output columns, in order."""

    inputs: tuple[Field, ...]
    outputs: tuple[Field, ...]


def load(source: PathOrBytes, *, ignore_extra_columns: bool = False) -> Bundle:
    """Reads, verifies and plans a bundle.

    ``source`` is a path to a ``.keel`` file or the bundle's bytes. Every entry's digest is
    checked and every op resolved here, so a corrupt or unsupported bundle raises
    ``keel.BundleError`` (or its subclasses ``PlanError``, ``UnknownOpError``) now, never while
    scoring.

    ``ignore_extra_columns``: by default a frame with a column the bundle does not declare is
    refused (``ExtraColumnError``: a misspelt column should not pass silently); set it for
    frames that carry other data, as Spark frames do.
    """
    native = _native_module()
    origin = None
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        origin = os.fspath(source)
        with open(origin, "rb") as f:
            data = f.read()
    else:
        raise TypeError(f"keel.load takes a path or bytes, not {type(source).__name__}")
    model = native.Model.load(data, ignore_extra_columns=ignore_extra_columns, origin=origin)
    return Bundle(model, data)


class Bundle:
    """A loaded, planned bundle; make one with :func:`keel.load`.

    Immutable and thread-safe: share one between threads (scoring a batch releases the GIL).
    Picklable (it pickles as the bundle's bytes), so it can be shipped to Spark executors.
    """

    def __init__(self, model: _native.Model, data: bytes):
        self._model = model
        self._data = data
        # The hot path of transform_one is one attribute lookup and the native call.
        self._transform_one = model.transform_one
        if any(f.is_tensor for f in self.schema.inputs):
            # The native row builder takes scalars and vectors; a tensor row (a nested list or
            # an array) goes through the batch path as a batch of one.
            self._transform_one = self._tensor_row

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (self._data, self._model.ignore_extra_columns))

    def __repr__(self) -> str:
        ins = ", ".join(f.name for f in self.schema.inputs)
        outs = ", ".join(f.name for f in self.schema.outputs)
        return f"<keel.Bundle {self.name!r}: ({ins}) -> ({outs})>"

    # --- what the bundle is -------------------------------------------------------------

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """The manifest as a dict, in its JSON encoding (``bundle-spec/SPEC.md``): name,
        producer, typed inputs and outputs, metadata, and the digest of every entry."""
        return json.loads(self._model.manifest_json)

    @property
    def name(self) -> str:
        """The bundle's name."""
        return self.manifest["name"]

    @property
    def metadata(self) -> dict[str, str]:
        """Free-form metadata the exporter recorded (``export(..., metadata=...)``)."""
        return dict(self.manifest.get("metadata", {}))

    @cached_property
    def missing_strings(self) -> dict[str, str]:
        """What a missing value (an Arrow null) at each string input stands for, as the
        exporter settled it (``keel.missing_strings`` metadata, SPEC.md "Missing strings"):
        ``"none"`` (Python's ``None``), ``"nan"`` (``np.nan``) or ``"missing"`` (the model
        treats the two alike). Empty for bundles written before it was recorded."""
        raw = self.metadata.get("keel.missing_strings")
        if not raw:
            return {}
        try:
            out = json.loads(raw)
        except ValueError:
            return {}
        return {str(k): v for k, v in out.items() if v in ("none", "nan", "missing")} if isinstance(out, dict) else {}

    @cached_property
    def schema(self) -> Schema:
        """The input and output columns: name, dtype, shape, nullability, element names."""
        m = self.manifest
        try:
            dims = json.loads(m.get("metadata", {}).get("keel.dims", "{}"))
        except ValueError:
            dims = {}
        return Schema(
            inputs=tuple(Field._from_manifest(f, dims) for f in m["inputs"]),
            outputs=tuple(Field._from_manifest(f, dims) for f in m["outputs"]),
        )

    @cached_property
    def input_schema(self) -> pa.Schema:
        """The inputs as a ``pyarrow.Schema`` (what a frame handed to ``transform`` should
        look like; vectors are fixed-size lists of float64)."""
        return self._model.input_schema

    @cached_property
    def output_schema(self) -> pa.Schema:
        """The outputs as a ``pyarrow.Schema`` (what ``transform`` returns)."""
        return self._model.output_schema

    @property
    def ignore_extra_columns(self) -> bool:
        """Whether input columns outside the schema are ignored rather than refused."""
        return self._model.ignore_extra_columns

    # --- scoring -------------------------------------------------------------------------

    def transform(self, data: Any, *, threads: int = 1) -> Any:
        """Scores a frame and returns the outputs in the same kind of container:

        - ``pyarrow.Table`` -> ``pyarrow.Table`` (one output batch per input batch);
        - ``pyarrow.RecordBatch`` -> ``pyarrow.RecordBatch``;
        - ``pandas.DataFrame`` -> ``pandas.DataFrame`` with the input's index; a vector output
          (class probabilities) is a column whose cells are 1-D numpy float64 arrays, a
          ``list<utf8>`` output an object column whose cells are lists of ``str`` (``None``
          for a null);
        - a dict of columns (lists, numpy arrays, pyarrow arrays; a vector input as a 2-D
          array or a list of lists; a ``list<utf8>`` input as a list of lists of ``str``; a
          ``binary`` input as a list of ``bytes`` or ``None``) -> a
          dict of numpy arrays, a vector output as a 2-D ``(rows, width)`` array, a
          ``list<utf8>`` output as a list of lists of ``str``;
        - any other object with ``__arrow_c_stream__`` (e.g. a polars DataFrame) -> a
          ``pyarrow.Table``, with ``__arrow_c_array__`` -> a ``pyarrow.RecordBatch``.

        Columns are matched by name, in any order. Bad input raises a ``keel.InputError``
        subclass naming the column, the row (counted from 0 in ``data``) and the value.

        A missing string is one null in Arrow; it stands for what the bundle says
        (:attr:`missing_strings`: ``None`` or ``NaN``, which scikit-learn treats apart). A
        pandas frame tells the two apart, so a missing value of the other kind in a column
        where they differ raises ``keel.BadValueError`` naming the column and row.

        ``threads``: how many threads score each batch, in slices of at least 256 rows
        (``0``: one per core); outputs keep the input's row order, and the GIL is released.
        """
        model = self._model
        pa = _pyarrow()
        if isinstance(data, pa.Table):
            return model.transform_stream(_normalize(data, self.input_schema), threads)
        if isinstance(data, pa.RecordBatch):
            return model.transform_batch(_normalize(data, self.input_schema), threads)
        pd = sys.modules.get("pandas")
        if pd is not None and isinstance(data, pd.DataFrame):
            _check_missing_strings(data, self.missing_strings)
            out = model.transform_batch(self._batch({str(c): data[c] for c in data.columns}),
                                        threads)
            frame = out.to_pandas()
            frame.index = data.index
            for field, col in zip(out.schema, out.columns):
                # pyarrow gives numpy arrays per cell; the input took Python lists, so the
                # output gives them back as such.
                if _is_str_list(pa, field.type):
                    frame[field.name] = pd.Series(col.to_pylist(), index=data.index, dtype=object)
            return frame
        if isinstance(data, Mapping):
            return _to_numpy(model.transform_batch(self._batch(data), threads))
        if hasattr(data, "__arrow_c_stream__"):
            return model.transform_stream(data, threads)
        if hasattr(data, "__arrow_c_array__"):
            return model.transform_batch(data, threads)
        raise TypeError(
            "transform takes a pyarrow Table or RecordBatch, a pandas DataFrame, a dict of "
            f"columns or an Arrow PyCapsule object, not {type(data).__name__} (for one row as a "
            "dict of values, use transform_one)"
        )

    def transform_one(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Scores one row given as ``{column: value}`` and returns ``{output: value}``.

        Values are plain Python (or numpy scalar) values: a number for a numeric input (an
        integer, not ``3.0``, for an integer input), a ``str`` for a string input, a sequence
        of floats for a vector input, a list of ``str`` for a ``list<utf8>`` input, a nested
        list or numpy array for a tensor input, ``None`` for a missing value. Outputs are
        ``float``, ``int``, ``bool``, ``str`` or ``None``, a vector output is a list of floats,
        a tensor output a (nested) list and a ``list<utf8>`` output a list of ``str``.
        Equal to ``transform`` on a one-row frame, at a fraction of its fixed cost: the row
        is built into Arrow in Rust, with no pyarrow object made.
        """
        return self._transform_one(row)

    def _tensor_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        import numpy as np

        columns: dict[str, Any] = {}
        for f in self.schema.inputs:
            if f.name not in row:
                continue
            v = row[f.name]
            columns[f.name] = np.asarray(v)[None, ...] if f.is_tensor else [v]
        columns.update({k: [v] for k, v in row.items() if k not in columns})
        out = self.transform(columns)
        return {k: (v[0].tolist() if hasattr(v[0], "tolist") else v[0]) for k, v in out.items()}

    # --- columns to Arrow ------------------------------------------------------------------

    def _batch(self, columns: Mapping[Any, Any]) -> pa.RecordBatch:
        """A record batch of the bundle's inputs from a mapping of column name to values,
        converted column by column so a conversion failure names its column."""
        pa = _pyarrow()
        fields = self.schema.inputs
        if not self.ignore_extra_columns:
            known = {f.name for f in fields}
            for k in columns:
                if k not in known:
                    raise ExtraColumnError(
                        f"input column `{k}` is not part of the bundle's input schema", column=str(k)
                    )
        arrays, names = [], []
        for f in fields:
            if f.name not in columns:
                raise MissingColumnError(f"input column `{f.name}` is missing", column=f.name)
            arrays.append(_arrow_column(pa, columns[f.name], f))
            names.append(f.name)
        rows = len(arrays[0]) if arrays else 0
        for name, a in zip(names, arrays):
            if len(a) != rows:
                raise RowCountError(
                    f"input column `{name}` has {len(a)} rows, expected {rows}",
                    column=name, expected=rows, found=len(a),
                )
        return _normalize(pa.RecordBatch.from_arrays(arrays, names=names), self.input_schema)


def _check_missing_strings(frame: Any, meanings: Mapping[str, str]) -> None:
    """Refuses a pandas missing value of the other kind than the bundle's null stands for.

    pandas tells ``None`` from ``NaN`` (object columns hold either; a pandas 3 ``str`` column
    only ``NaN``) and so does scikit-learn, but Arrow has one null: where the model treats the
    two differently, a cell of the other kind would be scored as the wrong one, so it is
    refused, naming the column and the row, before anything is converted. ``pd.NA`` (which
    scikit-learn refuses in string columns) is taken as the bundle's null.
    """
    import math

    for name, meaning in meanings.items():
        if meaning not in ("none", "nan") or name not in frame.columns:
            continue
        s = frame[name]
        if not s.hasnans:
            continue
        # pandas 3 `str` and categorical columns give NaN for their missing values here,
        # object columns what they hold, `string[python]` pd.NA.
        for row, v in enumerate(s.tolist()):
            if meaning == "none":
                is_other = isinstance(v, float) and math.isnan(v)
            else:
                is_other = v is None
            if is_other:
                found = "None" if meaning == "nan" else "NaN"
                stands = "None" if meaning == "none" else "NaN"
                raise BadValueError(
                    f"row {row}, column `{name}`: a missing value given as {found}, but this bundle's missing "
                    f"`{name}` stands for {stands}, which the model treats differently (keel.missing_strings); "
                    f"give missing values of `{name}` as {stands}",
                    column=name, row=row, value=found,
                )


def _restore(data: bytes, ignore_extra_columns: bool) -> Bundle:
    return load(data, ignore_extra_columns=ignore_extra_columns)


def _pyarrow():
    import pyarrow

    return pyarrow


def _arrow_column(pa: Any, values: Any, field: Field) -> Any:
    """One input column as a pyarrow array. Types are inferred from the values; the runtime
    then checks them against the schema."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    try:
        if field.is_tensor:
            return _tensor_column(pa, values, field)
        if field.is_vector:
            return _vector_column(pa, values, field)
        if field.dtype == "list<utf8>":
            return _str_list_column(pa, values, field)
        if field.dtype == "binary":
            return _binary_column(pa, values, field)
        if sys.modules.get("pandas") is not None and type(values).__module__.startswith("pandas"):
            # pandas marks missing values as NaN or None; Arrow, as nulls.
            arr = pa.array(values, from_pandas=True)
        else:
            arr = pa.array(values)
        # A pandas 3 `str` column is pyarrow-backed: one made by `pd.concat` converts to a
        # ChunkedArray of its pieces, which a record batch cannot hold.
        return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    except ColumnTypeError:
        raise  # already names the column and row
    except (pa.ArrowException, TypeError, ValueError) as e:
        raise ColumnTypeError(
            f"input column `{field.name}`: expected {_declared(field)}, cannot convert "
            f"{type(values).__name__} ({e})",
            column=field.name, expected=_declared(field), found=type(values).__name__,
        ) from None


def _vector_column(pa: Any, values: Any, field: Field) -> Any:
    import numpy as np

    width = field.shape[0]
    if isinstance(values, np.ndarray) and values.dtype != object:
        arr = values
    else:
        # A list of lists, or a pandas column whose cells are arrays.
        try:
            arr = np.asarray(list(values), dtype=np.float64)
        except (TypeError, ValueError):
            arr = None
    if arr is not None and arr.ndim == 2 and arr.shape[1] == width and arr.dtype.kind in "fiub":
        flat = pa.array(np.ascontiguousarray(arr, dtype=np.float64).ravel())
        return pa.FixedSizeListArray.from_arrays(flat, width)
    # Ragged rows or None among them: let pyarrow check each row against the width.
    return pa.array(list(values), type=pa.list_(pa.float64(), width))


#: numpy dtypes of the tensor element types (bf16 travels as f32 in Arrow).
_NUMPY_DTYPES = {"f64": "float64", "f32": "float32", "bf16": "float32", "f16": "float16",
                 "i64": "int64", "i32": "int32", "i8": "int8", "u8": "uint8", "bool": "bool"}


def _tensor_column(pa: Any, values: Any, field: Field) -> Any:
    """A tensor column from an array of shape ``(rows, *shape)`` (or anything numpy makes one
    of): a flat fixed-size list for fixed shapes, nested lists where a dimension is symbolic.
    The runtime checks every row's shape against the declared one, naming the row."""
    import numpy as np

    want = np.dtype(_NUMPY_DTYPES[field.dtype])
    arr = np.asarray(values)
    if arr.dtype == object:
        raise ColumnTypeError(
            f"input column `{field.name}`: expected a tensor {field.dtype}{list(field.shape)} per "
            "row, found ragged or mixed rows",
            column=field.name, expected=f"{field.dtype}{list(field.shape)}", found="object",
        )
    if arr.ndim != 1 + len(field.shape):
        raise TensorShapeError(
            f"input column `{field.name}`: expected an array of shape (rows, "
            f"{', '.join(str(n) for n in field.shape)}), found {arr.shape}",
            column=field.name, expected=str(list(field.shape)), found=str(list(arr.shape[1:])),
        )
    if want.kind in "iub" and arr.dtype.kind == "f":
        raise ColumnTypeError(
            f"input column `{field.name}`: expected {field.dtype} elements, found {arr.dtype}",
            column=field.name, expected=field.dtype, found=str(arr.dtype),
        )
    flat = pa.array(np.ascontiguousarray(arr, dtype=want).ravel())
    if not any(field.dims):
        return pa.FixedSizeListArray.from_arrays(flat, int(np.prod(arr.shape[1:])))
    out = flat
    for level in range(arr.ndim - 1, 0, -1):
        count = int(np.prod(arr.shape[:level]))
        offsets = pa.array(np.arange(count + 1, dtype=np.int32) * arr.shape[level], pa.int32())
        out = pa.ListArray.from_arrays(offsets, out)
    return out


def _tensor_to_numpy(pa: Any, field: Any, col: Any) -> Any:
    """A tensor output column as one array of shape ``(rows, *shape)``."""
    import json

    import numpy as np

    if hasattr(col, "to_numpy_ndarray"):  # pyarrow's FixedShapeTensorArray
        return col.to_numpy_ndarray()
    meta = field.metadata or {}
    if meta.get(b"ARROW:extension:name") == b"arrow.fixed_shape_tensor":
        shape = json.loads(meta[b"ARROW:extension:metadata"])["shape"]
        return col.flatten().to_numpy(zero_copy_only=False).reshape(len(col), *shape)
    # Nested lists of one size per level (the runtime writes them so).
    shape, level = [len(col)], col
    while pa.types.is_list(level.type) or pa.types.is_large_list(level.type):
        inner = level.flatten()
        shape.append(len(inner) // max(len(level), 1))
        level = inner
    return np.asarray(level.to_numpy(zero_copy_only=False)).reshape(shape)


def _is_tensor_type(pa: Any, field: Any) -> bool:
    meta = field.metadata or {}
    return (hasattr(pa, "FixedShapeTensorType") and isinstance(field.type, pa.FixedShapeTensorType)) or (
        meta.get(b"ARROW:extension:name") == b"arrow.fixed_shape_tensor")


def _binary_column(pa: Any, values: Any, field: Field) -> Any:
    """A ``binary`` input: ``bytes`` (or ``bytearray``, ``memoryview``) or ``None`` per row. A
    ``str`` is refused naming its row: pyarrow would store its UTF-8 encoding, and base64 text
    is how bytes travel in JSON and CSV, not in Python."""
    cells = list(values)
    for row, cell in enumerate(cells):
        if cell is not None and not isinstance(cell, (bytes, bytearray, memoryview)):
            raise ColumnTypeError(
                f"input column `{field.name}`: expected binary (bytes or None), found "
                f"{type(cell).__name__} at row {row}",
                column=field.name, expected="binary", found=type(cell).__name__, row=row,
            )
    return pa.array([bytes(c) if isinstance(c, memoryview) else c for c in cells], pa.binary())


def _is_str_list(pa: Any, t: Any) -> bool:
    return (pa.types.is_list(t) or pa.types.is_large_list(t)) and (
        pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)
    )


def _str_list_column(pa: Any, values: Any, field: Field) -> Any:
    """A ``list<utf8>`` column from a sequence (list, numpy object array, pandas column)
    whose cells are lists, tuples or numpy arrays of ``str``/``None``, or ``None`` (a pandas
    NaN too) for a null row. A cell of another type is refused naming its row."""
    import numpy as np

    cells = list(values)
    for i, cell in enumerate(cells):
        if cell is None or (isinstance(cell, float) and cell != cell):
            cells[i] = None
            continue
        if isinstance(cell, (str, bytes, Mapping)) or not isinstance(cell, (list, tuple, np.ndarray)):
            raise ColumnTypeError(
                f"row {i}, column `{field.name}`: expected a list of str, found "
                f"{type(cell).__name__}",
                column=field.name, row=i, expected=field.dtype, found=type(cell).__name__,
            )
        for j, item in enumerate(cell):
            if item is not None and not isinstance(item, str):
                raise ColumnTypeError(
                    f"row {i}, column `{field.name}`: element {j} is "
                    f"{type(item).__name__}, expected str or None",
                    column=field.name, row=i, expected=field.dtype, found=type(item).__name__,
                )
    return pa.array(cells, type=pa.list_(pa.string()))


def _declared(field: Field) -> str:
    if field.is_tensor:
        return f"{field.dtype}{list(field.shape)}"
    return f"{field.dtype}[{field.shape[0]}]" if field.is_vector else field.dtype


def _normalize(data: Any, inputs: pa.Schema) -> Any:
    """Two lossless fixes before the runtime checks types: dictionary-encoded columns (pandas
    categoricals, Parquet) are decoded, and a column of nulls only (which pyarrow types as
    `null`) takes the declared type."""
    pa = _pyarrow()
    schema = data.schema
    if not any(pa.types.is_dictionary(t) or pa.types.is_null(t) for t in schema.types):
        return data
    cols = []
    for name, c, t in zip(schema.names, data.columns, schema.types):
        if pa.types.is_dictionary(t):
            c = c.cast(t.value_type)
        elif pa.types.is_null(t) and name in inputs.names:
            c = c.cast(inputs.field(name).type)
        cols.append(c)
    if isinstance(data, pa.Table):
        return pa.Table.from_arrays(cols, names=schema.names)
    return pa.RecordBatch.from_arrays(cols, names=schema.names)


def _to_numpy(batch: Any) -> dict[str, Any]:
    """A scored batch as a dict of numpy arrays; a vector column as a 2-D array."""
    pa = _pyarrow()
    out: dict[str, Any] = {}
    for field, col in zip(batch.schema, batch.columns):
        if _is_tensor_type(pa, field) or (
                pa.types.is_list(field.type) and not _is_str_list(pa, field.type)):
            out[field.name] = _tensor_to_numpy(pa, field, col)
        elif pa.types.is_fixed_size_list(field.type):
            width = field.type.list_size
            out[field.name] = col.flatten().to_numpy(zero_copy_only=False).reshape(len(col), width)
        elif _is_str_list(pa, field.type):
            out[field.name] = col.to_pylist()
        else:
            out[field.name] = col.to_numpy(zero_copy_only=False)
    return out
