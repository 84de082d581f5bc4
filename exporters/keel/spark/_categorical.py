"""Converters for Spark ML's categorical stages: StringIndexerModel (strings or integers to
label indices), OneHotEncoderModel (indices to one-hot vectors), IndexToString (indices back to
labels) and VectorIndexerModel (the categorical features of a vector to category indices),
each to its ``spark.*`` op (see runtime/docs/ops.md).

Spark's multi-column transformers (``inputCols``/``outputCols``) map to one node whose ``X``
port binds the input columns and whose ``Y`` port binds one output column per input; the
single-column form is the same with one column.
"""

from __future__ import annotations

from pyspark.ml.feature import IndexToString, OneHotEncoderModel, StringIndexerModel, VectorIndexerModel

from keel._bundle import Col
from keel.spark._core import (
    Ctx,
    converter,
    handle_invalid,
    in_out_cols,
    io_in_out,
    io_vector,
    param,
    require,
    stage_doc,
    vector_input,
)


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


@converter(OneHotEncoderModel, io=io_in_out)
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


# -- IndexToString ---------------------------------------------------------------------------


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


# -- VectorIndexerModel ----------------------------------------------------------------------


@converter(VectorIndexerModel, io=io_vector)
def _vector_indexer(ctx: Ctx, stage, path: str) -> None:
    mode = handle_invalid(stage, path)
    X = vector_input(ctx, param(stage, "inputCol"), path)
    n = int(stage.numFeatures)
    require(n == X.width, f"fitted on {n} features, input `{X.name}` has {X.width}", path)
    maps = stage.categoryMaps
    features: list[int] = []
    categories: list[list[float]] = []
    for f in sorted(maps):
        m = maps[f]
        require(0 <= f < n, f"categoryMaps names feature {f}, outside the {n} features", path)
        by_index = sorted((int(i), float(v)) for v, i in m.items())
        require(
            [i for i, _ in by_index] == list(range(len(m))),
            f"the category indices of feature {f} are not 0..{len(m) - 1}",
            path,
        )
        # A NaN category (fitted from NaN training values) is kept: Spark's lookup never finds
        # it, but it counts in the size that `keep` gives unknown values; the op does the same.
        values = [v for _, v in by_index]
        # Spark's sparse path never looks zeros up and keeps them at index 0.
        zero = [i for i, v in by_index if v == 0.0]
        require(not zero or zero == [0], f"feature {f} maps 0.0 to index {zero}, not 0", path,
                "Spark's answer would depend on vector storage")
        features.append(int(f))
        categories.append(values)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "spark.vector_indexer", node, {"X": [X]}, {"Y": [out]},
        {
            "features": ctx.b.a_i64s(f"{node}/features", features),
            "categories": ctx.b.a_list([{"f64s": [ctx.b.a_f64(v)["f64"] for v in c]} for c in categories]),
            "handle_invalid": ctx.b.a_str(mode),
        },
        doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", X.width, list(X.names)))
