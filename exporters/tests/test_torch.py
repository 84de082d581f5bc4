"""PyTorch models through keel.

(a) The golden models of fixtures/pytorch (an MLP, ResNet-18- and MobileNetV2-shaped CNNs, a
MiniLM-shaped encoder, a DLRM-shaped net with EmbeddingBag, a TabTransformer-shaped net), each
exported by ``keel.torch.export`` and checked in with the outputs PyTorch computed
(fixtures/pytorch/generate.py): keel's scores must match PyTorch's within ``onnx_f32``. These
need no torch at test time. The max error per model is printed (``pytest -s``) and recorded as
a test property (``record_property``, in pytest's JUnit XML).

(b) Live: when torch imports, a small MLP and the DLRM-shaped net are exported afresh and
scored on fresh inputs against torch's own outputs, and the DLRM bundle must hold keel's fused
``nn.embedding_bag`` (no loop).
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

HERE = os.path.join(ROOT, "fixtures", "pytorch")
GOLDEN = sorted(
    d for d in os.listdir(HERE) if os.path.isfile(os.path.join(HERE, d, "io.json"))
)


def _case(name):
    with open(os.path.join(HERE, name, "io.json")) as f:
        return json.load(f)


def _graph_ops(path) -> list[str]:
    """Every op named in a bundle's graph (JSON encoding), nested graphs included."""
    with zipfile.ZipFile(path) as z:
        graph = json.loads(z.read("graph.json"))
    ops: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("op"), str):
                ops.append(node["op"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(graph)
    return ops


def test_all_six_golden_models_are_checked_in():
    assert GOLDEN == sorted(["dlrm", "minilm", "mlp", "mobilenet_v2", "resnet18", "tab_transformer"])


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_models_score_like_pytorch(name, record_property):
    case = _case(name)
    bundle = keel.load(os.path.join(HERE, name, "model.keel"))
    inputs = {k: np.asarray(v["data"], dtype=v["dtype"]) for k, v in case["inputs"].items()}
    out = bundle.transform(inputs)
    for out_name, want in case["outputs"].items():
        got = np.asarray(out[out_name])
        err = assert_close(got, want, case["tolerance"], f"{name}.{out_name} vs {case['reference']}")
        # ONNX Runtime's answer is recorded too: keel must agree with it as well.
        ort_err = assert_close(got, case["onnxruntime_outputs"][out_name], case["tolerance"],
                               f"{name}.{out_name} vs onnxruntime")
        record_property(f"{out_name}_max_error_vs_torch", err)
        record_property(f"{out_name}_max_error_vs_onnxruntime", ort_err)
        print(f"\n{name}.{out_name}: max |keel - torch| = {err:.3e}, |keel - onnxruntime| = {ort_err:.3e}")


def test_the_golden_dlrm_uses_the_fused_embedding_bag():
    ops = _graph_ops(os.path.join(HERE, "dlrm", "model.keel"))
    assert ops.count("nn.embedding_bag") == 3, ops
    assert not any("loop" in op.lower() for op in ops), ops


# --- live export ---------------------------------------------------------------------------


def _torch():
    torch = pytest.importorskip(
        "torch", reason="torch is not installed: the live keel.torch tests need it "
        "(pip install -r exporters/requirements-test.txt)",
        # A torch that is present but broken (a missing shared library) skips the same way.
        exc_type=ImportError,
    )
    if not hasattr(torch, "__version__"):
        # A folder named `torch` on the path (a namespace package) is not PyTorch.
        pytest.skip(f"`import torch` found {torch!r}, not PyTorch: the live keel.torch tests need it")
    return torch


def test_live_mlp_export_scores_like_torch(tmp_path):
    torch = _torch()
    import keel.torch

    torch.manual_seed(11)
    model = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.GELU(), torch.nn.Linear(12, 2))
    path = tmp_path / "mlp.keel"
    keel.torch.export(model, path, sample=torch.randn(4, 6), input_names=["x"])
    bundle = keel.load(path)
    assert [f.name for f in bundle.schema.inputs] == ["x"]
    assert bundle.manifest["producer"]["name"] == "keel.torch"
    x = torch.randn(37, 6)  # another batch size than the sample's: rows are the batch
    with torch.no_grad():
        want = model(x).numpy()
    err = assert_close(np.asarray(bundle.transform({"x": x.numpy()})["output"]), want.tolist(),
                       "onnx_f32", "live mlp")
    print(f"\nlive mlp: max |keel - torch| = {err:.3e}")


def test_live_dlrm_export_has_embedding_bag_and_scores_like_torch(tmp_path):
    torch = _torch()
    import keel.torch
    sys.path.insert(0, HERE)
    from torch_models import DLRM

    torch.manual_seed(12)
    model = DLRM().eval()
    g = torch.Generator().manual_seed(13)

    def batch(n):
        dense = torch.randn(n, 4, generator=g)
        sparse = torch.stack([torch.randint(0, t, (n, 3), generator=g) for t in (50, 40, 30)], dim=1)
        return dense, sparse

    path = tmp_path / "dlrm.keel"
    keel.torch.export(model, path, sample=batch(5), input_names=["dense", "sparse"])
    ops = _graph_ops(path)
    assert "nn.embedding_bag" in ops and not any("loop" in op.lower() for op in ops), ops
    dense, sparse = batch(23)
    with torch.no_grad():
        want = model(dense, sparse).numpy()
    got = keel.load(path).transform({"dense": dense.numpy(), "sparse": sparse.numpy()})["output"]
    err = assert_close(np.asarray(got), want.tolist(), "onnx_f32", "live dlrm")
    print(f"\nlive dlrm: max |keel - torch| = {err:.3e}")


def test_live_unsupported_ops_are_listed(tmp_path):
    torch = _torch()
    import keel.torch

    class Odd(torch.nn.Module):
        def forward(self, x):
            return torch.fft.rfft(x).abs()  # DFT: no keel op

    with pytest.raises(keel.UnsupportedError) as e:
        keel.torch.export(Odd(), tmp_path / "odd.keel", sample=torch.randn(3, 8))
    assert not (tmp_path / "odd.keel").exists()
    assert "DFT" in str(e.value) or "fft" in str(e.value).lower(), str(e.value)


def test_the_golden_minilm_takes_any_sequence_length():
    bundle = keel.load(os.path.join(HERE, "minilm", "model.keel"))
    (ids,) = bundle.schema.inputs
    assert ids.dims == ("seq",), ids
    ids = np.asarray(_case("minilm")["inputs"]["ids"]["data"], dtype=np.int64)[:, :9]
    # No recorded reference at length 9 (that is the live tests' job); a shorter sequence scores.
    out = np.asarray(bundle.transform({"ids": ids})["output"])
    assert out.shape == (ids.shape[0], 32) and np.isfinite(out).all()
