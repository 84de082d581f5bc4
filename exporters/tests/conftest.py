"""Shared test fixtures: the `keel` binary, the fixture cases, and tolerances.

The tests drive the real command-line tool (`keel score`) as a user would; `KEEL_BIN` points
at it (scripts/test builds it), otherwise it is built here with cargo.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "fixtures"))


def _tolerances() -> dict[str, tuple[float, float] | None]:
    """The named tolerances, read from fixtures/tolerances.json, the one definition the Rust
    tests read too (`None` = exact)."""
    with open(os.path.join(ROOT, "fixtures", "tolerances.json")) as f:
        table = json.load(f)["tolerances"]
    return {
        name: None if t["kind"] == "exact" else (float(t["abs"]), float(t["rel"]))
        for name, t in table.items()
    }


TOLERANCES = _tolerances()


def spark_jar() -> str | None:
    """keel-spark.jar, the JVM engine (jvm/build.sh): KEEL_SPARK_JAR, else the cargo target
    directory's; None when it was not built."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    path = os.environ.get("KEEL_SPARK_JAR") or os.path.join(target, "keel-spark.jar")
    return path if os.path.exists(path) else None


# The JVM engine goes on the class path of every Spark JVM the tests start. Whichever test
# module starts Spark first launches the JVM (later sessions in this process reuse it, and
# spark.jars given to a later session would reach its executors but not the driver's class
# path), and the launch reads PYSPARK_SUBMIT_ARGS; subprocess drivers inherit it.
if spark_jar() and "PYSPARK_SUBMIT_ARGS" not in os.environ:
    os.environ["PYSPARK_SUBMIT_ARGS"] = f"--jars {spark_jar()} pyspark-shell"


@pytest.fixture(scope="session")
def keel_bin() -> str:
    path = os.environ.get("KEEL_BIN")
    if path:
        assert os.path.exists(path), f"KEEL_BIN={path} does not exist"
        return path
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    subprocess.run(["cargo", "build", "-q", "-p", "keel-cli", "--bin", "keel"], cwd=ROOT, check=True)
    return os.path.join(target, "debug", "keel")


def run_keel(keel_bin: str, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([keel_bin, *args], input=input, capture_output=True, timeout=300)


def frame_to_jsonl(X, fields: list[dict]) -> bytes:
    """Writes a DataFrame or array as JSON lines typed by the bundle's input fields."""
    if hasattr(X, "columns"):
        cols = {f["name"]: X[f["name"]].tolist() for f in fields}
    else:
        arr = np.asarray(X)
        cols = {f["name"]: arr[:, i].tolist() for i, f in enumerate(fields)}
    n = len(next(iter(cols.values())))
    lines = []
    for i in range(n):
        row = {}
        for f in fields:
            v = cols[f["name"]][i]
            if v is None or (isinstance(v, float) and math.isnan(v)):
                row[f["name"]] = None
            elif f["dtype"] in ("i64", "i32"):
                row[f["name"]] = int(v)
            elif f["dtype"] in ("f64", "f32"):
                # JSON has no literal for infinities; keel reads them as these strings.
                v = float(v)
                row[f["name"]] = v if math.isfinite(v) else ("Infinity" if v > 0 else "-Infinity")
            elif f["dtype"] == "bool":
                row[f["name"]] = bool(v)
            else:
                row[f["name"]] = str(v)
        lines.append(json.dumps(row))
    return ("\n".join(lines) + "\n").encode()


def frame_to_arrow(X, fields: list[dict], path) -> None:
    """Writes a DataFrame or array as an Arrow IPC file typed by the bundle's input fields
    (Arrow carries every f64 exactly, infinities included, which JSON cannot)."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    types = {"f64": pa.float64(), "f32": pa.float32(), "i64": pa.int64(), "i32": pa.int32(), "bool": pa.bool_(), "utf8": pa.string()}
    if hasattr(X, "columns"):
        cols = {f["name"]: X[f["name"]] for f in fields}
    else:
        arr = np.asarray(X)
        cols = {f["name"]: arr[:, i] for i, f in enumerate(fields)}
    arrays = []
    for f in fields:
        v = cols[f["name"]]
        v = v.to_numpy(dtype=object) if hasattr(v, "to_numpy") else np.asarray(v, dtype=object)
        v = [None if x is None or (isinstance(x, float) and math.isnan(x)) else x for x in v]
        arrays.append(pa.array(v, type=types[f["dtype"]]))
    table = pa.table(arrays, names=[f["name"] for f in fields])
    with ipc.new_file(str(path), table.schema) as w:
        w.write_table(table)


def _none_to_nan(v):
    if isinstance(v, list):
        return [_none_to_nan(x) for x in v]
    return np.nan if v is None else v


def assert_close(got, want, tol_name: str, what: str) -> float:
    """Compares keel's output with scikit-learn's under a named tolerance; returns max error."""
    tol = TOLERANCES[tol_name]
    want = np.asarray(_none_to_nan(list(want)))
    if want.dtype == object:
        want = np.asarray(list(want))
    if want.dtype.kind in ("U", "O", "S", "b") or tol is None and want.dtype.kind in ("i", "u"):
        got_arr = np.asarray(got, dtype=want.dtype)
        mismatch = np.nonzero(got_arr != want)[0]
        assert mismatch.size == 0, f"{what}: first mismatch at row {mismatch[:1]}: {got_arr[mismatch[:1]]} vs {want[mismatch[:1]]}"
        return 0.0
    g = np.asarray(got, dtype=np.float64)
    w = want.astype(np.float64)
    assert g.shape == w.shape, f"{what}: shape {g.shape} vs {w.shape}"
    both_nan = np.isnan(g) & np.isnan(w)
    err = np.where(both_nan, 0.0, np.abs(g - w))
    if tol is None:
        assert np.all(both_nan | (g == w)), f"{what}: not exactly equal (max err {np.nanmax(err):.3e})"
    else:
        a, r = tol
        ok = both_nan | (err <= a + r * np.abs(w))
        bad = np.argwhere(~ok)
        assert ok.all(), f"{what}: {bad.shape[0]} values outside {tol_name}; first at {bad[0].tolist()}: keel {g[tuple(bad[0])]!r} vs sklearn {w[tuple(bad[0])]!r}"
    return float(err.max()) if err.size else 0.0
