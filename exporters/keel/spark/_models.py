"""Converters for the Spark ML predictors outside the linear and tree families:
NaiveBayesModel, every modelType (op ``spark.naive_bayes``), KMeansModel with the Euclidean or
cosine distance (``spark.kmeans``), MultilayerPerceptronClassificationModel (``spark.mlp``),
FMClassificationModel / FMRegressionModel (``spark.fm``), IsotonicRegressionModel
(``spark.isotonic``) and OneVsRestModel (its binary classifiers through their own converters,
combined by ``spark.one_vs_rest``).

The fitted numbers come from the models' Python API (coefficient matrices, intercepts,
weights, factors, boundaries: Java doubles that py4j returns unchanged). What each op computes
is described in its Rust module; the choices made here are the ones Spark makes before scoring.
"""

from __future__ import annotations

import numpy as np
from pyspark.ml.classification import (
    FMClassificationModel,
    MultilayerPerceptronClassificationModel,
    NaiveBayesModel,
    OneVsRestModel,
)
from pyspark.ml.clustering import KMeansModel
from pyspark.ml.regression import FMRegressionModel, IsotonicRegressionModel

from keel._bundle import Col
from keel.spark._core import _CONVERTERS, Ctx, converter, matrix_attr, param, require, stage_doc
from keel.spark._predictors import _features, _outputs, _predictor_io, _thresholds


# -- naive Bayes -----------------------------------------------------------------------------


@converter(NaiveBayesModel, io=_predictor_io, predictor=True)
def _naive_bayes(ctx: Ctx, stage, path: str) -> None:
    kind = param(stage, "modelType")
    require(
        kind in ("multinomial", "bernoulli", "complement", "gaussian"),
        f"NaiveBayes modelType='{kind}' is not supported",
        path,
        "supported: multinomial, bernoulli, complement, gaussian",
    )
    theta = np.asarray(stage.theta.toArray(), dtype=np.float64)
    pi = np.asarray(stage.pi.toArray(), dtype=np.float64)
    k = int(stage.numClasses)
    require(theta.shape[0] == k and pi.shape == (k,), f"pi/theta do not match {k} classes", path)
    X = _features(ctx, stage, path, theta.shape[1])
    node = ctx.node(stage)
    attrs = {
        "model_type": ctx.b.a_str(kind),
        "pi": ctx.b.a_f64s(f"{node}/pi", pi),
        "theta": matrix_attr(ctx, f"{node}/theta", theta),
    }
    if kind == "gaussian":
        sigma = np.asarray(stage.sigma.toArray(), dtype=np.float64)
        require(sigma.shape == theta.shape, f"sigma of shape {sigma.shape} for theta {theta.shape}", path)
        attrs["sigma"] = ctx.b.a_tensor(f"{node}/sigma", sigma)
    attrs.update(_thresholds(ctx, stage, node, k))
    ports = _outputs(ctx, stage, path, k, True)
    ctx.b.stage("spark.naive_bayes", node, {"X": [X]}, ports, attrs, doc=stage_doc(stage, path))


# -- k-means ---------------------------------------------------------------------------------


@converter(KMeansModel, io=_predictor_io, predictor=True)
def _kmeans(ctx: Ctx, stage, path: str) -> None:
    measure = param(stage, "distanceMeasure")
    require(measure in ("euclidean", "cosine"), f"KMeans distanceMeasure='{measure}' is not supported", path)
    centers = np.asarray([np.asarray(c, dtype=np.float64) for c in stage.clusterCenters()])
    X = _features(ctx, stage, path, centers.shape[1])
    node = ctx.node(stage)
    pred = param(stage, "predictionCol")
    require(bool(pred), "predictionCol='' leaves the model nothing to write", path)
    ctx.b.stage(
        "spark.kmeans", node, {"X": [X]}, {"prediction": [pred]},
        {"centers": ctx.b.a_tensor(f"{node}/centers", centers), "distance": ctx.b.a_str(measure)},
        doc=stage_doc(stage, path),
    )
    # Spark's k-means prediction is an integer column.
    ctx.put(Col(pred, "i32", None, [pred]))


# -- multilayer perceptron -------------------------------------------------------------------


@converter(MultilayerPerceptronClassificationModel, io=_predictor_io, predictor=True)
def _mlp(ctx: Ctx, stage, path: str) -> None:
    layers = [int(v) for v in param(stage, "layers")]
    weights = np.asarray(stage.weights.toArray(), dtype=np.float64)
    require(len(layers) >= 2, f"layers={layers} needs an input and an output layer", path)
    need = sum(a * b + b for a, b in zip(layers, layers[1:]))
    require(weights.size == need, f"{weights.size} weights for layers {layers} (need {need})", path)
    k = layers[-1]
    require(k == int(stage.numClasses), f"the output layer has {k} units for {stage.numClasses} classes", path)
    X = _features(ctx, stage, path, layers[0])
    node = ctx.node(stage)
    attrs = {
        "layers": ctx.b.a_i64s(f"{node}/layers", layers),
        "weights": ctx.b.a_f64s(f"{node}/weights", weights),
    }
    attrs.update(_thresholds(ctx, stage, node, k))
    ports = _outputs(ctx, stage, path, k, True)
    ctx.b.stage("spark.mlp", node, {"X": [X]}, ports, attrs, doc=stage_doc(stage, path))


# -- factorization machines ------------------------------------------------------------------


@converter(FMClassificationModel, FMRegressionModel, io=_predictor_io, predictor=True)
def _fm(ctx: Ctx, stage, path: str) -> None:
    classification = isinstance(stage, FMClassificationModel)
    linear = np.asarray(stage.linear.toArray(), dtype=np.float64)
    factors = np.asarray(stage.factors.toArray(), dtype=np.float64)
    n = linear.shape[0]
    require(factors.ndim == 2 and factors.shape[0] == n, f"factors of shape {factors.shape} for {n} features", path)
    if classification:
        require(int(stage.numClasses) == 2, f"an FM classifier with {stage.numClasses} classes", path)
    X = _features(ctx, stage, path, n)
    node = ctx.node(stage)
    attrs = {
        "intercept": ctx.b.a_f64(float(stage.intercept)),
        "linear": ctx.b.a_f64s(f"{node}/linear", linear),
        "factors": ctx.b.a_tensor(f"{node}/factors", factors),
        "task": ctx.b.a_str("classification" if classification else "regression"),
    }
    if classification:
        attrs.update(_thresholds(ctx, stage, node, 2))
    ports = _outputs(ctx, stage, path, 2 if classification else None, classification)
    ctx.b.stage("spark.fm", node, {"X": [X]}, ports, attrs, doc=stage_doc(stage, path))


# -- isotonic regression ---------------------------------------------------------------------


@converter(IsotonicRegressionModel, io=_predictor_io, predictor=True)
def _isotonic(ctx: Ctx, stage, path: str) -> None:
    feats = param(stage, "featuresCol")
    X = ctx.get(feats, path)
    # Spark's transformSchema accepts a double column or a vector column only.
    require(
        X.width is not None or X.dtype == "f64",
        f"featuresCol `{feats}` must be a double or a vector column, found {X.dtype}",
        path,
    )
    boundaries = np.asarray(stage.boundaries.toArray(), dtype=np.float64)
    predictions = np.asarray(stage.predictions.toArray(), dtype=np.float64)
    require(
        boundaries.size >= 1 and boundaries.size == predictions.size,
        f"{boundaries.size} boundaries for {predictions.size} predictions",
        path,
    )
    pred = param(stage, "predictionCol")
    require(bool(pred), "predictionCol='' leaves the model nothing to write", path)
    node = ctx.node(stage)
    attrs = {
        "boundaries": ctx.b.a_f64s(f"{node}/boundaries", boundaries),
        "predictions": ctx.b.a_f64s(f"{node}/predictions", predictions),
    }
    if X.width is not None:
        index = int(param(stage, "featureIndex"))
        require(0 <= index < X.width, f"featureIndex={index} is outside the vector of {X.width}", path)
        attrs["feature_index"] = ctx.b.a_i64(index)
    ctx.b.stage("spark.isotonic", node, {"X": [X]}, {"prediction": [pred]}, attrs, doc=stage_doc(stage, path))
    # A NULL double input gives a NULL prediction.
    ctx.put(Col(pred, "f64", None, [pred]), nullable=X.width is None)


# -- one-vs-rest -----------------------------------------------------------------------------


def _ovr_io(stage, available):
    reads: list[str] = []
    for m in stage.models:
        f = param(m, "featuresCol")
        if f and f not in reads:
            reads.append(f)
    return reads, [c for c in (param(stage, "rawPredictionCol"), param(stage, "predictionCol")) if c]


@converter(OneVsRestModel, io=_ovr_io, predictor=True)
def _one_vs_rest(ctx: Ctx, stage, path: str) -> None:
    raw_col = param(stage, "rawPredictionCol")
    # PySpark's transform selects this column from every classifier's output.
    require(bool(raw_col), "rawPredictionCol='' is not supported", path, "keep Spark's default rawPredictionCol")
    models = list(stage.models)
    require(len(models) >= 2, f"{len(models)} classifiers", path)
    node = ctx.node(stage)
    raws: list[Col] = []
    for i, m in enumerate(models):
        mpath = f"{path}.models[{i}]"
        conv = _CONVERTERS.get(type(m))
        require(
            conv is not None and conv.predictor and m.hasParam("rawPredictionCol"),
            f"classifier {type(m).__name__} is not supported inside OneVsRest",
            mpath,
        )
        require(int(m.numClasses) == 2, f"a classifier with {m.numClasses} classes (OneVsRest needs binary ones)", mpath)
        require(
            param(m, "rawPredictionCol") == raw_col,
            f"the classifier writes rawPredictionCol `{param(m, 'rawPredictionCol')}`, "
            f"but OneVsRest reads `{raw_col}`",
            mpath,
        )
        # Convert a copy that writes only its raw prediction, under a name of the bundle's own.
        tmp = f"{node}.raw_{i}"
        extra = {m.getParam("rawPredictionCol"): tmp, m.getParam("predictionCol"): ""}
        if m.hasParam("probabilityCol"):
            extra[m.getParam("probabilityCol")] = ""
        conv.convert(ctx, m.copy(extra), mpath)
        raws.append(ctx.get(tmp, mpath))
    k = len(models)
    ports: list[tuple[str, list[str]]] = [("raw_prediction", [raw_col])]
    ctx.put(Col(raw_col, "f64", k, [str(j) for j in range(k)]))
    pred = param(stage, "predictionCol")
    if pred:
        ports.append(("prediction", [pred]))
        ctx.put(Col(pred, "f64", None, [pred]))
    ctx.b.stage("spark.one_vs_rest", node, {"X": raws}, ports, {}, doc=stage_doc(stage, path))
