"""What the Spark parity tests share: a local Spark session started under a deadline (a JVM
that never answers fails the run instead of hanging it), and collected Spark rows written as
an Arrow IPC file typed by a bundle's inputs, for `keel score` to read."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import zipfile

import pyarrow as pa
import pyarrow.ipc  # noqa: F401
import pytest

# How long a Spark session may take to start on these 2-core machines.
START_TIMEOUT_S = 240

ARROW = {"f64": pa.float64(), "f32": pa.float32(), "i64": pa.int64(), "bool": pa.bool_(), "utf8": pa.string(),
         "list<utf8>": pa.list_(pa.string())}


def started_spark(start_spark):
    """Starts Spark with `start_spark()` in a daemon thread and returns the session; skips when
    there is no Java, fails when Spark does not start within START_TIMEOUT_S."""
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Spark needs Java (no `java` on PATH, no JAVA_HOME)")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    result: dict = {}

    def start() -> None:
        try:
            result["spark"] = start_spark()
        except BaseException as e:  # noqa: BLE001 - reported below
            result["error"] = e

    # A daemon thread: if the JVM never answers, the test run fails and still exits.
    t = threading.Thread(target=start, daemon=True)
    t.start()
    t.join(START_TIMEOUT_S)
    if t.is_alive():
        pytest.fail(f"Spark did not start within {START_TIMEOUT_S} s")
    if "error" in result:
        pytest.fail(f"Spark failed to start: {result['error']!r}")
    return result["spark"]


def read_manifest(bundle) -> dict:
    return json.loads(zipfile.ZipFile(bundle).read("manifest.json"))


def arrow_inputs(rows, fields: list[dict], path) -> None:
    """Writes collected Spark rows as an Arrow IPC file typed by the bundle's inputs, keeping
    NULL (None) and NaN apart as Spark does; vectors become fixed-size lists."""
    arrays = []
    for f in fields:
        vals = [r[f["name"]] for r in rows]
        if f["shape"]:
            w = f["shape"][0]
            flat = [float(x) for v in vals for x in v.toArray()]
            arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float64()), w))
        else:
            if f["dtype"] in ("f64", "f32"):
                vals = [None if v is None else float(v) for v in vals]
            arrays.append(pa.array(vals, type=ARROW[f["dtype"]]))
    table = pa.table(arrays, names=[f["name"] for f in fields])
    with pa.ipc.new_file(str(path), table.schema) as w:
        w.write_table(table)
