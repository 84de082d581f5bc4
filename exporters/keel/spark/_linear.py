"""Converters for Spark ML's linear predictors: LogisticRegressionModel,
LinearRegressionModel and LinearSVCModel (op ``spark.linear``) and
GeneralizedLinearRegressionModel (op ``spark.glm``, with the family and link object Spark
resolves from its parameters).

The fitted numbers come from the models' Python API (coefficient matrices, intercepts,
weights, factors, boundaries: Java doubles that py4j returns unchanged). What each op computes
is described in its Rust module; the choices made here are the ones Spark makes before scoring.
"""

from __future__ import annotations

import numpy as np
from pyspark.ml.classification import LinearSVCModel, LogisticRegressionModel
from pyspark.ml.linalg import SparseMatrix, SparseVector
from pyspark.ml.regression import GeneralizedLinearRegressionModel, LinearRegressionModel

from keel._bundle import Col
from keel.spark._core import Ctx, converter, is_set, matrix_attr, param, require, stage_doc
from keel.spark._predictors import _features, _outputs, _predictor_io, _thresholds


# -- linear models ---------------------------------------------------------------------------


@converter(LogisticRegressionModel, LinearRegressionModel, LinearSVCModel, io=_predictor_io, predictor=True)
def _linear(ctx: Ctx, stage, path: str) -> None:
    node = ctx.node(stage)
    if isinstance(stage, LogisticRegressionModel):
        stored = stage.coefficientMatrix
        coef = np.asarray(stored.toArray(), dtype=np.float64)
        intercept = np.asarray(stage.interceptVector.toArray(), dtype=np.float64)
        k = stage.numClasses
        # A binomial model keeps one row of coefficients; a multinomial one a row per class
        # (also for two classes with family="multinomial").
        binomial = coef.shape[0] == 1
        require(binomial or coef.shape[0] == k, f"{coef.shape[0]} coefficient rows for {k} classes", path)
        attrs = {"model": ctx.b.a_str("binomial" if binomial else "multinomial")}
        if binomial:
            # The Java getThreshold derives the threshold from `thresholds` when they are set,
            # as the binomial model's prediction does.
            attrs["threshold"] = ctx.b.a_f64(stage._java_obj.getThreshold())
        else:
            attrs.update(_thresholds(ctx, stage, node, k))
        n_classes, probability = (2 if binomial else k), True
    elif isinstance(stage, LinearSVCModel):
        stored = stage.coefficients
        coef = np.asarray(stored.toArray(), dtype=np.float64)[None, :]
        intercept = np.asarray([stage.intercept], dtype=np.float64)
        attrs = {"model": ctx.b.a_str("svc"), "threshold": ctx.b.a_f64(param(stage, "threshold"))}
        n_classes, probability = 2, False
    else:
        stored = stage.coefficients
        coef = np.asarray(stored.toArray(), dtype=np.float64)[None, :]
        intercept = np.asarray([stage.intercept], dtype=np.float64)
        attrs = {"model": ctx.b.a_str("regression")}
        n_classes, probability = None, False
    X = _features(ctx, stage, path, coef.shape[1])
    if isinstance(stored, (SparseMatrix, SparseVector)):
        # Spark's sparse BLAS visits only stored coefficients (a NaN feature times a zero
        # coefficient is then never computed). The runtime skips zero coefficients, which is
        # the same set when, as with `compressed` storage, no stored value is zero.
        require(bool(np.all(np.asarray(stored.values) != 0.0)), "sparse coefficients store an explicit zero", path)
        attrs["sparse"] = ctx.b.a_bool(True)
    attrs["coef"] = matrix_attr(ctx, f"{node}/coef", coef)
    attrs["intercept"] = ctx.b.a_f64s(f"{node}/intercept", intercept)
    ports = _outputs(ctx, stage, path, n_classes, probability)
    ctx.b.stage("spark.linear", node, {"X": [X]}, ports, attrs, doc=stage_doc(stage, path))


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
