"""Converters for Spark ML's other feature transformers: VectorAssembler, ImputerModel,
Bucketizer (also what ``QuantileDiscretizer.fit`` returns), Binarizer, PolynomialExpansion,
Interaction and PCAModel, each to its ``spark.*`` op (see runtime/docs/ops.md). Scalers,
selectors and categorical stages have their own modules (``_scalers``, ``_selectors``,
``_categorical``); the text stages are in ``_text``.

Spark's multi-column transformers (``inputCols``/``outputCols``) map to one node whose ``X``
port binds the input columns and whose ``Y`` port binds one output column per input; the
single-column form is the same with one column.

Spark sometimes computes a different answer for the same values depending on whether a vector
happens to be stored dense or sparse (it iterates only the stored values of a sparse vector).
These converters refuse parameters under which that happens on every row, and the runtime ops
refuse the rows where it would matter (see each op's documentation), so a bundle never guesses.
"""

from __future__ import annotations

import math

from pyspark.ml.feature import (
    Binarizer,
    Bucketizer,
    ImputerModel,
    Interaction,
    OneHotEncoderModel,
    PCAModel,
    PolynomialExpansion,
    VectorAssembler,
)

from keel._bundle import Col
from keel.errors import UnsupportedError
from keel.spark._core import (
    Ctx,
    _flatten,
    converter,
    handle_invalid,
    in_out_cols,
    io_in_out,
    io_vector,
    is_set,
    param,
    require,
    stage_doc,
    vector_input,
)

# Output widths above this are refused (the runtime's limit for spark.interaction).
_MAX_WIDTH = 1 << 24


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


# -- ImputerModel ----------------------------------------------------------------------------


@converter(ImputerModel, io=io_in_out)
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


@converter(Bucketizer, io=io_in_out)
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


@converter(Binarizer, io=io_in_out)
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


# -- PolynomialExpansion ---------------------------------------------------------------------


@converter(PolynomialExpansion, io=io_vector)
def _polynomial_expansion(ctx: Ctx, stage, path: str) -> None:
    X = vector_input(ctx, param(stage, "inputCol"), path)
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


# -- Interaction -----------------------------------------------------------------------------


def _sparse_outputs(model) -> set[str]:
    """Columns the pipeline's OneHotEncoderModels write: Spark always stores them as sparse
    vectors holding only their non-zero value."""
    out: set[str] = set()
    for s, _ in _flatten(model, ""):
        if type(s) is OneHotEncoderModel:
            out.update(in_out_cols(s)[1])
    return out


def _meta(ctx: Ctx, name: str, path: str) -> dict:
    """The ML attribute of column ``name`` as the pipeline produces it; a pipeline that Spark
    itself cannot transform (an Interaction over a vector without attributes) is refused."""
    try:
        return ctx.metadata(name).get("ml_attr") or {}
    except Exception as e:  # noqa: BLE001 - Spark's own error, reported as a refusal
        raise UnsupportedError(f"Spark cannot transform sample_df through this pipeline: {e}", path) from e


def _cardinality(attr: dict, what: str, path: str) -> int:
    """Spark's ``getNumFeatures``: a nominal attribute's number of values (at least 1), 1 for
    anything else."""
    if attr.get("type") != "nominal":
        return 1
    if "vals" in attr:
        k = len(attr["vals"])
    elif "num_vals" in attr:
        k = int(attr["num_vals"])
    else:
        require(False, f"{what} is nominal without a number of values", path, "Spark refuses it too")
    return max(1, k)


@converter(Interaction, io=lambda s, a: (list(param(s, "inputCols")), [param(s, "outputCol")]))
def _interaction(ctx: Ctx, stage, path: str) -> None:
    ins = list(param(stage, "inputCols"))
    require(len(set(ins)) == len(ins), "inputCols repeat a column", path)
    sparse = _sparse_outputs(ctx.model)
    X, cards, storage = [], [], []
    width = 1
    for name in ins:
        c = ctx.get(name, path)
        require(c.is_numeric and c.dtype != "utf8", f"column `{name}` holds strings; Interaction takes numbers", path)
        attr = _meta(ctx, name, path)
        if c.width is None:
            k = _cardinality(attr, f"column `{name}`", path)
            cards.append(k)
            storage.append("scalar")
            width *= k
        else:
            attrs = attr.get("attrs")
            require(attrs is not None, f"vector column `{name}` has no ML attributes", path,
                    "Spark's Interaction needs them (it fails at transform)")
            require(
                int(attr.get("num_attrs", -1)) == c.width,
                f"the attributes of `{name}` do not describe its {c.width} features",
                path,
            )
            nominal = attrs.get("nominal") or []
            require(
                not nominal,
                f"vector column `{name}` holds nominal features",
                path,
                "Spark one-hot encodes them only when stored, so category 0 depends on vector storage",
            )
            cards.append(1)
            storage.append("sparse" if name in sparse else "any")
            width *= c.width
        X.append(c)
        require(width <= _MAX_WIDTH, f"the interaction has more than {_MAX_WIDTH} features", path)
    out = param(stage, "outputCol")
    out_attr = _meta(ctx, out, path)
    groups = (out_attr.get("attrs") or {}).values()
    named = sorted((int(a["idx"]), a.get("name", "")) for g in groups for a in g)
    # Spark's own output metadata must agree with the width computed here.
    require(
        int(out_attr.get("num_attrs", len(named))) == width,
        f"Spark describes {out_attr.get('num_attrs')} output features, keel computes {width}",
        path,
    )
    names = [n for _, n in named] if len(named) == width else [f"{out}[{i}]" for i in range(width)]
    node = ctx.node(stage)
    ctx.b.stage(
        "spark.interaction", node, {"X": X}, {"Y": [out]},
        {"cardinalities": ctx.b.a_i64s(f"{node}/cardinalities", cards), "storage": ctx.b.a_strs(storage)},
        doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", width, names))


# -- PCAModel --------------------------------------------------------------------------------


@converter(PCAModel, io=io_vector)
def _pca(ctx: Ctx, stage, path: str) -> None:
    X = vector_input(ctx, param(stage, "inputCol"), path)
    pc = stage.pc.toArray()  # [n features, k components]
    require(pc.shape[0] == X.width, f"fitted on {pc.shape[0]} features, input has {X.width}", path)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "spark.pca", node, {"X": [X]}, {"Y": [out]},
        {"components": ctx.b.a_tensor(f"{node}/components", pc.T.copy())}, doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", pc.shape[1], [f"pc[{j}]" for j in range(pc.shape[1])]))
