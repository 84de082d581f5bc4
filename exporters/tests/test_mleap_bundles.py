"""MLeap Bundle.ML zips through the Python API: `keel.load` reads them directly (told apart
from keel bundles by content, as `keel score` and `keel serve` do) and scores every checked-in
MLeap fixture with the answers Spark recorded for it; a file that is neither format is refused
with a message that says what it is and what keel reads."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest

import keel
from conftest import ROOT, assert_close

MLEAP = os.path.join(ROOT, "fixtures", "mleap")
CASES = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(MLEAP, "*", "bundle.zip")))


def _io(name: str) -> dict:
    with open(os.path.join(MLEAP, name, "io.json")) as f:
        return json.load(f)


def test_there_are_mleap_fixtures():
    assert len(CASES) >= 10, CASES


@pytest.mark.parametrize("name", CASES)
def test_keel_load_scores_an_mleap_zip_as_spark_did(name):
    io_ = _io(name)
    bundle = keel.load(os.path.join(MLEAP, name, "bundle.zip"))
    assert bundle.manifest["producer"]["framework"] == "mleap"
    inputs = {}
    for field in bundle.manifest["inputs"]:
        values = io_["inputs"][field["name"]]
        inputs[field["name"]] = np.asarray(values, dtype=np.float64) if field["dtype"] == "f64" else values
    got = bundle.transform(inputs)
    for out, want in io_["outputs"].items():
        tol = io_.get("tolerance", {}).get(out, "exact")
        g = got[out]
        g = g.tolist() if hasattr(g, "tolist") else list(g)
        assert_close(g, want, tol, f"{name}.{out}")


def test_keel_load_refuses_what_is_neither_format(tmp_path):
    csv = tmp_path / "rows.keel"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(keel.BundleError) as e:
        keel.load(str(csv))
    assert "not a zip archive (a text file)" in str(e.value)
    assert "MLeap Bundle.ML" in str(e.value)
