"""Converters for Spark ML's vector scalers: StandardScalerModel, MinMaxScalerModel,
MaxAbsScalerModel, RobustScalerModel (to ``spark.standard_scaler``, whose arithmetic it
shares), Normalizer and ElementwiseProduct, each to its ``spark.*`` op (see
runtime/docs/ops.md). Each reads a vector ``inputCol`` and writes a vector ``outputCol`` of the
same width and feature names.

Spark sometimes computes a different answer for the same values depending on whether a vector
happens to be stored dense or sparse (it iterates only the stored values of a sparse vector).
These converters refuse parameters under which that happens on every row, and the runtime ops
refuse the rows where it would matter (see each op's documentation), so a bundle never guesses.
"""

from __future__ import annotations

import math

from pyspark.ml.feature import (
    ElementwiseProduct,
    MaxAbsScalerModel,
    MinMaxScalerModel,
    Normalizer,
    RobustScalerModel,
    StandardScalerModel,
)

from keel._bundle import Col
from keel.spark._core import Ctx, converter, io_vector, param, require, stage_doc, vector_input, vector_values


# -- StandardScalerModel, MinMaxScalerModel, MaxAbsScalerModel -------------------------------


@converter(StandardScalerModel, io=io_vector)
def _standard_scaler(ctx: Ctx, stage, path: str) -> None:
    X = vector_input(ctx, param(stage, "inputCol"), path)
    mean, std = vector_values(stage.mean), vector_values(stage.std)
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


@converter(MinMaxScalerModel, io=io_vector)
def _min_max_scaler(ctx: Ctx, stage, path: str) -> None:
    X = vector_input(ctx, param(stage, "inputCol"), path)
    lo, hi = vector_values(stage.originalMin), vector_values(stage.originalMax)
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


@converter(MaxAbsScalerModel, io=io_vector)
def _max_abs_scaler(ctx: Ctx, stage, path: str) -> None:
    X = vector_input(ctx, param(stage, "inputCol"), path)
    m = vector_values(stage.maxAbs)
    require(len(m) == X.width, f"fitted on {len(m)} features, input has {X.width}", path)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "spark.max_abs_scaler", node, {"X": [X]}, {"Y": [out]},
        {"max_abs": ctx.b.a_f64s(f"{node}/max_abs", m)}, doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", X.width, list(X.names)))


# -- RobustScalerModel -----------------------------------------------------------------------


@converter(RobustScalerModel, io=io_vector)
def _robust_scaler(ctx: Ctx, stage, path: str) -> None:
    """Spark's RobustScalerModel computes ``(x - median) * (1 / range)`` (``0`` for a zero
    range) through StandardScalerModel's own transform function: exactly
    ``spark.standard_scaler`` with ``mean = median`` and ``std = range``."""
    X = vector_input(ctx, param(stage, "inputCol"), path)
    median, rng = vector_values(stage.median), vector_values(stage.range)
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


# -- Normalizer ------------------------------------------------------------------------------


@converter(Normalizer, io=io_vector)
def _normalizer(ctx: Ctx, stage, path: str) -> None:
    X = vector_input(ctx, param(stage, "inputCol"), path)
    node = ctx.node(stage)
    out = param(stage, "outputCol")
    ctx.b.stage(
        "spark.normalizer", node, {"X": [X]}, {"Y": [out]},
        {"p": ctx.b.a_f64(param(stage, "p"))}, doc=stage_doc(stage, path),
    )
    ctx.put(Col(out, "f64", X.width, list(X.names)))


# -- ElementwiseProduct ----------------------------------------------------------------------


@converter(ElementwiseProduct, io=io_vector)
def _elementwise_product(ctx: Ctx, stage, path: str) -> None:
    X = vector_input(ctx, param(stage, "inputCol"), path)
    vec = param(stage, "scalingVec")
    require(vec is not None, "scalingVec is not set", path)
    w = vector_values(vec)
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
