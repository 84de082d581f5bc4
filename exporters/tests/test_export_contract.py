"""The exporter's contract: refusals name what is unsupported and leave nothing behind;
writes are atomic; the written bundle follows SPEC.md's container rules."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import keel
import keel.sklearn


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y


def test_unsupported_estimator_is_named_and_nothing_written(tmp_path, iris):
    X, y = iris
    est = make_pipeline(StandardScaler(), SVC()).fit(X, y)
    out = tmp_path / "m.keel"
    with pytest.raises(keel.UnsupportedError) as e:
        keel.sklearn.export(est, out, sample=X)
    assert "SVC" in str(e.value)
    assert "svc" in e.value.path.lower()
    assert list(tmp_path.iterdir()) == []


def test_failed_export_keeps_existing_file(tmp_path, iris):
    X, y = iris
    out = tmp_path / "m.keel"
    out.write_bytes(b"previous bundle")
    est = make_pipeline(StandardScaler(), SVC()).fit(X, y)
    with pytest.raises(keel.UnsupportedError):
        keel.sklearn.export(est, out, sample=X)
    assert out.read_bytes() == b"previous bundle"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keel"]


def test_unfitted_estimator_refused(tmp_path, iris):
    X, _ = iris
    with pytest.raises(keel.UnsupportedError, match="not a fitted"):
        keel.sklearn.export(LogisticRegression(), tmp_path / "m.keel", sample=X)
    assert not (tmp_path / "m.keel").exists()


def test_sample_with_wrong_columns_refused(tmp_path, iris):
    X, y = iris
    est = LogisticRegression(max_iter=500).fit(X, y)
    with pytest.raises(keel.UnsupportedError, match="column"):
        keel.sklearn.export(est, tmp_path / "m.keel", sample=X.iloc[:, :3])


def test_container_follows_spec(tmp_path, iris):
    X, y = iris
    est = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    out = tmp_path / "m.keel"
    keel.sklearn.export(est, out, sample=X, name="iris", metadata={"team": "ml"})
    z = zipfile.ZipFile(out)
    names = z.namelist()
    assert names[:2] == ["manifest.json", "graph.json"]
    m = json.loads(z.read("manifest.json"))
    assert m["format"] == "keel-bundle" and m["format_version"].startswith("1.")
    assert m["name"] == "iris" and m["metadata"]["team"] == "ml"
    # The sample's first row, by input name, as the example input.
    assert json.loads(m["metadata"]["keel.example"]) == X.iloc[0].to_dict()
    assert set(m["metadata"]) == {"team", "keel.example"}
    assert m["producer"]["framework"] == "scikit-learn"
    assert [f["name"] for f in m["inputs"]] == list(X.columns)
    assert [f["name"] for f in m["outputs"]] == ["label", "probability"]
    assert m["outputs"][1]["names"] == [str(c) for c in est.classes_]
    listed = {e["path"]: e for e in m["entries"]}
    assert set(listed) == set(names) - {"manifest.json"}
    for p, e in listed.items():
        data = z.read(p)
        assert hashlib.sha256(data).hexdigest() == e["sha256"] and len(data) == e["size"]
    for info in z.infolist():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        if info.filename.startswith("tensors/"):
            assert info.compress_type == zipfile.ZIP_STORED


def test_numpy_sample_names_columns_x0(tmp_path, iris):
    X, y = iris
    arr = X.to_numpy()
    est = LogisticRegression(max_iter=500).fit(arr, y)
    out = tmp_path / "m.keel"
    keel.sklearn.export(est, out, sample=arr)
    m = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert [f["name"] for f in m["inputs"]] == ["x0", "x1", "x2", "x3"]


def test_float32_column_refused(tmp_path, iris):
    X, y = iris
    X32 = X.astype({"sepal length (cm)": "float32"})
    est = LogisticRegression(max_iter=500).fit(X32, y)
    with pytest.raises(keel.UnsupportedError, match="sepal length.*float32"):
        keel.sklearn.export(est, tmp_path / "m.keel", sample=X32)
    assert list(tmp_path.iterdir()) == []


def test_example_row_keeps_types_and_missing_values(tmp_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.preprocessing import OneHotEncoder

    X = pd.DataFrame(
        {
            "size": [np.nan, 2.5, 3.0, 1.0],
            "rooms": np.array([3, 1, 2, 4], dtype=np.int64),
            "city": ["Paris", "Oslo", "Paris", "Rome"],
        }
    )
    y = [1.0, 2.0, 3.0, 4.0]
    est = make_pipeline(
        ColumnTransformer(
            [("num", "passthrough", ["rooms"]), ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"])]
        ),
        LinearRegression(),
    ).fit(X, y)
    out = tmp_path / "m.keel"
    keel.sklearn.export(est, out, sample=X)
    m = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    # NaN is missing (null); integers stay integers; key order follows the input schema.
    assert m["metadata"]["keel.example"] == '{"size":null,"rooms":3,"city":"Paris"}'
    # An explicit entry wins over the sample's.
    keel.sklearn.export(est, out, sample=X, metadata={"keel.example": "{}"})
    m = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert m["metadata"]["keel.example"] == "{}"


def test_example_row_from_numpy_sample(tmp_path, iris):
    X, y = iris
    arr = X.to_numpy()
    est = LogisticRegression(max_iter=500).fit(arr, y)
    out = tmp_path / "m.keel"
    keel.sklearn.export(est, out, sample=arr)
    m = json.loads(zipfile.ZipFile(out).read("manifest.json"))
    assert json.loads(m["metadata"]["keel.example"]) == {f"x{i}": float(v) for i, v in enumerate(arr[0])}
