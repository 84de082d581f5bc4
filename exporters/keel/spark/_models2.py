"""Converters for more Spark ML predictors: GeneralizedLinearRegressionModel (op
``spark.glm``), MultilayerPerceptronClassificationModel (``spark.mlp``), OneVsRestModel (its
binary classifiers through their own converters, combined by ``spark.one_vs_rest``),
FMClassificationModel / FMRegressionModel (``spark.fm``) and IsotonicRegressionModel
(``spark.isotonic``).

The fitted numbers come from the models' Python API (coefficients, weights, factors,
boundaries: Java doubles that py4j returns unchanged). What each op computes is described in
its Rust module; the choices made here are the ones Spark makes before scoring, such as the
family and link object a GLM resolves from its parameters.
"""

from __future__ import annotations

import numpy as np
from pyspark.ml.classification import (
    FMClassificationModel,
    MultilayerPerceptronClassificationModel,
    OneVsRestModel,
)
from pyspark.ml.regression import (
    FMRegressionModel,
    GeneralizedLinearRegressionModel,
    IsotonicRegressionModel,
)

from keel._bundle import Col
from keel.spark._core import _CONVERTERS, Ctx, converter, is_set, param, require, stage_doc
from keel.spark._models import _features, _outputs, _predictor_io, _thresholds

# -- generalized linear regression -----------------------------------------------------------

_DEFAULT_LINK = {"gaussian": "identity", "binomial": "logit", "poisson": "log", "gamma": "inverse"}
_LINKS = ("identity", "log", "inverse", "logit", "probit", "cloglog", "sqrt")


def _glm_family_and_link(stage, path: str) -> tuple[str, str, float]:
    """Spark's ``FamilyAndLink(params)``: the family object (which decides ``project``) and
    the link, with its power for ``power``."""
    family = str(param(stage, "family")).lower()
    require(
        family in ("gaussian", "binomial", "poisson", "gamma", "tweedie"),
        f"GeneralizedLinearRegression family='{family}' is not supported",
        path,
    )
    if family == "tweedie":
        vp = float(param(stage, "variancePower"))
        # Family.fromParams maps these powers to the named families (with their projections).
        fam = {0.0: "gaussian", 1.0: "poisson", 2.0: "gamma"}.get(vp, "tweedie")
        if is_set(stage, "linkPower"):
            lp = float(param(stage, "linkPower"))
            link = {0.0: "log", 1.0: "identity", -1.0: "inverse", 0.5: "sqrt"}.get(lp, "power")
            return fam, link, lp
        if fam != "tweedie":
            return fam, _DEFAULT_LINK[fam], 0.0
        # Tweedie's default link: Power(1 - variancePower).
        return fam, "power", 1.0 - vp
    if is_set(stage, "link"):
        link = str(param(stage, "link")).lower()
        require(link in _LINKS, f"GeneralizedLinearRegression link='{link}' is not supported", path)
        return family, link, 0.0
    return family, _DEFAULT_LINK[family], 0.0


def _glm_io(stage, available):
    reads = [param(stage, "featuresCol")]
    if _glm_offset(stage):
        reads.append(param(stage, "offsetCol"))
    writes = [c for c in (_glm_link_col(stage), param(stage, "predictionCol")) if c]
    return reads, writes


def _glm_offset(stage) -> str | None:
    # Spark's hasOffsetCol: set and non-empty.
    return param(stage, "offsetCol") if is_set(stage, "offsetCol") and param(stage, "offsetCol") else None


def _glm_link_col(stage) -> str | None:
    return param(stage, "linkPredictionCol") or None


@converter(GeneralizedLinearRegressionModel, io=_glm_io, predictor=True)
def _glm(ctx: Ctx, stage, path: str) -> None:
    family, link, power = _glm_family_and_link(stage, path)
    coef = np.asarray(stage.coefficients.toArray(), dtype=np.float64)
    X = _features(ctx, stage, path, coef.shape[0])
    node = ctx.node(stage)
    inputs = {"X": [X]}
    offset = _glm_offset(stage)
    if offset:
        o = ctx.get(offset, path)
        require(
            o.width is None and o.dtype in ("f64", "f32", "i64"),
            f"offsetCol `{offset}` must be a numeric column, found {o.dtype}" + (" vector" if o.width else ""),
            path,
        )
        inputs["offset"] = [o]
    ports: list[tuple[str, list[str]]] = []
    link_col, pred = _glm_link_col(stage), param(stage, "predictionCol")
    # Spark writes NULL for a NULL offset.
    if link_col:
        ports.append(("link_prediction", [link_col]))
        ctx.put(Col(link_col, "f64", None, [link_col]), nullable=bool(offset))
    if pred:
        ports.append(("prediction", [pred]))
        ctx.put(Col(pred, "f64", None, [pred]), nullable=bool(offset))
    require(bool(ports), "the model writes no column", path)
    attrs = {
        "coef": ctx.b.a_f64s(f"{node}/coef", coef),
        "intercept": ctx.b.a_f64(float(stage.intercept)),
        "family": ctx.b.a_str(family),
        "link": ctx.b.a_str(link),
    }
    if link == "power":
        attrs["link_power"] = ctx.b.a_f64(power)
    ctx.b.stage("spark.glm", node, inputs, ports, attrs, doc=stage_doc(stage, path))


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
