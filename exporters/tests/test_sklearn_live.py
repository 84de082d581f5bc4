"""End to end, live: every fixture case is trained with real scikit-learn, exported with
`keel.sklearn.export`, scored by the `keel` binary, and compared with scikit-learn's own
outputs computed in the same run (not the checked-in recordings)."""

from __future__ import annotations

import json
import os
import zipfile

import numpy as np
import pytest

from cases import CASES
from conftest import assert_close, frame_to_jsonl, run_keel
from generate import reference_outputs

import keel.sklearn


@pytest.mark.parametrize("name", sorted(n for n in CASES if not n.startswith("zz_pending_")))
def test_live_parity(name, tmp_path, keel_bin):
    est, X, outputs, tolerance, _ = CASES[name]()
    bundle = tmp_path / "model.keel"
    keel.sklearn.export(est, bundle, sample=X, name=name)
    manifest = json.loads(zipfile.ZipFile(bundle).read("manifest.json"))
    (tmp_path / "in.jsonl").write_bytes(frame_to_jsonl(X, manifest["inputs"]))
    res = run_keel(keel_bin, "score", str(bundle), str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "out.jsonl"))
    assert res.returncode == 0, res.stderr.decode()
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines() if line]
    assert len(rows) == len(X)
    want = reference_outputs(est, X, outputs)
    for col, ref in want.items():
        got = [r[col] for r in rows]
        ref = [np.nan if v is None else v for v in ref] if not isinstance(ref[0], list) else ref
        assert_close(got, ref, tolerance[col], f"{name}.{col}")
