"""Converters for Spark ML's feature transformers: VectorAssembler, StringIndexerModel,
OneHotEncoderModel, StandardScalerModel, MinMaxScalerModel, MaxAbsScalerModel, ImputerModel,
Bucketizer, Binarizer, Normalizer, PolynomialExpansion, IndexToString and PCAModel, each to its
``spark.*`` op (see runtime/docs/ops.md), and VectorSlicer to the generic ``select`` op.

Spark's multi-column transformers (``inputCols``/``outputCols``) map to one node whose ``X``
port binds the input columns and whose ``Y`` port binds one output column per input; the
single-column form is the same with one column.
"""

from __future__ import annotations

import math

from pyspark.ml.feature import (
    Binarizer,
    Bucketizer,
    ImputerModel,
    IndexToString,
    MaxAbsScalerModel,
    MinMaxScalerModel,
    Normalizer,
    OneHotEncoderModel,
    PCAModel,
    PolynomialExpansion,
    StandardScalerModel,
    StringIndexerModel,
    VectorAssembler,
    VectorSlicer,
)

from keel._bundle import Col
from keel.spark._core import Ctx, converter, handle_invalid, in_out_cols, is_set, param, require, stage_doc


def _io_in_out(stage, available):
    ins, outs = in_out_cols(stage)
    return ins, outs


def _io_vector(stage, available):
    return [param(stage, "inputCol")], [param(stage, "outputCol")]


def _vector_input(ctx: Ctx, stage, path: str) -> Col:
    c = ctx.get(param(stage, "inputCol"), path)
    require(c.width is not None, f"input column `{c.name}` must be a vector, found {c.dtype}", path)
    return c


def _values(v) -> list[float]:
    return [float(x) for x in v.toArray()]


# -- VectorAssembler -------------------------------------------------------------------------


@converter(VectorAssembler, io=lambda s, a: (list(param(s, "inputCols")), [param(s, "outputCol")]))
def _vector_assembler(ctx: Ctx, stage, path: str) -> None:
    mode = handle_invalid(stage, path)
    X = [ctx.get(c, path) for c in param(stage, "inputCols")]
    names: list[str] = []
    for c in X:
        require(c.is_numeric, f"column `{c.name}` holds strings; VectorAssembler takes numbers", path)
        names.extend(c.names)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "spark.vector_assembler", node, {"X": X}, {"Y": [out]},
        {"handle_invalid": ctx.b.a_str(mode)}, doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", len(names), names))


# -- StringIndexerModel ----------------------------------------------------------------------


def _indexer_pairs(stage, available) -> list[tuple[str, str, int]]:
    """(input, output, position in labelsArray) for the input columns that exist: Spark skips
    an indexer's column whose input is absent (with a warning) and indexes the others."""
    ins, outs = in_out_cols(stage)
    return [(i, o, k) for k, (i, o) in enumerate(zip(ins, outs)) if i in available]


def _indexer_io(stage, available):
    pairs = _indexer_pairs(stage, available)
    if not pairs:
        return None
    return [p[0] for p in pairs], [p[1] for p in pairs]


@converter(StringIndexerModel, io=_indexer_io)
def _string_indexer(ctx: Ctx, stage, path: str) -> None:
    mode = handle_invalid(stage, path)
    labels = stage.labelsArray
    pairs = _indexer_pairs(stage, set(ctx.cols))
    X = []
    for i, _, _ in pairs:
        c = ctx.get(i, path)
        require(
            c.width is None and c.dtype in ("utf8", "i64"),
            f"column `{i}` is {c.dtype}{'' if c.width is None else f'[{c.width}]'}; "
            "keel indexes string and integer columns",
            path,
            "Spark casts other types to text with its own number formatting",
        )
        X.append(c)
    node = ctx.node(stage)
    outs = [o for _, o, _ in pairs]
    ctx.b.stage(
        "spark.string_indexer", node, {"X": X}, {"Y": outs},
        {
            "labels": ctx.b.a_list([ctx.b.a_strs(labels[k]) for _, _, k in pairs]),
            "handle_invalid": ctx.b.a_str(mode),
        },
        doc=stage_doc(stage, path),
    )
    for o in outs:
        ctx.put(Col(o, "f64", None, [o]))


# -- OneHotEncoderModel ----------------------------------------------------------------------


@converter(OneHotEncoderModel, io=_io_in_out)
def _one_hot_encoder(ctx: Ctx, stage, path: str) -> None:
    mode = handle_invalid(stage, path)
    drop_last = bool(param(stage, "dropLast"))
    ins, outs = in_out_cols(stage)
    sizes = [int(s) for s in stage.categorySizes]
    require(len(sizes) == len(ins), f"{len(sizes)} category sizes for {len(ins)} columns", path)
    X = []
    for i in ins:
        c = ctx.get(i, path)
        require(c.width is None and c.is_numeric, f"column `{i}` must hold numbers (category indices)", path)
        X.append(c)
    node = ctx.node(stage)
    ctx.b.stage(
        "spark.one_hot_encoder", node, {"X": X}, {"Y": outs},
        {
            "sizes": ctx.b.a_i64s(f"{node}/sizes", sizes),
            "drop_last": ctx.b.a_bool(drop_last),
            "handle_invalid": ctx.b.a_str(mode),
        },
        doc=stage_doc(stage, path),
    )
    keep = mode == "keep"
    for i, o, size in zip(ins, outs, sizes):
        width = size - 1 if drop_last and not keep else size + 1 if keep and not drop_last else size
        ctx.put(Col(o, "f64", width, [f"{o}[{i}={k}]" for k in range(width)]))


# -- scalers ---------------------------------------------------------------------------------


@converter(StandardScalerModel, io=_io_vector)
def _standard_scaler(ctx: Ctx, stage, path: str) -> None:
    X = _vector_input(ctx, stage, path)
    mean, std = _values(stage.mean), _values(stage.std)
    require(len(std) == X.width, f"fitted on {len(std)} features, input has {X.width}", path)
    node = ctx.node(stage)
    attrs = {}
    if param(stage, "withMean"):
        attrs["mean"] = ctx.b.a_f64s(f"{node}/mean", mean)
    if param(stage, "withStd"):
        attrs["std"] = ctx.b.a_f64s(f"{node}/std", std)
    out = param(stage, "outputCol")
    ctx.b.stage("spark.standard_scaler", node, {"X": [X]}, {"Y": [out]}, attrs, doc=stage_doc(stage, path))
    ctx.put(Col(out, "f64", X.width, list(X.names)))


@converter(MinMaxScalerModel, io=_io_vector)
def _min_max_scaler(ctx: Ctx, stage, path: str) -> None:
    X = _vector_input(ctx, stage, path)
    lo, hi = _values(stage.originalMin), _values(stage.originalMax)
    require(len(lo) == X.width, f"fitted on {len(lo)} features, input has {X.width}", path)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "spark.min_max_scaler", node, {"X": [X]}, {"Y": [out]},
        {
            "original_min": ctx.b.a_f64s(f"{node}/original_min", lo),
            "original_max": ctx.b.a_f64s(f"{node}/original_max", hi),
            "min": ctx.b.a_f64(param(stage, "min")),
            "max": ctx.b.a_f64(param(stage, "max")),
        },
        doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", X.width, list(X.names)))


@converter(MaxAbsScalerModel, io=_io_vector)
def _max_abs_scaler(ctx: Ctx, stage, path: str) -> None:
    X = _vector_input(ctx, stage, path)
    m = _values(stage.maxAbs)
    require(len(m) == X.width, f"fitted on {len(m)} features, input has {X.width}", path)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "spark.max_abs_scaler", node, {"X": [X]}, {"Y": [out]},
        {"max_abs": ctx.b.a_f64s(f"{node}/max_abs", m)}, doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", X.width, list(X.names)))


# -- ImputerModel ----------------------------------------------------------------------------


@converter(ImputerModel, io=_io_in_out)
def _imputer(ctx: Ctx, stage, path: str) -> None:
    ins, outs = in_out_cols(stage)
    row = stage.surrogateDF.first()
    require(row is not None, "the imputer has no surrogates", path)
    X, surrogates = [], []
    for i in ins:
        c = ctx.get(i, path)
        require(
            c.width is None and c.dtype in ("f64", "i64"),
            f"column `{i}` is {c.dtype}; keel imputes double and integer columns",
            path,
        )
        s = row[i]
        require(s is not None and not math.isnan(float(s)), f"column `{i}` has no surrogate (all missing at fit)", path)
        X.append(c)
        surrogates.append(float(s))
    node = ctx.node(stage)
    ctx.b.stage(
        "spark.imputer", node, {"X": X}, {"Y": outs},
        {
            "surrogates": ctx.b.a_f64s(f"{node}/surrogates", surrogates),
            "missing_value": ctx.b.a_f64(param(stage, "missingValue")),
        },
        doc=stage_doc(stage, path),
    )
    for c, o in zip(X, outs):
        ctx.put(Col(o, c.dtype, None, [o]))


# -- Bucketizer, Binarizer -------------------------------------------------------------------


@converter(Bucketizer, io=_io_in_out)
def _bucketizer(ctx: Ctx, stage, path: str) -> None:
    mode = handle_invalid(stage, path)
    ins, outs = in_out_cols(stage)
    splits = param(stage, "splitsArray") if len(ins) > 1 or param(stage, "splits") is None else [param(stage, "splits")]
    require(splits is not None and len(splits) == len(ins), "splits do not match the input columns", path)
    X = []
    for i in ins:
        c = ctx.get(i, path)
        require(c.width is None and c.is_numeric and c.dtype != "bool", f"column `{i}` must hold numbers", path)
        X.append(c)
    node = ctx.node(stage)
    ctx.b.stage(
        "spark.bucketizer", node, {"X": X}, {"Y": outs},
        {
            "splits": ctx.b.a_list([{"f64s": [ctx.b.a_f64(v)["f64"] for v in s]} for s in splits]),
            "handle_invalid": ctx.b.a_str(mode),
        },
        doc=stage_doc(stage, path),
    )
    for o in outs:
        # A NULL input gives a NULL bucket.
        ctx.put(Col(o, "f64", None, [o]), nullable=True)


@converter(Binarizer, io=_io_in_out)
def _binarizer(ctx: Ctx, stage, path: str) -> None:
    ins, outs = in_out_cols(stage)
    # Spark uses `thresholds` whenever `inputCols` is set with them (one column included).
    if is_set(stage, "inputCols") and param(stage, "thresholds") is not None:
        thresholds = [float(t) for t in param(stage, "thresholds")]
    else:
        thresholds = [float(param(stage, "threshold"))] * len(ins)
    X = []
    for i in ins:
        c = ctx.get(i, path)
        require(
            c.width is not None or c.dtype == "f64",
            f"column `{i}` is {c.dtype}; Spark's Binarizer takes double or vector columns",
            path,
        )
        X.append(c)
    node = ctx.node(stage)
    ctx.b.stage(
        "spark.binarizer", node, {"X": X}, {"Y": outs},
        {"thresholds": ctx.b.a_f64s(f"{node}/thresholds", thresholds)}, doc=stage_doc(stage, path),
    )
    for c, o in zip(X, outs):
        ctx.put(Col(o, "f64", c.width, list(c.names) if c.width is not None else [o]))


# -- Normalizer, PolynomialExpansion, VectorSlicer, IndexToString, PCAModel -------------------


@converter(Normalizer, io=_io_vector)
def _normalizer(ctx: Ctx, stage, path: str) -> None:
    X = _vector_input(ctx, stage, path)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "spark.normalizer", node, {"X": [X]}, {"Y": [out]},
        {"p": ctx.b.a_f64(param(stage, "p"))}, doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", X.width, list(X.names)))


@converter(PolynomialExpansion, io=_io_vector)
def _polynomial_expansion(ctx: Ctx, stage, path: str) -> None:
    X = _vector_input(ctx, stage, path)
    degree = int(param(stage, "degree"))
    width = math.comb(X.width + degree, degree) - 1
    require(width <= 1 << 24, f"{X.width} features at degree {degree} give {width} terms", path)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "spark.polynomial_expansion", node, {"X": [X]}, {"Y": [out]},
        {"degree": ctx.b.a_i64(degree)}, doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", width, [f"poly[{i}]" for i in range(width)]))


def _attr_names(meta: dict) -> dict[str, int]:
    """Feature name -> index from a vector column's ML attribute group metadata."""
    attrs = (meta.get("ml_attr") or {}).get("attrs") or {}
    return {a["name"]: int(a["idx"]) for group in attrs.values() for a in group if "name" in a}


@converter(VectorSlicer, io=_io_vector)
def _vector_slicer(ctx: Ctx, stage, path: str) -> None:
    X = _vector_input(ctx, stage, path)
    indices = [int(i) for i in (param(stage, "indices") or [])]
    names = list(param(stage, "names") or [])
    if names:
        known = _attr_names(ctx.metadata(X.name))
        for n in names:
            require(n in known, f"feature name `{n}` is not in the metadata of column `{X.name}`", path)
        indices += [known[n] for n in names]
    require(bool(indices), "VectorSlicer selects no feature", path)
    require(all(0 <= i < X.width for i in indices), f"indices {indices} fall outside the {X.width} features", path)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    # Selection is framework-neutral arithmetic (a copy), so the generic `select` op serves.
    ctx.b.stage(
        "select", node, {"X": [X]}, {"Y": [out]},
        {"indices": ctx.b.a_i64s(f"{node}/indices", indices)}, doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", len(indices), [X.names[i] for i in indices]))


@converter(IndexToString, io=lambda s, a: ([param(s, "inputCol")], [param(s, "outputCol")]))
def _index_to_string(ctx: Ctx, stage, path: str) -> None:
    X = ctx.get(param(stage, "inputCol"), path)
    require(X.width is None and X.is_numeric, f"column `{X.name}` must hold numbers (indices)", path)
    labels = list(param(stage, "labels") or [])
    if not labels:
        # Spark then reads the nominal values attached to the input column.
        labels = list(((ctx.metadata(X.name).get("ml_attr") or {}).get("vals")) or [])
    require(bool(labels), f"no labels: set `labels`, or index `{X.name}` with a StringIndexer", path)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "spark.index_to_string", node, {"X": [X]}, {"Y": [out]},
        {"labels": ctx.b.a_list([ctx.b.a_strs(labels)])}, doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "utf8", None, [out]), nullable=True)


@converter(PCAModel, io=_io_vector)
def _pca(ctx: Ctx, stage, path: str) -> None:
    X = _vector_input(ctx, stage, path)
    pc = stage.pc.toArray()  # [n features, k components]
    require(pc.shape[0] == X.width, f"fitted on {pc.shape[0]} features, input has {X.width}", path)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "spark.pca", node, {"X": [X]}, {"Y": [out]},
        {"components": ctx.b.a_tensor(f"{node}/components", pc.T.copy())}, doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", pc.shape[1], [f"pc[{j}]" for j in range(pc.shape[1])]))
