"""Converters for more of Spark ML's fitted feature stages: RobustScalerModel (to
``spark.standard_scaler``, whose arithmetic it shares), ElementwiseProduct
(``spark.elementwise_product``), Interaction (``spark.interaction``), VectorIndexerModel
(``spark.vector_indexer``) and the three selectors ChiSqSelectorModel,
UnivariateFeatureSelectorModel and VarianceThresholdSelectorModel (the generic ``select`` op).

``QuantileDiscretizer.fit`` returns a plain ``Bucketizer``, which ``_feature`` converts.

Spark sometimes computes a different answer for the same values depending on whether a vector
happens to be stored dense or sparse (it iterates only the stored values of a sparse vector).
These converters refuse parameters under which that happens on every row, and the runtime ops
refuse the rows where it would matter (see each op's documentation), so a bundle never guesses.
"""

from __future__ import annotations

import math

from pyspark.ml.feature import (
    ChiSqSelectorModel,
    ElementwiseProduct,
    Interaction,
    OneHotEncoderModel,
    RobustScalerModel,
    UnivariateFeatureSelectorModel,
    VarianceThresholdSelectorModel,
    VectorIndexerModel,
)

from keel._bundle import Col
from keel.errors import UnsupportedError
from keel.spark._core import Ctx, _flatten, converter, handle_invalid, in_out_cols, param, require, stage_doc

# Output widths above this are refused (the runtime's limit for spark.interaction).
_MAX_WIDTH = 1 << 24


def _io_vector(stage, available):
    return [param(stage, "inputCol")], [param(stage, "outputCol")]


def _vector_input(ctx: Ctx, name: str, path: str) -> Col:
    c = ctx.get(name, path)
    require(c.width is not None, f"input column `{c.name}` must be a vector, found {c.dtype}", path)
    return c


def _values(v) -> list[float]:
    return [float(x) for x in v.toArray()]


# -- RobustScalerModel -----------------------------------------------------------------------


@converter(RobustScalerModel, io=_io_vector)
def _robust_scaler(ctx: Ctx, stage, path: str) -> None:
    """Spark's RobustScalerModel computes ``(x - median) * (1 / range)`` (``0`` for a zero
    range) through StandardScalerModel's own transform function: exactly
    ``spark.standard_scaler`` with ``mean = median`` and ``std = range``."""
    X = _vector_input(ctx, param(stage, "inputCol"), path)
    median, rng = _values(stage.median), _values(stage.range)
    require(
        len(median) == X.width and len(rng) == X.width,
        f"fitted on {len(median)} features, input has {X.width}",
        path,
    )
    centre, scale = bool(param(stage, "withCentering")), bool(param(stage, "withScaling"))
    node = ctx.node(stage)
    attrs = {}
    if centre:
        require(all(math.isfinite(v) for v in median), "a fitted median is not finite", path)
        attrs["mean"] = ctx.b.a_f64s(f"{node}/median", median)
    if scale:
        require(all(math.isfinite(v) for v in rng), "a fitted range is not finite", path)
        # 1/range overflowing to infinity would make Spark's answer depend on vector storage
        # (a stored zero gives NaN, an implicit one 0).
        require(
            all(v == 0.0 or math.isfinite(1.0 / v) for v in rng),
            "a fitted range is so small that 1/range overflows",
            path,
        )
        attrs["std"] = ctx.b.a_f64s(f"{node}/range", rng)
    out = param(stage, "outputCol")
    ctx.b.stage("spark.standard_scaler", node, {"X": [X]}, {"Y": [out]}, attrs, doc=stage_doc(stage, path))
    ctx.put(Col(out, "f64", X.width, list(X.names)))


# -- ElementwiseProduct ----------------------------------------------------------------------


@converter(ElementwiseProduct, io=_io_vector)
def _elementwise_product(ctx: Ctx, stage, path: str) -> None:
    X = _vector_input(ctx, param(stage, "inputCol"), path)
    vec = param(stage, "scalingVec")
    require(vec is not None, "scalingVec is not set", path)
    w = _values(vec)
    # Spark checks the size on every row and fails the job: refuse it once, here.
    require(len(w) == X.width, f"scalingVec has {len(w)} values, input `{X.name}` has {X.width} features", path)
    require(
        all(math.isfinite(v) for v in w),
        "scalingVec holds a non-finite value",
        path,
        "Spark multiplies only the stored values of a sparse vector, so the result would depend on storage",
    )
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "spark.elementwise_product", node, {"X": [X]}, {"Y": [out]},
        {"scaling": ctx.b.a_f64s(f"{node}/scaling", w)}, doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", X.width, list(X.names)))


# -- selectors -------------------------------------------------------------------------------


def _io_selector(stage, available):
    return [param(stage, "featuresCol")], [param(stage, "outputCol")]


@converter(ChiSqSelectorModel, UnivariateFeatureSelectorModel, VarianceThresholdSelectorModel, io=_io_selector)
def _selector(ctx: Ctx, stage, path: str) -> None:
    """A fitted selector keeps ``selectedFeatures`` (strictly increasing, as Spark requires)
    of the features vector, in that order: the generic ``select`` op."""
    X = _vector_input(ctx, param(stage, "featuresCol"), path)
    sel = [int(i) for i in stage.selectedFeatures]
    require(bool(sel), "the selector selected no feature", path, "keel has no empty vectors")
    require(all(a < b for a, b in zip(sel, sel[1:])), f"selectedFeatures {sel} are not strictly increasing", path)
    require(0 <= sel[0] and sel[-1] < X.width, f"selectedFeatures {sel} fall outside the {X.width} features", path)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "select", node, {"X": [X]}, {"Y": [out]},
        {"indices": ctx.b.a_i64s(f"{node}/indices", sel)}, doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", len(sel), [X.names[i] for i in sel]))


# -- VectorIndexerModel ----------------------------------------------------------------------


@converter(VectorIndexerModel, io=_io_vector)
def _vector_indexer(ctx: Ctx, stage, path: str) -> None:
    mode = handle_invalid(stage, path)
    X = _vector_input(ctx, param(stage, "inputCol"), path)
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
