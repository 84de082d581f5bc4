"""The embedded Python API (`keel.load`, `Bundle.transform`, `Bundle.transform_one`) on the
checked-in fixtures: every fixture scored through every input kind (pyarrow Table and
RecordBatch, pandas DataFrame, dict of columns) and compared with scikit-learn's recorded
outputs (fixtures/sklearn/*/io.json) under the fixture's named tolerances; the single-row path
against the batch path; every exception class with its attributes; pickling; and scoring from
several Python threads at once with the GIL released."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pickle
import threading
import time
import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from conftest import ROOT, assert_close

import keel
import keel.sklearn

FIXTURES = os.path.join(ROOT, "fixtures", "sklearn")
CASES = sorted(d for d in os.listdir(FIXTURES) if os.path.exists(os.path.join(FIXTURES, d, "io.json")))
KINDS = ["table", "batch", "pandas", "dict"]


def bundle_path(case: str) -> str:
    return os.path.join(FIXTURES, case, "model.keel")


def read_io(case: str) -> dict:
    with open(os.path.join(FIXTURES, case, "io.json")) as f:
        return json.load(f)


def _num(v):
    """A JSON number of the fixtures (non-finite values are strings there; null stays None)."""
    if isinstance(v, str):
        return float(v)
    return v


def typed_columns(bundle: keel.Bundle, inputs: dict) -> dict[str, list]:
    """The fixture's inputs as Python lists, typed by the bundle's input schema."""
    cols = {}
    for f in bundle.schema.inputs:
        vals = inputs[f.name]
        cols[f.name] = [_num(v) for v in vals] if f.dtype in ("f64", "f32") else list(vals)
    return cols


PANDAS_MAJOR = int(pd.__version__.split(".")[0])


def to_frame(bundle: keel.Bundle, cols: dict[str, list], io_: dict | None = None) -> pd.DataFrame:
    """A pandas frame as a user would have it: floats with NaN, nullable ints, object strings
    whose missing values are the marker the fixture's rows held (io.json `missing_strings`:
    None by default, NaN where it says so), as `str` columns for a pandas 3 fixture under
    pandas 3."""
    kinds = (io_ or {}).get("missing_strings", {})
    str_dtype = "str" if PANDAS_MAJOR >= 3 and str((io_ or {}).get("pandas", "2")).startswith("3") else object
    data = {}
    for f in bundle.schema.inputs:
        v = cols[f.name]
        if f.dtype in ("f64", "f32"):
            data[f.name] = pd.Series([np.nan if x is None else x for x in v], dtype="float64")
        elif f.dtype in ("i64", "i32"):
            data[f.name] = pd.Series(v, dtype="Int64" if None in v else "int64")
        elif f.dtype == "bool":
            data[f.name] = pd.Series(v, dtype="boolean" if None in v else "bool")
        elif kinds.get(f.name) == "nan":
            data[f.name] = pd.Series([np.nan if x is None else x for x in v], dtype=str_dtype)
        else:
            data[f.name] = pd.Series(v, dtype=object)
    return pd.DataFrame(data)


def score(bundle: keel.Bundle, cols: dict[str, list], kind: str, io_: dict | None = None) -> dict[str, list]:
    """Scores `cols` through one input kind; returns each output as a list (vectors as lists
    of lists), checking on the way that the result has the container kind promised."""
    if kind == "table":
        out = bundle.transform(pa.table(cols))
        assert isinstance(out, pa.Table)
        assert out.schema == bundle.output_schema
        return {name: out.column(name).to_pylist() for name in out.column_names}
    if kind == "batch":
        out = bundle.transform(pa.RecordBatch.from_pydict(cols))
        assert isinstance(out, pa.RecordBatch)
        return {name: out.column(name).to_pylist() for name in out.schema.names}
    if kind == "pandas":
        frame = to_frame(bundle, cols, io_)
        frame.index = frame.index + 100  # the output keeps the input's index
        out = bundle.transform(frame)
        assert isinstance(out, pd.DataFrame)
        assert list(out.index) == list(frame.index)
        res = {}
        for f in bundle.schema.outputs:
            if f.is_vector:
                cells = out[f.name].tolist()
                assert all(isinstance(c, np.ndarray) and c.shape == f.shape for c in cells)
                res[f.name] = [c.tolist() for c in cells]
            else:
                res[f.name] = out[f.name].tolist()
        return res
    if kind == "dict":
        np_cols = {k: (np.asarray(v, dtype=np.float64) if all(isinstance(x, float) for x in v) else v) for k, v in cols.items()}
        out = bundle.transform(np_cols)
        assert isinstance(out, dict)
        res = {}
        for f in bundle.schema.outputs:
            arr = out[f.name]
            assert isinstance(arr, np.ndarray)
            if f.is_vector:
                assert arr.ndim == 2 and arr.shape[1] == f.shape[0]
            res[f.name] = arr.tolist()
        return res
    raise AssertionError(kind)


def compare(got: dict, io_: dict, case: str) -> None:
    for name, want in io_["outputs"].items():
        if isinstance(want[0], list):
            ref = [[_num(x) for x in row] for row in want]
        elif all(isinstance(v, (int, float)) or v in (None, "NaN", "Infinity", "-Infinity") for v in want):
            ref = [np.nan if v is None else _num(v) for v in want]
        else:
            ref = want
        val = got[name]
        if not isinstance(val[0], list):
            val = [np.nan if v is None else v for v in val]
        assert_close(val, ref, io_["tolerance"][name], f"{case}.{name}")


# --- loading ---------------------------------------------------------------------------


def test_load_from_path_and_bytes_agree():
    path = bundle_path("wine_linear_svc_str")
    with open(path, "rb") as f:
        data = f.read()
    from pathlib import Path

    loaded = [keel.load(path), keel.load(Path(path)), keel.load(data), keel.load(bytearray(data)), keel.load(memoryview(data))]
    tables = [b.transform(pa.table(typed_columns(b, read_io("wine_linear_svc_str")["inputs"]))) for b in loaded]
    assert all(t.equals(tables[0]) for t in tables)
    with pytest.raises(TypeError):
        keel.load(12)
    with pytest.raises(FileNotFoundError):
        keel.load(path + ".missing")


def test_schema_metadata_and_manifest():
    b = keel.load(bundle_path("mixed_hgb_clf"))
    m = b.manifest
    assert m["format"] == "keel-bundle" and b.name == m["name"] == "mixed_hgb_clf"
    assert b.metadata == m.get("metadata", {})
    assert [f.name for f in b.schema.inputs] == [f["name"] for f in m["inputs"]]
    dtypes = {f.name: f.dtype for f in b.schema.inputs}
    assert dtypes == {"age": "f64", "income": "f64", "score": "f64", "visits": "i64", "city": "utf8", "room": "utf8", "plan": "utf8"}
    label, proba = b.schema.outputs
    assert (label.name, label.dtype, label.shape, label.is_vector) == ("label", "utf8", (), False)
    assert (proba.name, proba.dtype, proba.shape) == ("probability", "f64", (3,))
    assert list(proba.names) == m["outputs"][1]["names"] and len(proba.names) == 3
    assert isinstance(b.input_schema, pa.Schema) and isinstance(b.output_schema, pa.Schema)
    assert b.input_schema.names == [f.name for f in b.schema.inputs]
    assert b.input_schema.field("visits").type == pa.int64()
    assert b.input_schema.field("city").type == pa.string()
    assert b.output_schema.field("probability").type == pa.list_(pa.field("item", pa.float64(), nullable=False), 3)
    assert "mixed_hgb_clf" in repr(b)


# --- parity through every input kind ----------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES)
def test_transform_matches_scikit_learn(case, kind):
    io_ = read_io(case)
    b = keel.load(bundle_path(case))
    got = score(b, typed_columns(b, io_["inputs"]), kind, io_)
    compare(got, io_, case)


def _same(a, b) -> bool:
    """Equality where NaN equals NaN (outputs may legitimately hold NaN, e.g. an ordinal
    encoder's encoded_missing_value)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("case", CASES)
def test_transform_one_equals_transform(case):
    io_ = read_io(case)
    b = keel.load(bundle_path(case))
    cols = typed_columns(b, io_["inputs"])
    rows = len(next(iter(cols.values())))
    ones = [b.transform_one({k: v[i] for k, v in cols.items()}) for i in range(rows)]
    # Bit for bit what the batch path gives the same one-row frame ...
    for i in (0, rows // 2, rows - 1):
        single = b.transform(pa.table({k: v[i : i + 1] for k, v in cols.items()}))
        assert _same(ones[i], {n: single.column(n)[0].as_py() for n in single.column_names})
    # ... and scikit-learn's answer for every row, under the fixture's tolerances.
    compare({f.name: [o[f.name] for o in ones] for f in b.schema.outputs}, io_, case)
    for o in ones:
        for f in b.schema.outputs:
            v = o[f.name]
            if f.is_vector:
                assert isinstance(v, list) and len(v) == f.shape[0] and all(isinstance(x, float) for x in v)
            else:
                assert isinstance(v, {"f64": float, "i64": int, "bool": bool, "utf8": str}[f.dtype])


def test_table_with_several_batches_and_categoricals():
    case = "mixed_hgb_clf"
    io_ = read_io(case)
    b = keel.load(bundle_path(case))
    cols = typed_columns(b, io_["inputs"])
    table = pa.table(cols)
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=2))
    assert chunked.column(0).num_chunks > 1
    assert b.transform(chunked).combine_chunks().equals(b.transform(table).combine_chunks())
    # pandas categoricals arrive as Arrow dictionaries and are decoded for the runtime.
    frame = to_frame(b, cols)
    for c in ("city", "room", "plan"):
        frame[c] = frame[c].astype("category")
    compare({k: v if not isinstance(v[0], np.ndarray) else [x.tolist() for x in v] for k, v in b.transform(frame).to_dict("list").items()}, io_, case)


def test_vector_input():
    # The exporters write scalar inputs only; a vector input (`X`, f64[10]) is made here by
    # rewriting diabetes_ridge's graph to read the ten features as one column, which the
    # bundle format allows. The reference stays scikit-learn's recorded output.
    case = "diabetes_ridge"
    io_ = read_io(case)
    with open(bundle_path(case), "rb") as f:
        data = f.read()
    names = [f["name"] for f in json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))["inputs"]]

    def graph(g):
        for n in _nodes(g):
            for binding in n.get("inputs", []):
                if binding["columns"] == names:
                    binding["columns"] = ["X"]

    def manifest(m):
        m["inputs"] = [{"name": "X", "dtype": "f64", "shape": [len(names)], "nullable": False, "names": names}]

    b = keel.load(_rewrite(data, graph, manifest))
    (x,) = b.schema.inputs
    assert (x.name, x.shape, x.names) == ("X", (10,), tuple(names))
    X = np.column_stack([np.asarray(io_["inputs"][n], dtype=np.float64) for n in names])
    want = io_["outputs"]["prediction"]
    for data_ in (X, X.tolist(), list(X)):
        assert_close(b.transform({"X": data_})["prediction"], want, "f64_linear", "vector dict")
    table = pa.table({"X": pa.FixedSizeListArray.from_arrays(pa.array(X.ravel()), 10)})
    assert_close(b.transform(table).column("prediction").to_pylist(), want, "f64_linear", "vector table")
    frame = pd.DataFrame({"X": list(X)})
    assert_close(b.transform(frame)["prediction"].tolist(), want, "f64_linear", "vector pandas")
    ones = [b.transform_one({"X": row})["prediction"] for row in X]
    assert ones == [b.transform_one({"X": row.tolist()})["prediction"] for row in X]
    assert_close(ones, want, "f64_linear", "vector transform_one")
    with pytest.raises(keel.ColumnTypeError) as e:
        b.transform_one({"X": [1.0, 2.0]})
    assert (e.value.column, e.value.expected) == ("X", "f64[10]")
    with pytest.raises(keel.ColumnTypeError) as e:
        b.transform_one({"X": "1,2,3"})
    assert e.value.found == "str"
    with pytest.raises(keel.MissingValueError):
        b.transform_one({"X": None})
    with pytest.raises((keel.ColumnTypeError, keel.InputError)):
        b.transform({"X": X[:, :4]})


# --- errors ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ridge():
    b = keel.load(bundle_path("diabetes_ridge"))
    return b, typed_columns(b, read_io("diabetes_ridge")["inputs"])


def test_missing_column(ridge):
    b, cols = ridge
    del_bmi = {k: v for k, v in cols.items() if k != "bmi"}
    for data in (pa.table(del_bmi), pa.RecordBatch.from_pydict(del_bmi), pd.DataFrame(del_bmi), del_bmi):
        with pytest.raises(keel.MissingColumnError) as e:
            b.transform(data)
        assert e.value.column == "bmi" and "`bmi` is missing" in str(e.value)
        assert isinstance(e.value, keel.InputError) and isinstance(e.value, keel.KeelError)
    with pytest.raises(keel.MissingColumnError) as e:
        b.transform_one({k: v[0] for k, v in del_bmi.items()})
    assert e.value.column == "bmi"


def test_extra_column_refused_unless_ignored(ridge):
    b, cols = ridge
    extra = dict(cols, zip_code=["x"] * len(cols["age"]))
    for data in (pa.table(extra), pd.DataFrame(extra), extra):
        with pytest.raises(keel.ExtraColumnError) as e:
            b.transform(data)
        assert e.value.column == "zip_code"
    with pytest.raises(keel.ExtraColumnError) as e:
        b.transform_one({k: v[0] for k, v in extra.items()})
    assert e.value.column == "zip_code"

    lenient = keel.load(bundle_path("diabetes_ridge"), ignore_extra_columns=True)
    assert lenient.ignore_extra_columns and not b.ignore_extra_columns
    want = b.transform(pa.table(cols))
    assert lenient.transform(pa.table(extra)).equals(want)
    assert lenient.transform(pd.DataFrame(extra))["prediction"].tolist() == want.column("prediction").to_pylist()
    assert lenient.transform(extra)["prediction"].tolist() == want.column("prediction").to_pylist()
    assert lenient.transform_one({k: v[0] for k, v in extra.items()}) == b.transform_one({k: v[0] for k, v in cols.items()})


def test_wrong_type(ridge):
    b, cols = ridge
    bad = dict(cols, bmi=[str(v) for v in cols["bmi"]])
    for data in (pa.table(bad), pd.DataFrame(bad), bad):
        with pytest.raises(keel.ColumnTypeError) as e:
            b.transform(data)
        # pandas 3's `str` columns reach Arrow as large strings, pandas 2's object columns as strings.
        assert e.value.column == "bmi" and e.value.expected == "f64" and e.value.found in ("Utf8", "LargeUtf8")
        assert isinstance(e.value, TypeError) and isinstance(e.value, keel.InputError)
    with pytest.raises(keel.ColumnTypeError) as e:
        b.transform_one(dict({k: v[0] for k, v in cols.items()}, bmi="27.1"))
    assert (e.value.column, e.value.expected, e.value.found) == ("bmi", "f64", "str")
    # A dict column that is not a column at all names the column too.
    with pytest.raises(keel.ColumnTypeError) as e:
        b.transform(dict(cols, bmi=27.1))
    assert e.value.column == "bmi"
    with pytest.raises(TypeError):
        b.transform([1, 2, 3])
    with pytest.raises(TypeError):
        b.transform_one([("age", 1.0)])


def test_integer_input_refuses_floats():
    b = keel.load(bundle_path("mixed_hgb_clf"))
    row = {k: v[0] for k, v in typed_columns(b, read_io("mixed_hgb_clf")["inputs"]).items()}
    want = b.transform_one(row)
    assert b.transform_one(dict(row, visits=np.int64(row["visits"]))) == want
    with pytest.raises(keel.ColumnTypeError) as e:
        b.transform_one(dict(row, visits=float(row["visits"])))
    assert (e.value.column, e.value.expected, e.value.found) == ("visits", "i64", "float")
    with pytest.raises(keel.ColumnTypeError) as e:
        b.transform_one(dict(row, city=3))
    assert (e.value.column, e.value.expected, e.value.found) == ("city", "utf8", "int")
    # Booleans are not numbers, in one row as in a batch.
    for flag in (True, np.bool_(True)):
        for col in ("visits", "age"):
            with pytest.raises(keel.ColumnTypeError) as e:
                b.transform_one(dict(row, **{col: flag}))
            assert e.value.column == col
        with pytest.raises(keel.ColumnTypeError):
            b.transform({k: [flag] if k == "age" else [v] for k, v in row.items()})
    assert b.transform_one(dict(row, income=np.float32(row["income"]))) == b.transform_one(dict(row, income=float(np.float32(row["income"]))))


def test_nan_and_infinity_into_a_linear_model(ridge):
    b, cols = ridge
    nan = dict(cols, bmi=[v if i != 3 else math.nan for i, v in enumerate(cols["bmi"])])
    for data in (pa.table(nan), pd.DataFrame(nan), nan):
        with pytest.raises(keel.MissingValueError) as e:
            b.transform(data)
        assert (e.value.row, e.value.column, e.value.node) == (3, "bmi", "ridge")
    with pytest.raises(keel.MissingValueError) as e:
        b.transform_one({k: (math.nan if k == "bmi" else v[0]) for k, v in cols.items()})
    assert e.value.row == 0
    with pytest.raises(keel.MissingValueError):
        b.transform_one({k: (None if k == "bmi" else v[0]) for k, v in cols.items()})

    inf = dict(cols, s1=[v if i != 5 else math.inf for i, v in enumerate(cols["s1"])])
    with pytest.raises(keel.NonFiniteError) as e:
        b.transform(pa.table(inf))
    assert (e.value.row, e.value.column, e.value.value, e.value.node) == (5, "s1", math.inf, "standard_scaler")


def test_error_rows_count_from_the_start_of_a_table(ridge):
    b, cols = ridge
    n = len(cols["age"])
    bad = dict(cols, bmi=[v if i != n - 2 else math.nan for i, v in enumerate(cols["bmi"])])
    table = pa.Table.from_batches(pa.table(bad).to_batches(max_chunksize=3))
    with pytest.raises(keel.MissingValueError) as e:
        b.transform(table)
    assert e.value.row == n - 2


def test_empty_frame(ridge):
    b, cols = ridge
    empty = {k: v[:0] for k, v in cols.items()}
    for data in (pa.table(empty, schema=b.input_schema), pa.RecordBatch.from_pydict(empty, schema=b.input_schema),
                 pd.DataFrame({k: pd.Series([], dtype="float64") for k in cols}), {k: np.zeros(0) for k in cols}):
        with pytest.raises(keel.EmptyFrameError):
            b.transform(data)


def test_row_count_mismatch_in_a_dict(ridge):
    b, cols = ridge
    with pytest.raises(keel.RowCountError) as e:
        b.transform(dict(cols, s6=cols["s6"][:-1]))
    assert (e.value.column, e.value.expected, e.value.found) == ("s6", len(cols["age"]), len(cols["age"]) - 1)


def test_exception_tree():
    # The classes mirror the runtime's error kinds (runtime/src/error.rs); callers catch by
    # these, so the hierarchy is part of the API. (UnknownCategoryError and BadValueError have
    # no op raising them yet on this branch: the encoders that do are not merged.)
    for cls in (keel.MissingColumnError, keel.ExtraColumnError, keel.ColumnTypeError, keel.RowCountError,
                keel.EmptyFrameError, keel.MissingValueError, keel.NonFiniteError, keel.UnknownCategoryError,
                keel.BadValueError):
        assert issubclass(cls, keel.InputError) and issubclass(cls, ValueError)
    assert issubclass(keel.UnknownOpError, keel.PlanError) and issubclass(keel.PlanError, keel.BundleError)
    for cls in (keel.InputError, keel.BundleError, keel.UnsupportedError):
        assert issubclass(cls, keel.KeelError)
    assert not issubclass(keel.InputError, keel.BundleError)
    err = keel.UnknownCategoryError("row 4, column `city`: unknown category", column="city", row=4, value="lima", node="ohe")
    assert (err.column, err.row, err.value, err.node) == ("city", 4, "lima", "ohe")
    back = pickle.loads(pickle.dumps(err))
    assert (type(back), back.args, back.column, back.row, back.value) == (type(err), err.args, "city", 4, "lima")


def _rewrite(data: bytes, edit_graph, edit_manifest=None) -> bytes:
    """A copy of a bundle with its graph (and manifest) edited and its digests recomputed, so
    that what fails is the plan, not the integrity check."""
    src = zipfile.ZipFile(io.BytesIO(data))
    graph = json.loads(src.read("graph.json"))
    edit_graph(graph)
    docs = {n: src.read(n) for n in src.namelist() if n != "manifest.json"}
    docs["graph.json"] = json.dumps(graph).encode()
    manifest = json.loads(src.read("manifest.json"))
    if edit_manifest:
        edit_manifest(manifest)
    manifest["entries"] = [{"path": p, "sha256": hashlib.sha256(b).hexdigest(), "size": len(b)} for p, b in sorted(docs.items())]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest))
        for p, b in docs.items():
            z.writestr(p, b)
    return out.getvalue()


def _nodes(node):
    yield node
    for c in node.get("children", []):
        yield from _nodes(c)


def test_corrupt_bundles(tmp_path):
    with open(bundle_path("diabetes_ridge"), "rb") as f:
        data = f.read()
    flipped = bytearray(data)
    mid = len(flipped) // 2
    flipped[mid : mid + 16] = bytes(b ^ 0xFF for b in flipped[mid : mid + 16])
    for bad in (bytes(flipped), data[: len(data) // 2], b"", b"not a zip file at all"):
        with pytest.raises(keel.BundleError) as e:
            keel.load(bad)
        assert e.value.path is None and isinstance(e.value, ValueError)
    path = tmp_path / "broken.keel"
    path.write_bytes(bytes(flipped))
    with pytest.raises(keel.BundleError) as e:
        keel.load(path)
    assert e.value.path == str(path) and str(e.value).startswith(str(path))

    def unknown_op(g):
        next(n for n in _nodes(g) if n["op"] == "sklearn.linear")["op"] = "sklearn.no_such_op"

    with pytest.raises(keel.UnknownOpError) as e:
        keel.load(_rewrite(data, unknown_op))
    assert (e.value.node, e.value.op) == ("ridge", "sklearn.no_such_op")
    assert isinstance(e.value, keel.PlanError) and isinstance(e.value, keel.BundleError)

    def bad_attr(g):
        next(n for n in _nodes(g) if n["op"] == "sklearn.linear")["attrs"]["intercept"] = {"f64s": [1.0, 2.0, 3.0]}

    with pytest.raises(keel.PlanError) as e:
        keel.load(_rewrite(data, bad_attr))
    assert (e.value.node, e.value.op) == ("ridge", "sklearn.linear")
    assert not isinstance(e.value, keel.UnknownOpError)


def test_errors_and_bundles_pickle(ridge):
    b, cols = ridge
    try:
        b.transform_one({k: (math.nan if k == "bmi" else v[0]) for k, v in cols.items()})
    except keel.MissingValueError as err:
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is keel.MissingValueError and str(back) == str(err)
        assert (back.column, back.row, back.node) == (err.column, err.row, err.node)
    else:
        raise AssertionError("no error")
    b2 = pickle.loads(pickle.dumps(b))
    assert b2.name == b.name and b2.transform(pa.table(cols)).equals(b.transform(pa.table(cols)))
    lenient = pickle.loads(pickle.dumps(keel.load(bundle_path("diabetes_ridge"), ignore_extra_columns=True)))
    assert lenient.ignore_extra_columns


# --- threads ---------------------------------------------------------------------------


def test_threads_share_one_bundle():
    case = "digits_mlp_logistic"
    io_ = read_io(case)
    b = keel.load(bundle_path(case))
    cols = typed_columns(b, io_["inputs"])
    table = pa.table(cols)
    want = b.transform(table)
    rows = [{k: v[i] for k, v in cols.items()} for i in range(table.num_rows)]
    want_one = [b.transform_one(r) for r in rows]
    failures = []

    def work(seed: int) -> None:
        try:
            for i in range(20):
                assert b.transform(table).equals(want)
                j = (seed * 7 + i) % len(rows)
                assert b.transform_one(rows[j]) == want_one[j]
        except BaseException as e:  # pragma: no cover - reported below
            failures.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[0]


def test_scoring_a_batch_releases_the_gil():
    # While one thread scores a large batch, another must keep running Python: the longest
    # pause it sees must be far shorter than the scoring itself (a held GIL would stall it for
    # the whole call).
    case = "digits_mlp_logistic"
    b = keel.load(bundle_path(case))
    base = pa.table(typed_columns(b, read_io(case)["inputs"]))
    table = base
    while True:
        t0 = time.perf_counter()
        b.transform(table)
        took = time.perf_counter() - t0
        if took >= 0.3 or table.num_rows > 2_000_000:
            break
        table = pa.concat_tables([table] * 4).combine_chunks()
    worker = threading.Thread(target=b.transform, args=(table,))
    longest, last = 0.0, time.perf_counter()
    worker.start()
    while worker.is_alive():
        now = time.perf_counter()
        longest, last = max(longest, now - last), now
    worker.join()
    assert longest < took / 2, f"longest pause {longest:.3f}s while scoring took {took:.3f}s"


def test_the_exporter_does_not_load_the_native_module():
    # keel.sklearn runs where the runtime is not built (fixtures/generate.py, training jobs).
    import subprocess
    import sys

    code = "import sys, keel.sklearn; sys.exit('keel._native' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


# -- list<utf8> columns (lists of strings per row) ----------------------------------------------

LISTS = os.path.join(ROOT, "fixtures", "spark", "lists_array_stopwords_count_logreg")


def _lists_case() -> tuple[keel.Bundle, dict]:
    with open(os.path.join(LISTS, "io.json")) as f:
        return keel.load(os.path.join(LISTS, "model.keel")), json.load(f)


def test_list_columns_in_every_container():
    """A `list<utf8>` input taken from pyarrow (list<string> and large_list<large_string>),
    pandas (an object column of lists) and a dict (a list of lists), and the `list<utf8>`
    output returned the same way, equal to Spark's recorded answer (null tokens included)."""
    b, io_ = _lists_case()
    tokens, want = io_["inputs"]["tokens"], io_["outputs"]["filtered"]
    assert [(f.name, f.dtype, f.shape) for f in b.schema.inputs] == [("tokens", "list<utf8>", ())]
    assert b.schema.outputs[0].dtype == "list<utf8>"
    assert b.input_schema.field("tokens").type == pa.list_(pa.string())
    assert pa.types.is_list(b.output_schema.field("filtered").type)

    table = pa.table({"tokens": pa.array(tokens, type=pa.list_(pa.string()))})
    got = b.transform(table)
    assert got.column("filtered").to_pylist() == want
    large = pa.table({"tokens": pa.array(tokens, type=pa.large_list(pa.large_string()))})
    assert b.transform(large.to_batches()[0]).column("filtered").to_pylist() == want

    frame = b.transform(pd.DataFrame({"tokens": tokens}, index=np.arange(len(tokens)) + 100))
    assert list(frame.index) == list(np.arange(len(tokens)) + 100)
    assert frame["filtered"].tolist() == want
    assert all(isinstance(v, list) for v in frame["filtered"])
    assert_close(frame["probability"].tolist(), io_["outputs"]["probability"], "probability", "pandas probability")

    cols = b.transform({"tokens": tokens})
    assert cols["filtered"] == want
    assert_close(cols["prediction"], io_["outputs"]["prediction"], "exact", "dict prediction")
    # Tuples and numpy arrays of str are lists too.
    assert b.transform({"tokens": [tuple(t) for t in tokens]})["filtered"] == want
    assert b.transform({"tokens": [np.array(t, dtype=object) for t in tokens]})["filtered"] == want


def test_list_columns_one_row():
    b, io_ = _lists_case()
    for tokens, want in zip(io_["inputs"]["tokens"], io_["outputs"]["filtered"]):
        assert b.transform_one({"tokens": tokens})["filtered"] == want
    with pytest.raises(keel.ColumnTypeError) as e:
        b.transform_one({"tokens": "not a list"})
    assert e.value.column == "tokens"
    with pytest.raises(keel.ColumnTypeError) as e:
        b.transform_one({"tokens": ["a", 3]})
    assert e.value.column == "tokens" and "element 1" in str(e.value)


def test_list_columns_refuse_other_values_naming_column_and_row():
    b, _ = _lists_case()
    for bad, found in [("a b", "str"), (["a", 1], "int"), ({"a": 1}, "dict")]:
        with pytest.raises(keel.ColumnTypeError) as e:
            b.transform({"tokens": [["ok"], bad]})
        assert (e.value.column, e.value.row) == ("tokens", 1), e.value
        assert found in str(e.value), e.value
    # A null list fails in Spark's StopWordsRemover; keel names the column and row.
    with pytest.raises(keel.InputError) as e:
        b.transform({"tokens": [["ok"], None]})
    assert (e.value.column, e.value.row) == ("tokens", 1), e.value
    with pytest.raises(keel.ColumnTypeError) as e:
        b.transform(pa.table({"tokens": pa.array([[1, 2]], type=pa.list_(pa.int64()))}))
    assert e.value.column == "tokens" and "list<utf8>" in str(e.value)


def test_threads_score_in_slices_with_the_same_answer():
    import pandas as pd

    demo = os.path.join(ROOT, "fixtures", "demo")
    frame = pd.read_csv(os.path.join(demo, "airbnb.csv"))
    big = pd.concat([frame] * 200, ignore_index=True)  # 4,000 rows: several slices
    bundle = keel.load(os.path.join(demo, "airbnb_linear.keel"))
    one = bundle.transform(big)
    for threads in (2, 0):
        many = bundle.transform(big, threads=threads)
        pd.testing.assert_frame_equal(many, one)
    table = pa.Table.from_pandas(big, preserve_index=False)
    assert bundle.transform(table, threads=2).equals(bundle.transform(table))


# --- binary inputs: images --------------------------------------------------------------

IMAGES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "images")


def _image_bundle(tmp_path) -> tuple[keel.Bundle, dict]:
    """A hand-written bundle: `image` (binary) -> image.to_tensor -> nn.global_pool ->
    nn.flatten -> `means` f32[3], with the end-to-end case of fixtures/images/cases.json
    (Pillow's per-channel means)."""
    from keel._bundle import write_bundle

    with open(os.path.join(IMAGES, "cases.json")) as f:
        e2e = json.load(f)["end_to_end"]
    attrs = {}
    for k, v in e2e["attrs"].items():
        if isinstance(v, int):
            attrs[k] = {"i64": v}
        elif all(isinstance(x, int) for x in v):
            attrs[k] = {"i64s": v}
        else:
            attrs[k] = {"f64s": v}
    graph = {"name": "root", "op": "pipeline", "children": [
        {"name": "prep", "op": "image.to_tensor", "inputs": [{"port": "bytes", "columns": ["image"]}],
         "outputs": [{"port": "Y", "columns": ["pixels"]}], "attrs": attrs},
        {"name": "pool", "op": "nn.global_pool", "inputs": [{"port": "0", "columns": ["pixels"]}],
         "outputs": [{"port": "0", "columns": ["pooled"]}], "attrs": {"fn": {"str": "average"}}},
        {"name": "flat", "op": "nn.flatten", "inputs": [{"port": "0", "columns": ["pooled"]}],
         "outputs": [{"port": "0", "columns": ["means"]}], "attrs": {"axis": {"i64": 1}}},
    ]}
    path = tmp_path / "images.keel"
    write_bundle(
        path, name="image_means", producer={"name": "test", "version": "0", "framework": "none",
                                             "framework_version": "0"},
        inputs=[{"name": "image", "dtype": "binary", "shape": [], "nullable": True}],
        outputs=[{"name": "means", "dtype": "f32", "shape": [3], "nullable": False}],
        graph=graph, tensors={},
    )
    return keel.load(str(path)), e2e


def test_binary_inputs_take_bytes_and_score_images_as_pillow(tmp_path):
    b, e2e = _image_bundle(tmp_path)
    assert [(f.name, f.dtype, f.shape) for f in b.schema.inputs] == [("image", "binary", ())]
    assert b.input_schema.field("image").type == pa.binary()
    images = []
    for row in e2e["rows"]:
        with open(os.path.join(IMAGES, row["image"]), "rb") as f:
            images.append(f.read())
    want = [r["means"] for r in e2e["rows"]]
    got = b.transform({"image": images})["means"]
    assert_close(got.tolist(), want, "onnx_f32", "dict of bytes")
    # bytearray and memoryview are bytes too; pyarrow binary and large_binary columns as well.
    got = b.transform({"image": [bytearray(images[0]), memoryview(images[1])]})["means"]
    assert_close(got.tolist(), want[:2], "onnx_f32", "bytearray, memoryview")
    for t in (pa.binary(), pa.large_binary()):
        got = b.transform(pa.table({"image": pa.array(images, type=t)}))
        assert_close(got.column("means").to_pylist(), want, "onnx_f32", str(t))
    # transform_one reads bytes too, and gives the tensor output as a list; a null image
    # reaches the op and is refused there, by row.
    one = b.transform_one({"image": images[0]})["means"]
    assert_close([one], want[:1], "onnx_f32", "transform_one")
    with pytest.raises(keel.InputError) as e:
        b.transform_one({"image": None})
    assert (e.value.column, e.value.row) == ("image", 0), e.value


def test_binary_inputs_refuse_nulls_strings_and_junk_naming_column_and_row(tmp_path):
    b, e2e = _image_bundle(tmp_path)
    with open(os.path.join(IMAGES, "rgb.png"), "rb") as f:
        png = f.read()
    # A null image is refused by image.to_tensor, never scored as zeros.
    with pytest.raises(keel.InputError) as e:
        b.transform({"image": [png, None]})
    assert (e.value.column, e.value.row) == ("image", 1), e.value
    # A str (base64 text, say) is not bytes.
    with pytest.raises(keel.ColumnTypeError) as e:
        b.transform({"image": [png, "iVBORw0KGgo="]})
    assert (e.value.column, e.value.row) == ("image", 1), e.value
    with pytest.raises(keel.ColumnTypeError) as e:
        b.transform_one({"image": "iVBORw0KGgo="})
    assert e.value.column == "image"
    # Bytes that are no image, and a truncated PNG.
    for bad in (b"GIF89a", png[: len(png) // 2]):
        with pytest.raises(keel.BadValueError) as e:
            b.transform({"image": [png, bad]})
        assert (e.value.column, e.value.row) == ("image", 1), e.value


def test_a_pyarrow_backed_string_column_in_pieces_is_one_column():
    # pandas 3 `str` columns are pyarrow-backed; `pd.concat` leaves them in chunks.
    import pandas as pd

    demo = os.path.join(ROOT, "fixtures", "demo")
    frame = pd.read_csv(os.path.join(demo, "airbnb.csv"))
    bundle = keel.load(os.path.join(demo, "airbnb_linear.keel"))
    want = bundle.transform(frame)
    pieces = frame.copy()
    for c in frame.columns:
        if frame[c].dtype == object or str(frame[c].dtype) == "str":
            values = [None if isinstance(v, float) else v for v in frame[c]]
            half = len(values) // 2
            chunked = pa.chunked_array([values[:half], values[half:]], type=pa.string())
            pieces[c] = pd.Series(pd.arrays.ArrowExtensionArray(chunked), index=frame.index)
    pd.testing.assert_frame_equal(bundle.transform(pieces), want)
