"""Feature + network bundles (``keel.compose``, the exporters' ``network=``).

(a) The checked-in fixtures of ``fixtures/compose`` (scikit-learn and Spark pipelines into
PyTorch networks, references from the frameworks) are scored by the conformance suite on every
target; here their bundles are also checked to hold one pipeline and one network.

(b) Live, when torch imports: a scikit-learn ``ColumnTransformer`` fitted here feeds a torch MLP
trained on its output; ``keel.sklearn.export(..., network=mlp)`` writes one bundle whose scores
on fresh rows must match ``mlp(ct.transform(X))`` computed by scikit-learn and PyTorch. The same
through ``keel.compose`` on the two exported parts (paths and bytes, a bundle and an ONNX model),
and every wiring mistake is a ``keel.ComposeError`` naming the input and the columns, with
nothing written.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile

import numpy as np
import pytest

from conftest import ROOT, assert_close

import keel
import keel.sklearn

FIXTURES = os.path.join(ROOT, "fixtures", "compose")
sys.path.insert(0, os.path.join(ROOT, "fixtures"))


def _graph(path) -> dict:
    with zipfile.ZipFile(path) as z:
        return json.loads(z.read("graph.json"))


@pytest.mark.parametrize("case", ["sklearn_ct_mlp", "spark_indexer_embedding"])
def test_fixture_bundles_hold_the_pipeline_then_the_network(case):
    path = os.path.join(FIXTURES, case, "model.keel")
    bundle = keel.load(path)
    assert bundle.manifest["producer"]["name"] == "keel.compose"
    assert " + " in bundle.manifest["producer"]["framework"]
    children = _graph(path)["children"]
    assert children[0]["op"] == "pipeline" and children[-1]["op"] == "pipeline"
    assert children[-1]["name"].startswith("network/")
    # Classical inputs in, the network's tensor out.
    assert not any(f.is_tensor for f in bundle.schema.inputs)
    assert [f.name for f in bundle.schema.outputs] == ["output"]
    assert bundle.schema.outputs[0].dtype == "f32"


def _torch():
    torch = pytest.importorskip(
        "torch", reason="torch is not installed: the live keel.compose tests need it "
        "(pip install -r exporters/requirements-test.txt)", exc_type=ImportError,
    )
    if not hasattr(torch, "__version__"):
        pytest.skip(f"`import torch` found {torch!r}, not PyTorch")
    return torch


@pytest.fixture(scope="module")
def fitted():
    """A ColumnTransformer and a torch MLP trained on its output (a few steps; seeded)."""
    torch = _torch()
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from data import mixed_frame

    X, y, _ = mixed_frame(240, seed=21)
    ct = ColumnTransformer([
        ("num", Pipeline([("impute", SimpleImputer()), ("scale", StandardScaler())]),
         ["age", "income", "score", "visits"]),
        ("cat", OneHotEncoder(handle_unknown="ignore"), ["city", "room", "plan"]),
    ], sparse_threshold=0.0).fit(X)
    block = torch.tensor(ct.transform(X), dtype=torch.float32)
    torch.manual_seed(21)
    mlp = torch.nn.Sequential(torch.nn.Linear(block.shape[1], 8), torch.nn.Tanh(),
                              torch.nn.Linear(8, 2))
    opt = torch.optim.Adam(mlp.parameters(), lr=0.05)
    target = torch.tensor(np.stack([y, -y], axis=1), dtype=torch.float32) / 40
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.mse_loss(mlp(block), target).backward()
        opt.step()
    mlp.eval()
    fresh, _, _ = mixed_frame(50, seed=22)
    with torch.no_grad():
        want = mlp(torch.tensor(ct.transform(fresh), dtype=torch.float32)).numpy()
    return X, ct, mlp, fresh, want


def test_sklearn_export_with_a_network_scores_like_sklearn_then_torch(fitted, tmp_path):
    X, ct, mlp, fresh, want = fitted
    path = tmp_path / "model.keel"
    keel.sklearn.export(ct, path, sample=X.head(20), network=mlp, name="price_net")
    bundle = keel.load(path)
    assert bundle.name == "price_net"
    assert [f.name for f in bundle.schema.inputs] == list(X.columns)
    got = np.stack(bundle.transform(fresh)["output"])
    err = assert_close(got, want.tolist(), "onnx_f32", "ColumnTransformer + MLP")
    print(f"\nsklearn + torch: max |keel - torch(ct.transform)| = {err:.3e}")
    # One row at a time gives the same answer.
    row = {k: (None if isinstance(v, float) and np.isnan(v) else v)
           for k, v in fresh.iloc[0].to_dict().items()}
    one = bundle.transform_one(row)["output"]
    assert_close(np.asarray(one)[None, :], want[:1].tolist(), "onnx_f32", "transform_one")


def test_compose_takes_paths_bytes_and_onnx(fitted, tmp_path):
    torch = _torch()
    import keel.torch

    X, ct, mlp, fresh, want = fitted
    features = tmp_path / "prep.keel"
    keel.sklearn.export(ct, features, sample=X.head(20))
    sample = torch.tensor(ct.transform(X.head(4)), dtype=torch.float32)
    onnx = keel.torch.onnx_bytes(mlp, sample, input_names=["x"], output_names=["pred"])
    out = tmp_path / "model.keel"
    keel.compose(str(features), onnx, out, keep=["features"])
    bundle = keel.load(out)
    assert [f.name for f in bundle.schema.outputs] == ["pred", "features"]
    scored = bundle.transform(fresh)
    assert_close(np.stack(scored["pred"]), want.tolist(), "onnx_f32", "compose(path, onnx)")
    assert_close(np.stack(scored["features"]), ct.transform(fresh).tolist(), "f64_linear",
                 "the kept feature block")
    # A module with its sample, and the pipeline as bytes.
    keel.compose(features.read_bytes(), mlp, out, network_sample=sample)
    assert_close(np.stack(keel.load(out).transform(fresh)["output"]), want.tolist(), "onnx_f32",
                 "compose(bytes, module)")


def test_wiring_mistakes_are_compose_errors_and_write_nothing(fitted, tmp_path):
    torch = _torch()
    import keel.torch

    X, ct, mlp, _, _ = fitted
    features = tmp_path / "prep.keel"
    keel.sklearn.export(ct, features, sample=X.head(20))
    sample = torch.tensor(ct.transform(X.head(4)), dtype=torch.float32)
    out = tmp_path / "model.keel"
    cases = [
        ({"nope": "features"}, "`nope` is not an input of the network"),
        ({"input": "missing"}, "`missing` is not a column of the pipeline bundle"),
        ({"input": ["age", "income"]}, "cannot read `age` f64[] + `income` f64[]"),
        ({"input": "city"}, "cannot read `city` utf8[]"),
    ]
    for connect, message in cases:
        with pytest.raises(keel.ComposeError) as e:
            keel.compose(features, mlp, out, network_sample=sample, connect=connect)
        assert message in str(e.value), str(e.value)
        assert not out.exists()
    # A network output named like a pipeline column would shadow it.
    clash = keel.torch.bundle_bytes(mlp, sample, output_names=["score"])
    with pytest.raises(keel.ComposeError, match="output `score` would be written twice"):
        keel.compose(features, clash, out)
    # A network exported with fixed shapes has no batch dimension to share with the pipeline.
    fixed = keel.torch.bundle_bytes(mlp, sample[:1], dynamic_batch=False)
    with pytest.raises(keel.ComposeError, match="fixed input shapes"):
        keel.compose(features, fixed, out)
    with pytest.raises(ValueError, match="network_sample"):
        keel.compose(features, mlp, out)
