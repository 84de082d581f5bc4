"""Converters for scikit-learn's preprocessing transformers (scalers, imputers, encoders,
discretizers, polynomial features, function transformers) and PCA."""

from __future__ import annotations

import numpy as np
from sklearn.preprocessing import StandardScaler

from keel._bundle import Col
from keel.sklearn._core import Ctx, converter, numeric, require, vector_out


@converter(StandardScaler)
def _standard_scaler(ctx: Ctx, est: StandardScaler, X: list[Col], path: str) -> list[Col]:
    names = numeric(X, path)
    node, col = ctx.b.node("standard_scaler")
    attrs = {}
    if est.with_mean:
        attrs["mean"] = ctx.b.a_f64s(f"{node}/mean", est.mean_)
    if est.with_std:
        attrs["scale"] = ctx.b.a_f64s(f"{node}/scale", est.scale_)
    ctx.b.stage("sklearn.standard_scaler", node, {"X": X}, {"Y": [col]}, attrs, doc=f"{path} (StandardScaler)")
    return [vector_out(ctx, node, names)]
