"""Conformance target `python`: every case of the conformance suite (fixtures/conformance: the
scikit-learn, Spark, Spark saved-model and MLeap fixtures) scored through the Python API,
``keel.load(path).transform(pyarrow.Table)``, and compared with the framework's recorded outputs
under the named tolerances (conftest's ``TOLERANCES``, read from fixtures/tolerances.json) by the
suite's rules (fixtures/conformance/conformance_cases.py). Spark saved models are converted with
``keel convert --from spark-ml`` first, as a Python user without a JVM would. Prints the pass
count per family; fails on any mismatch."""

from __future__ import annotations

import os
import sys

import pyarrow as pa

import keel
from conftest import ROOT, TOLERANCES, run_keel

sys.path.insert(0, os.path.join(ROOT, "fixtures", "conformance"))
import conformance_cases as conformance  # noqa: E402

# Cases this target cannot run, with the reason. None: the Python API takes every input type
# the fixtures use.
SKIPS: dict[str, str] = {}


def _column(values: list, type_: pa.DataType) -> pa.Array:
    """A fixture column as Arrow of the bundle's declared type (non-finite floats are strings
    in io.json)."""
    if pa.types.is_floating(type_):
        return pa.array([conformance.number(v) if v is not None else None for v in values], type=type_)
    if pa.types.is_fixed_size_list(type_):
        rows = [None if r is None else [conformance.number(x) if x is not None else float("nan") for x in r] for r in values]
        return pa.array(rows, type=type_)
    return pa.array(values, type=type_)


def _bundle_path(case: conformance.Case, keel_bin: str, tmp_path) -> str:
    if case.family != "spark_saved":
        return case.model
    out = str(tmp_path / f"{case.name}.keel")
    args = ["convert", case.model, out, "--from", "spark-ml"]
    schema = case.sample_schema()
    if schema:
        args += ["--sample-schema", schema]
    r = run_keel(keel_bin, *args)
    assert r.returncode == 0, r.stderr.decode()
    return out


def _score(case: conformance.Case, keel_bin: str, tmp_path) -> dict:
    bundle = keel.load(_bundle_path(case, keel_bin, tmp_path))
    schema = bundle.input_schema
    table = pa.table({f.name: _column(case.inputs[f.name], f.type) for f in schema}, schema=schema)
    out = bundle.transform(table)
    return {name: out.column(name).to_pylist() for name in out.column_names}


def test_every_case_matches_its_framework_through_the_python_api(keel_bin, tmp_path):
    all_cases = conformance.cases()
    ids = {c.id for c in all_cases}
    failures = [f"skip list names `{s}`, which is not a case" for s in SKIPS if s not in ids]
    counts: dict[str, list[int]] = {}
    for case in all_cases:
        passed_run_skipped = counts.setdefault(case.family, [0, 0, 0])
        if case.id in SKIPS:
            passed_run_skipped[2] += 1
            continue
        passed_run_skipped[1] += 1
        try:
            problems = conformance.compare(case, _score(case, keel_bin, tmp_path), TOLERANCES)
        except Exception as e:  # a failure to score is this case's failure, not the run's
            problems = [f"{case.id}: cannot score: {type(e).__name__}: {e}"]
        if problems:
            failures += problems[:5]
        else:
            passed_run_skipped[0] += 1
    summary = "python: " + ", ".join(
        f"{family} {p}/{n}" + (f" ({s} skipped)" if s else "") for family, (p, n, s) in counts.items()
    )
    print(summary)
    # A family whose folder came up empty would pass silently: every family must have run.
    assert set(counts) == set(conformance.FAMILIES), counts
    for case_id, reason in SKIPS.items():
        print(f"  skipped {case_id}: {reason}")
    assert not failures, summary + "\n" + "\n".join(failures)
