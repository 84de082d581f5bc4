"""Converters for scikit-learn's k-means: ``KMeans`` and ``MiniBatchKMeans`` (which share
``predict`` and ``transform``), as the ``sklearn.kmeans`` op. The bundle outputs ``label``
(``predict``, the cluster index) and ``distances`` (``transform``, the euclidean distance to
every center).

Refused: centers that are not float64 (a model fitted on float32 data, whose arithmetic
scikit-learn runs in float32). ``BisectingKMeans`` predicts by walking its tree of bisections
and is not this op.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

from keel._bundle import Col
from keel.sklearn._core import Ctx, converter, numeric, require


@converter(KMeans, MiniBatchKMeans)
def _kmeans(ctx: Ctx, est, X: list[Col], path: str) -> list[Col]:
    name = type(est).__name__
    names = numeric(X, path)
    centers = np.asarray(est.cluster_centers_)
    require(
        centers.dtype == np.float64,
        f"{name} has {centers.dtype} cluster centers; only models fitted on float64 data are supported",
        path,
        "fit on float64 input",
    )
    require(
        centers.ndim == 2 and centers.shape[1] == len(names),
        f"cluster_centers_ has shape {centers.shape} for {len(names)} input features",
        path,
    )
    k = centers.shape[0]
    node = ctx.b.unique(name.lower())
    dist_names = [str(j) for j in range(k)]
    if ctx.as_transformer:
        # Mid-pipeline scikit-learn calls `transform`: only the distances flow on.
        dist = ctx.b.column(node, "distances")
        ctx.b.stage(
            "sklearn.kmeans", node, {"X": X}, [("distances", [dist])],
            {"centers": ctx.b.a_tensor(f"{node}/centers", centers)}, doc=f"{path} ({name}, transform)",
        )
        return [Col(dist, "f64", k, dist_names)]
    label = ctx.out_name("label")
    dist = ctx.out_name("distances")
    ctx.b.stage(
        "sklearn.kmeans",
        node,
        {"X": X},
        [("label", [label]), ("distances", [dist])],
        {"centers": ctx.b.a_tensor(f"{node}/centers", centers)},
        doc=f"{path} ({name})",
    )
    return [Col(label, "i64", None, [label]), Col(dist, "f64", k, dist_names)]
