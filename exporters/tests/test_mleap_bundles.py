"""MLeap Bundle.ML zips through the Python API: `keel.load` reads them directly (told apart
from keel bundles by content, as `keel score` and `keel serve` do; the conformance suite,
test_conformance.py, scores every checked-in MLeap fixture against Spark's answers); a file that
is neither format is refused with a message that says what it is and what keel reads."""

from __future__ import annotations

import glob
import os

import pytest

import keel
from conftest import ROOT

MLEAP = os.path.join(ROOT, "fixtures", "mleap")
CASES = sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(MLEAP, "*", "bundle.zip")))


def test_keel_load_reads_an_mleap_zip_as_mleap():
    """Every MLeap zip is read as MLeap (the answers, compared with Spark's, are the conformance
    suite's: test_conformance.py)."""
    assert len(CASES) >= 10, CASES
    for name in CASES:
        bundle = keel.load(os.path.join(MLEAP, name, "bundle.zip"))
        assert bundle.manifest["producer"]["framework"] == "mleap", name


def test_keel_load_refuses_what_is_neither_format(tmp_path):
    csv = tmp_path / "rows.keel"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(keel.BundleError) as e:
        keel.load(str(csv))
    assert "not a zip archive (a text file)" in str(e.value)
    assert "MLeap Bundle.ML" in str(e.value)
