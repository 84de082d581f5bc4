"""The Spark exporter's core: the stage registry, schema inference from ``sample_df``, the
choice of outputs, and ``export``.

A Spark ``PipelineModel`` is a list of stages, each reading columns of the frame by name and
adding new ones. The exporter replays that on names: every stage class has a converter with
two functions, registered with :func:`converter`:

- ``io(stage, available) -> (reads, writes)``: the Spark columns the stage reads and writes
  (``None`` when Spark would skip the stage: a ``StringIndexerModel`` whose input column is
  absent, as at prediction time without the label column). Used first, on names only, to pick
  the outputs and drop the stages they do not need.
- ``convert(ctx, stage, path)``: adds the stage's runtime nodes through ``ctx.b`` (a
  :class:`keel._bundle.GraphBuilder`), reading its inputs with ``ctx.get(name)`` and
  declaring each column it writes with ``ctx.put(col)``. Keel column names are Spark's.

Output rule (documented in ``keel.spark.export``): by default the bundle's outputs are the
columns the pipeline adds that no later stage reads, plus the ``prediction``,
``probability`` and ``rawPrediction`` columns of every predictor (even when a later stage,
such as ``IndexToString``, reads them); ``outputs=[...]`` picks columns explicitly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from keel import __version__
from keel._bundle import Col, GraphBuilder, write_bundle
from keel.errors import UnsupportedError

IoFn = Callable[[Any, set], "tuple[list[str], list[str]] | None"]
ConvertFn = Callable[["Ctx", Any, str], None]


@dataclass
class _Converter:
    io: IoFn
    convert: ConvertFn
    predictor: bool


_CONVERTERS: dict[type, _Converter] = {}

# The stage classes whose runtime op reads a sparse feature block as it is (see
# ``keel.spark._text``); any other stage reading one wider than DENSIFY_LIMIT is refused, as the
# runtime would refuse it (runtime/src/value.rs, ``DENSIFY_LIMIT``).
SPARSE_READERS: set[type] = set()
DENSIFY_LIMIT = 1 << 16


def converter(*classes: type, io: IoFn, predictor: bool = False) -> Callable[[ConvertFn], ConvertFn]:
    """Registers ``convert`` (and its ``io``) for exactly these classes: a subclass may change
    what a stage computes, so it is refused unless registered itself."""

    def deco(fn: ConvertFn) -> ConvertFn:
        for c in classes:
            _CONVERTERS[c] = _Converter(io, fn, predictor)
        return fn

    return deco


def supported_stages() -> list[str]:
    """Names of the Spark ML stage classes the exporter supports."""
    return sorted(c.__name__ for c in _CONVERTERS)


@dataclass
class Ctx:
    """What converters share: the graph builder and the typed columns known so far."""

    b: GraphBuilder
    cols: dict[str, Col] = field(default_factory=dict)
    # Columns that may hold nulls (declared nullable in the manifest when they are outputs).
    nullable: set[str] = field(default_factory=set)
    # The model and sample frame, for the column metadata Spark attaches along the pipeline
    # (IndexToString and VectorSlicer read labels and feature names from it).
    model: Any = None
    sample_df: Any = None
    _schema: Any = None

    def metadata(self, name: str) -> dict:
        """Spark's ML metadata of column ``name`` as the pipeline produces it on ``sample_df``
        (a lazy ``transform``: no Spark job runs)."""
        if self._schema is None:
            self._schema = self.model.transform(self.sample_df).schema
        try:
            return dict(self._schema[name].metadata or {})
        except KeyError:
            return {}

    def get(self, name: str, path: str) -> Col:
        """The column named ``name`` (a Spark column name)."""
        if name not in self.cols:
            raise UnsupportedError(f"column `{name}` is not available", path)
        return self.cols[name]

    def put(self, col: Col, nullable: bool = False) -> None:
        """Declares a column written by the current stage."""
        self.cols[col.name] = col
        if nullable:
            self.nullable.add(col.name)

    def node(self, stage: Any) -> str:
        """A fresh node name for a stage, from its class."""
        return self.b.unique(type(stage).__name__.lower())


# -- helpers converters share ---------------------------------------------------------------


def require(cond: bool, what: str, path: str, hint: str = "") -> None:
    """Refuses with :class:`UnsupportedError` unless ``cond``."""
    if not cond:
        raise UnsupportedError(what, path, hint)


def param(stage: Any, name: str) -> Any:
    """The value of param ``name`` (set or default), or ``None`` when it has neither."""
    p = stage.getParam(name) if stage.hasParam(name) else None
    if p is None or not stage.isDefined(p):
        return None
    return stage.getOrDefault(p)


def is_set(stage: Any, name: str) -> bool:
    """Whether param ``name`` was set explicitly."""
    return stage.hasParam(name) and stage.isSet(stage.getParam(name))


def in_out_cols(stage: Any) -> tuple[list[str], list[str]]:
    """A single- or multi-column transformer's input and output column names."""
    if is_set(stage, "inputCols"):
        return list(param(stage, "inputCols")), list(param(stage, "outputCols") or [])
    return [param(stage, "inputCol")], [param(stage, "outputCol")]


def handle_invalid(stage: Any, path: str, allowed: tuple[str, ...] = ("error", "keep")) -> str:
    """The stage's ``handleInvalid``, refusing ``skip`` (it drops rows; a scorer returns one
    answer per input row)."""
    v = param(stage, "handleInvalid") or "error"
    require(
        v in allowed,
        f"handleInvalid='{v}' is not supported",
        path,
        "'skip' drops rows; keel returns one result per input row. Use 'error' or 'keep'",
    )
    return v


def matrix_attr(ctx: "Ctx", key: str, m: Any) -> dict:
    """A ``[rows, cols]`` float matrix attribute: a dense tensor, or, for a wide matrix that is
    mostly one value per row (a model over 2^18 hashed features), the "filled" encoding of
    ``spark_common::filled_matrix``: ``[fill per row, flat indices, values]`` of the others."""
    import numpy as np

    m = np.asarray(m, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] <= 4096:
        return ctx.b.a_tensor(key, m)
    fills = []
    for row in m:
        vals, counts = np.unique(row, return_counts=True)
        fills.append(float(vals[int(np.argmax(counts))]))
    fill = np.asarray(fills)[:, None]
    mask = ~((m == fill) & (np.signbit(m) == np.signbit(fill)))
    index = np.flatnonzero(mask)
    if index.size * 16 >= m.size * 8 // 2:
        return ctx.b.a_tensor(key, m)
    return ctx.b.a_list(
        [ctx.b.a_f64s(f"{key}/fill", fills), ctx.b.a_i64s(f"{key}/index", index), ctx.b.a_f64s(f"{key}/values", m.ravel()[index])]
    )


def stage_doc(stage: Any, path: str) -> str:
    return f"{path} ({type(stage).__name__} {stage.uid})"


def io_in_out(stage: Any, available: set) -> tuple[list[str], list[str]]:
    """The ``io`` of a stage with Spark's single- or multi-column params (``inputCol(s)``,
    ``outputCol(s)``)."""
    return in_out_cols(stage)


def io_vector(stage: Any, available: set) -> tuple[list[str], list[str]]:
    """The ``io`` of a stage reading ``inputCol`` and writing ``outputCol``."""
    return [param(stage, "inputCol")], [param(stage, "outputCol")]


def vector_input(ctx: "Ctx", name: str, path: str) -> Col:
    """Input column `name`, which must be a vector."""
    c = ctx.get(name, path)
    require(c.width is not None, f"input column `{c.name}` must be a vector, found {c.dtype}", path)
    return c


def vector_values(v: Any) -> list[float]:
    """A fitted Spark ML vector (dense or sparse) as its values, zeros included."""
    return [float(x) for x in v.toArray()]


# -- schema inference -----------------------------------------------------------------------


def _infer_inputs(sample_df: Any) -> tuple[dict[str, Col], dict[str, str], dict[str, bool]]:
    """Typed columns from ``sample_df.schema``: the known ones, the reasons the others cannot
    be inputs (refused only if a stage reads them), and each column's nullability."""
    from pyspark.ml.linalg import VectorUDT
    from pyspark.sql import types as T

    cols: dict[str, Col] = {}
    bad: dict[str, str] = {}
    nullable: dict[str, bool] = {}
    for f in sample_df.schema.fields:
        name, dt = f.name, f.dataType
        nullable[name] = bool(f.nullable)
        if isinstance(dt, T.StringType):
            cols[name] = Col(name, "utf8", None, [name])
        elif isinstance(dt, T.DoubleType):
            cols[name] = Col(name, "f64", None, [name])
        elif isinstance(dt, T.FloatType):
            cols[name] = Col(name, "f32", None, [name])
        elif isinstance(dt, (T.LongType, T.IntegerType, T.ShortType, T.ByteType)):
            # Spark casts every integer type to double exactly before ML arithmetic; one keel
            # integer type covers them (the runtime accepts int32 and int64 Arrow columns).
            cols[name] = Col(name, "i64", None, [name])
        elif isinstance(dt, T.BooleanType):
            cols[name] = Col(name, "bool", None, [name])
        elif isinstance(dt, T.ArrayType) and isinstance(dt.elementType, T.StringType):
            # A list of strings per row (tokens): the bundle's `list<utf8>`. Null rows and null
            # elements reach the text ops as in Spark (which fail on a null row).
            cols[name] = Col(name, "list<utf8>", None, [name])
        elif isinstance(dt, VectorUDT):
            width = None
            attr = (f.metadata or {}).get("ml_attr") or {}
            if "num_attrs" in attr:
                width = int(attr["num_attrs"])
            else:
                row = sample_df.select(name).first()
                if row is not None and row[0] is not None:
                    width = int(row[0].size)
            if width is None:
                bad[name] = "a vector column whose size is unknown (no ml_attr metadata, no rows)"
            else:
                cols[name] = Col(name, "f64", width, [f"{name}[{i}]" for i in range(width)])
        else:
            bad[name] = f"Spark type {dt.simpleString()} is not supported as an input"
    return cols, bad, nullable


def _field(c: Col, nullable: bool) -> dict:
    f: dict = {"name": c.name, "dtype": c.dtype, "shape": [] if c.width is None else [c.width], "nullable": nullable}
    if c.width is not None:
        f["names"] = list(c.names)
    return f


def _flatten(model: Any, path: str) -> list[tuple[Any, str]]:
    from pyspark.ml import Pipeline, PipelineModel

    if isinstance(model, Pipeline):
        raise UnsupportedError("a Pipeline is not fitted; export the PipelineModel that fit() returns", path)
    if isinstance(model, PipelineModel):
        out: list[tuple[Any, str]] = []
        for i, s in enumerate(model.stages):
            out.extend(_flatten(s, f"{path}.stages[{i}]"))
        return out
    return [(model, path)]


def _predictor_cols(stage: Any) -> list[str]:
    return [c for c in (param(stage, n) for n in ("predictionCol", "probabilityCol", "rawPredictionCol")) if c]


def export(
    model: Any,
    path: str | os.PathLike,
    sample_df: Any,
    name: str | None = None,
    outputs: list[str] | None = None,
    metadata: dict[str, str] | None = None,
    network: Any = None,
    network_sample: Any = None,
    connect: dict[str, Any] | None = None,
    keep: list[str] | None = None,
) -> None:
    """Exports a fitted Spark ML ``PipelineModel`` (or one fitted model or transformer) to a
    keel bundle at ``path``.

    ``network``: a network fed by the pipeline, exported into the same bundle
    (:func:`keel.compose`): a PyTorch ``nn.Module`` (exported from ``network_sample``, its
    forward's inputs for a few rows), a keel bundle or an ONNX model. ``connect`` maps each
    network input to the pipeline columns it reads, e.g. ``{"cats": ["city_idx", "room_idx"],
    "dense": "scaled"}`` (StringIndexer's double indices are cast to the network's integer
    dtype, several columns stacked); ``keep`` lists pipeline outputs returned beside the
    network's. Without ``outputs``, the pipeline's outputs are then the connected columns.

    ``sample_df`` is a Spark DataFrame with the columns the pipeline is scored on (rows are
    not needed, except to size a vector column without ML metadata); its schema types the
    bundle's inputs. Only the columns the exported stages read become inputs.

    Outputs: by default, the columns the pipeline adds that no later stage reads, plus every
    predictor's ``prediction``/``probability``/``rawPrediction`` columns; ``outputs`` names
    them explicitly instead (any column the pipeline produces). Stages that nothing requested
    depends on are left out. Column names and meanings are Spark's: a classifier's
    ``prediction`` is the class index as a double.

    A ``StringIndexerModel`` whose input column is absent from ``sample_df`` is skipped, as
    Spark skips it (the usual label indexer at prediction time).

    Raises :class:`keel.UnsupportedError`, before writing anything, for any stage, parameter
    value or column type the runtime cannot reproduce exactly.
    """
    if network is not None:
        _export_with_network(model, path, sample_df, name, outputs, metadata, network,
                             network_sample, connect, keep)
        return
    import pyspark

    root = type(model).__name__
    stages = _flatten(model, root)
    for stage, spath in stages:
        if type(stage) not in _CONVERTERS:
            raise UnsupportedError(
                f"stage {type(stage).__module__}.{type(stage).__name__} is not supported",
                spath,
                "supported: " + ", ".join(supported_stages()),
            )
    cols, bad, nullable = _infer_inputs(sample_df)

    # Pass 1, on names: what each stage reads and writes, as Spark would run it on sample_df.
    available = set(cols) | set(bad)
    plan: list[tuple[Any, str, list[str], list[str]]] = []
    for stage, spath in stages:
        io = _CONVERTERS[type(stage)].io(stage, available)
        if io is None:
            continue
        reads, writes = io
        for c in reads:
            require(c in available, f"reads column `{c}`, which neither sample_df nor an earlier stage provides", spath)
        for c in writes:
            require(c not in available, f"writes column `{c}`, which already exists", spath, "Spark refuses this too")
            available.add(c)
        plan.append((stage, spath, list(reads), list(writes)))

    produced = [c for _, _, _, w in plan for c in w]
    if outputs is None:
        wanted: list[str] = []
        for k, (stage, _, _, writes) in enumerate(plan):
            later_reads = {c for _, _, r, _ in plan[k + 1 :] for c in r}
            keep_always = set(_predictor_cols(stage)) if _CONVERTERS[type(stage)].predictor else set()
            wanted.extend(c for c in writes if c not in later_reads or c in keep_always)
    else:
        wanted = list(outputs)
        for c in wanted:
            require(c in produced, f"requested output `{c}` is not produced by the pipeline", root)
        require(len(set(wanted)) == len(wanted), "requested outputs repeat a column", root)
    require(bool(wanted), "the pipeline produces no output column", root)

    # Keep only the stages the outputs depend on, walking back from them.
    needed = set(wanted)
    keep: list[bool] = [False] * len(plan)
    for k in range(len(plan) - 1, -1, -1):
        _, _, reads, writes = plan[k]
        if needed & set(writes):
            keep[k] = True
            needed |= set(reads)
    input_names = [c for c in list(cols) + list(bad) if c in needed]
    for c in input_names:
        if c in bad:
            raise UnsupportedError(f"input column `{c}`: {bad[c]}", "sample_df")

    # Pass 2: convert the kept stages.
    b = GraphBuilder()
    ctx = Ctx(b, cols={c: cols[c] for c in input_names}, model=model, sample_df=sample_df)
    with b.pipeline("pipeline", doc=root):
        for k, (stage, spath, reads, writes) in enumerate(plan):
            if keep[k]:
                for c in reads:
                    col = ctx.cols.get(c)
                    require(
                        col is None or not getattr(col, "sparse", False) or type(stage) in SPARSE_READERS
                        or (col.width or 0) <= DENSIFY_LIMIT,
                        f"reads `{c}`, a sparse vector of {col.width if col else 0} features; this stage "
                        f"reads dense features and keel densifies at most {DENSIFY_LIMIT}",
                        spath,
                        "lower numFeatures/vocabSize, or feed the vector to IDF, LogisticRegression, "
                        "LinearRegression, LinearSVC or NaiveBayes",
                    )
                _CONVERTERS[type(stage)].convert(ctx, stage, spath)
                for c in writes:
                    require(c in ctx.cols, f"converter did not produce column `{c}`", spath)
    for c in wanted:
        col = ctx.cols[c]
        require(
            not getattr(col, "sparse", False) or (col.width or 0) <= DENSIFY_LIMIT,
            f"output `{c}` is a sparse vector of {col.width} features; bundle outputs are dense, "
            f"at most {DENSIFY_LIMIT} wide",
            root,
        )
    graph = b.root
    assert graph is not None
    write_bundle(
        path,
        name=name or root,
        producer={
            "name": "keel.spark",
            "version": __version__,
            "framework": "spark",
            "framework_version": pyspark.__version__,
        },
        inputs=[_field(cols[c], nullable.get(c, True)) for c in input_names],
        outputs=[_field(ctx.cols[c], c in ctx.nullable) for c in wanted],
        graph=graph,
        tensors=b.tensors,
        metadata=metadata,
    )


def _export_with_network(model, path, sample_df, name, outputs, metadata, network,
                         network_sample, connect, keep) -> None:
    """The pipeline exported on its own (its outputs: what the network reads and what is
    kept), then joined with the network by ``keel.compose``."""
    import tempfile

    from keel._bundle import write_atomic
    from keel._compose import compose_bytes

    if outputs is None:
        if not connect:
            raise ValueError("keel.spark.export with a network needs connect= (which pipeline "
                             "columns each network input reads) or outputs=")
        outputs = []
        for cols in connect.values():
            for c in [cols] if isinstance(cols, str) else cols:
                if c not in outputs:
                    outputs.append(c)
        outputs += [c for c in keep or [] if c not in outputs]
    with tempfile.TemporaryDirectory(prefix="keel-export-") as tmp:
        features = os.path.join(tmp, "features.keel")
        export(model, features, sample_df, name=name, outputs=outputs, metadata=metadata)
        data = compose_bytes(features, network, connect=connect, keep=keep, name=name,
                             network_sample=network_sample)
    write_atomic(path, data)
