"""Converters for Spark ML's feature selection, all to the generic ``select`` op (a copy of
some features of a vector, in order): VectorSlicer (by index or by ML attribute name) and the
fitted selectors ChiSqSelectorModel, UnivariateFeatureSelectorModel and
VarianceThresholdSelectorModel (their ``selectedFeatures``)."""

from __future__ import annotations

from pyspark.ml.feature import (
    ChiSqSelectorModel,
    UnivariateFeatureSelectorModel,
    VarianceThresholdSelectorModel,
    VectorSlicer,
)

from keel._bundle import Col
from keel.spark._core import Ctx, converter, io_vector, param, require, stage_doc, vector_input


# -- VectorSlicer ----------------------------------------------------------------------------


def _attr_names(meta: dict) -> dict[str, int]:
    """Feature name -> index from a vector column's ML attribute group metadata."""
    attrs = (meta.get("ml_attr") or {}).get("attrs") or {}
    return {a["name"]: int(a["idx"]) for group in attrs.values() for a in group if "name" in a}


@converter(VectorSlicer, io=io_vector)
def _vector_slicer(ctx: Ctx, stage, path: str) -> None:
    X = vector_input(ctx, param(stage, "inputCol"), path)
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


# -- fitted selectors ------------------------------------------------------------------------


def _io_selector(stage, available):
    return [param(stage, "featuresCol")], [param(stage, "outputCol")]


@converter(ChiSqSelectorModel, UnivariateFeatureSelectorModel, VarianceThresholdSelectorModel, io=_io_selector)
def _selector(ctx: Ctx, stage, path: str) -> None:
    """A fitted selector keeps ``selectedFeatures`` (strictly increasing, as Spark requires)
    of the features vector, in that order: the generic ``select`` op."""
    X = vector_input(ctx, param(stage, "featuresCol"), path)
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
