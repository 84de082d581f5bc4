"""ONNX models through the embedded Python API: `keel.load("model.onnx")` converts on reading,
and `Bundle.transform` takes numpy arrays of shape (rows, *shape) for tensor columns and gives
them back the same way. Compared with the outputs ONNX Runtime computed for the same inputs
(fixtures/onnx/cases.json, written by fixtures/onnx/generate.py) under the `onnx_f32`
tolerance; plus the errors a wrong tensor raises."""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pytest

from conftest import ROOT, assert_close

import keel

HERE = os.path.join(ROOT, "fixtures", "onnx")
with open(os.path.join(HERE, "cases.json")) as f:
    CASES = json.load(f)

# numpy's dtype for each bundle dtype the ONNX fixtures' inputs use.
NUMPY = {"f32": np.float32, "f64": np.float64, "i64": np.int64, "i32": np.int32}


def _inputs(bundle, case, one_row):
    dtypes = {f.name: NUMPY[f.dtype] for f in bundle.schema.inputs}
    arrays = {k: np.asarray(v, dtype=dtypes[k]) for k, v in case["inputs"].items()}
    # A fixed-shape model scores one row holding each whole tensor: add the row axis.
    return {k: v[None] for k, v in arrays.items()} if one_row else arrays


@pytest.mark.parametrize("name", sorted(CASES))
def test_onnx_models_score_like_onnx_runtime(name):
    case = CASES[name]
    bundle = keel.load(os.path.join(HERE, case["model"]))
    one_row = name == "fixed"
    out = bundle.transform(_inputs(bundle, case, one_row))
    for out_name, want in case["outputs"].items():
        got = out[out_name][0] if one_row else out[out_name]
        assert_close(got, want, "onnx_f32", f"{name}.{out_name}")


def test_tensor_fields_describe_their_shape():
    bundle = keel.load(os.path.join(HERE, "cnn.onnx"))
    (x,) = bundle.schema.inputs
    assert (x.name, x.dtype, x.shape, x.is_tensor, x.is_vector) == ("x", "f32", (1, 6, 6), True, False)
    (score,) = bundle.schema.outputs
    assert score.is_tensor and score.shape == (2,)


def test_a_pyarrow_table_of_tensors_round_trips():
    case = CASES["mlp"]
    bundle = keel.load(os.path.join(HERE, "mlp.onnx"))
    x = np.asarray(case["inputs"]["x"], dtype=np.float32)
    table = pa.table({"x": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()), 4)})
    out = bundle.transform(table)
    # Tensor outputs carry Arrow's canonical fixed-shape tensor type, which pyarrow knows.
    col = out.column("probability").combine_chunks()
    assert isinstance(col.type, pa.FixedShapeTensorType) and col.type.shape == [3]
    assert_close(col.to_numpy_ndarray(), case["outputs"]["probability"], "onnx_f32", "mlp via pyarrow")


def test_a_tensor_of_the_wrong_shape_or_dtype_is_refused_by_column():
    bundle = keel.load(os.path.join(HERE, "mlp.onnx"))
    with pytest.raises(keel.TensorShapeError) as e:
        bundle.transform({"x": np.zeros((2, 5), dtype=np.float32)})
    assert e.value.column == "x"
    embed = keel.load(os.path.join(HERE, "embed.onnx"))
    with pytest.raises(keel.ColumnTypeError) as e:
        embed.transform({"ids": np.zeros((2, 3), dtype=np.float32)})
    assert e.value.column == "ids"
    # An id outside the embedding table is the model's input error, not a crash.
    with pytest.raises(keel.InputError):
        embed.transform({"ids": np.full((1, 3), 99, dtype=np.int64)})


def test_an_unsupported_model_lists_every_op():
    with pytest.raises(keel.BundleError) as e:
        keel.load(os.path.join(HERE, "unsupported.onnx"))
    assert "Frobnicate" in str(e.value) and "Defrobnicate" in str(e.value)
