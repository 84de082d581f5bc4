"""The Python engine: ``DataFrame.mapInArrow`` through Spark's Python workers.

On the driver, :func:`_transform_python` broadcasts the bundle's bytes and ships a small
:class:`_Plan` with a picklable function. On a worker, the bundle is loaded (verified and
planned) the first time a task needs it and kept in a module-level cache keyed by its sha256,
so later tasks and jobs on that worker reuse it; each Arrow batch has the bundle's inputs
picked and converted (``_arrow``), goes through the Rust runtime as is, and comes back with
the outputs in the Arrow types Spark declared. A row the bundle refuses fails its task with
keel's own exception, plus where the row sits in the Spark partition. The SQL function
(``_sql``) scores on the same workers with the same cache and conversions.

Which bundle a task scores with is :class:`Versions`' answer: the one ``transform`` read, or,
in a stream with ``refreshInterval``, its micro-batch's record in the version store
(``_versions``), read once per partition, so a partition never mixes versions.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

import keel
from keel._api import Field
from keel.errors import InputError, MissingColumnError
from keel.spark_runtime._arrow import Converter, _input_converter, _pa, _to_spark_arrow
from keel.spark_runtime._plan import _broadcast, _large_strings, _output_arrow_type
from keel.spark_runtime._versions import read_stored, task_version

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

#: When this environment variable names a file, every Python worker appends one line
#: ``<pid> <sha256> <seconds>`` to it each time it loads a bundle (diagnostics: it shows that
#: a worker loads a bundle once and reuses it across tasks). Set it for the executors, e.g.
#: ``spark.executorEnv.KEEL_SPARK_LOAD_LOG``.
LOAD_LOG_ENV = "KEEL_SPARK_LOAD_LOG"

# --- the worker: the bundle cache -------------------------------------------------------

# sha256 -> Bundle, most recently used last. A Python worker serves many tasks (Spark reuses
# workers), so the bundle is read and planned once per worker, not once per task or batch.
_CACHE_SIZE = 8
_BUNDLES: collections.OrderedDict[str, keel.Bundle] = collections.OrderedDict()
_LOCK = threading.Lock()


def _worker_bundle(sha: str, source: Any) -> keel.Bundle:
    """The planned bundle `sha` in this process; `source` is a Spark Broadcast of its bytes
    (or the bytes themselves, or a callable returning them), read only on the first use."""
    with _LOCK:
        bundle = _BUNDLES.get(sha)
        if bundle is not None:
            _BUNDLES.move_to_end(sha)
            return bundle
        t = time.perf_counter()
        if isinstance(source, (bytes, bytearray)):
            data = source
        elif callable(source):
            data = source()
        else:
            data = source.value
        bundle = keel.load(data, ignore_extra_columns=True)
        _BUNDLES[sha] = bundle
        while len(_BUNDLES) > _CACHE_SIZE:
            _BUNDLES.popitem(last=False)
        log = os.environ.get(LOAD_LOG_ENV)
        if log:
            with open(log, "a") as f:
                f.write(f"{os.getpid()} {sha} {time.perf_counter() - t:.6f}\n")
        return bundle


# --- scoring a stream of batches --------------------------------------------------------------


@dataclass(frozen=True)
class Versions:
    """Which bundle a task scores with (``_versions``): the one ``transform`` read (`sha`,
    `uid`, broadcast as `source`), or, with a version `store` (a stream with
    ``refreshInterval``), its micro-batch's record in the store under `plan`."""

    sha: str
    uid: str
    source: Any  # a Broadcast of the bytes of bundle `sha`
    store: str | None = None
    plan: str = ""

    def task_bundle(self) -> tuple[keel.Bundle, str]:
        """The running task's bundle and its manifest uid."""
        sha, uid = task_version(self.store, self.plan, (self.sha, self.uid))
        if sha == self.sha:
            return _worker_bundle(sha, self.source), uid
        store = self.store
        assert store is not None
        return _worker_bundle(sha, lambda: read_stored(store, sha)), uid


@dataclass(frozen=True)
class _Plan:
    """What an executor needs to score: shipped (pickled) with the function, small."""

    versions: Versions
    outputs: tuple[tuple[str, str], ...]  # (bundle output name, Spark column name)
    out_types: tuple[Any, ...]  # the Arrow type Spark declared for each output
    out_shapes: tuple[Any, ...]  # a tensor output's declared shape (None for other outputs)
    keep_inputs: bool
    version_col: str | None = None  # the column receiving the scoring bundle's uid
    version_type: Any = None  # its Arrow type (string or large_string)


def _partition_id() -> int | None:
    try:
        from pyspark import TaskContext

        tc = TaskContext.get()
        return tc.partitionId() if tc is not None else None
    except Exception:  # noqa: BLE001 - only for the error message
        return None


def _in_partition(e: InputError, partition: int | None, offset: int) -> InputError:
    """`e` with where the row sits in Spark: the runtime counts rows within the Arrow batch;
    the partition row helps find it in the data."""
    where = f"Spark partition {partition}" if partition is not None else "Spark task"
    if e.row is not None:
        where += f", row {offset + e.row} of the partition (row {e.row} of an Arrow batch starting at partition row {offset})"
    err = _rebuild_error(e, f"{e} [{where}]")
    err.spark_partition = partition  # type: ignore[attr-defined]
    return err


def _rebuild_error(e: InputError, message: str) -> InputError:
    err = type(e).__new__(type(e))
    Exception.__init__(err, message)
    err.__dict__.update(e.__dict__)
    return err


def _struct_child(schema: pa.Schema, name: str) -> tuple[int, int] | None:
    """For input ``col.field`` with no column of its own: the positions of struct column
    ``col`` and of its child ``field`` (the driver's ``_plan._source`` rule)."""
    pa = _pa()
    col, dot, field = name.rpartition(".")
    if not dot or col not in schema.names:
        return None
    t = schema.field(schema.names.index(col)).type
    if not pa.types.is_struct(t) or t.get_field_index(field) < 0:
        return None
    return schema.names.index(col), t.get_field_index(field)


class _Inputs:
    """Picks the bundle's inputs out of a Spark batch, converted where Spark's Arrow types
    differ from the bundle's; the conversions are chosen once, from the first batch's types.
    An input ``col.field`` without a column of its own is read from struct column ``col``
    (Spark's image struct: ``image.data``, ``image.height``...)."""

    def __init__(self, bundle: keel.Bundle):
        self.fields = bundle.schema.inputs
        self.schema: Any = None
        self.plan: list[tuple[int, int | None, Converter]] = []

    def batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        pa = _pa()
        if batch.schema is not self.schema and batch.schema != self.schema:
            names = batch.schema.names
            plan: list[tuple[int, int | None, Converter]] = []
            for f in self.fields:
                if f.name in names:
                    i = names.index(f.name)
                    plan.append((i, None, _input_converter(f, batch.schema.field(i).type)))
                    continue
                child = _struct_child(batch.schema, f.name)
                if child is None:
                    raise MissingColumnError(f"input column `{f.name}` is missing", column=f.name)
                t = batch.schema.field(child[0]).type.field(child[1]).type
                plan.append((child[0], child[1], _input_converter(f, t)))
            self.plan, self.schema = plan, batch.schema
        cols = []
        flat: dict[int, list[pa.Array]] = {}
        for i, child, conv in self.plan:
            c = batch.column(i)
            if child is not None:
                # flatten() gives the children with the struct's own nulls applied, so a null
                # image is a null `data` row, refused by the op naming it.
                if i not in flat:
                    flat[i] = c.flatten()
                c = flat[i][child]
            cols.append(c if conv is None else conv(c))
        return pa.RecordBatch.from_arrays(cols, names=[f.name for f in self.fields])


def _score_batches(plan: _Plan, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function: scores each batch and appends the outputs (or returns
    them alone), in the Arrow types Spark declared."""
    pa = _pa()
    # Once per partition: a micro-batch's tasks all resolve the same version (``_versions``).
    bundle, uid = plan.versions.task_bundle()
    model = bundle._model
    inputs = _Inputs(bundle)
    out_index = {f.name: i for i, f in enumerate(bundle.schema.outputs)}
    picks = [out_index[name] for name, _ in plan.outputs]
    out_fields = [pa.field(spark_name, t) for (_, spark_name), t in zip(plan.outputs, plan.out_types)]
    if plan.version_col is not None:
        out_fields.append(pa.field(plan.version_col, plan.version_type))
    partition = _partition_id()
    offset = 0
    for batch in batches:
        rows = batch.num_rows
        if rows == 0:
            cols = [pa.array([], type=t) for t in plan.out_types]
        else:
            try:
                scored = model.transform_batch(inputs.batch(batch))
            except InputError as e:
                raise _in_partition(e, partition, offset) from None
            cols = [_to_spark_arrow(scored.column(i), t, shape)
                    for i, t, shape in zip(picks, plan.out_types, plan.out_shapes)]
        offset += rows
        if plan.version_col is not None:
            cols.append(pa.array([uid] * rows, type=plan.version_type))
        if plan.keep_inputs:
            schema = pa.schema(list(batch.schema) + out_fields)
            yield pa.RecordBatch.from_arrays(list(batch.columns) + cols, schema=schema)
        else:
            yield pa.RecordBatch.from_arrays(cols, schema=pa.schema(out_fields))


class _MapFunction:
    """Picklable callable for ``mapInArrow`` (cloudpickle ships the plan, and the function by
    reference to this module, so the worker's module-level cache is the one used)."""

    def __init__(self, plan: _Plan):
        self.plan = plan

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return _score_batches(self.plan, batches)


# --- the driver -------------------------------------------------------------------------------


def _transform_python(frame: DataFrame, data: bytes, versions: Versions, outputs: list[Field], prefix: str,
                      keep_inputs: bool, out_schema: Any, version_col: str | None = None) -> DataFrame:
    """Scores `frame` with ``mapInArrow`` in the Python workers: the frame's columns are kept
    (``keepInputs``) or replaced by the outputs, named `prefix` + output name, then the
    scoring bundle's uid in `version_col` when set. `versions.source` is filled in here."""
    import dataclasses

    spark = frame.sparkSession
    large = _large_strings(spark)
    plan = _Plan(
        versions=dataclasses.replace(versions, source=_broadcast(spark, versions.sha, data)),
        outputs=tuple((f.name, prefix + f.name) for f in outputs),
        out_types=tuple(_output_arrow_type(f, "udt", large) for f in outputs),
        out_shapes=tuple(f.shape if f.is_tensor else None for f in outputs),
        keep_inputs=keep_inputs,
        version_col=version_col,
        version_type=_pa().large_string() if large else _pa().string(),
    )
    return frame.mapInArrow(_MapFunction(plan), out_schema)
